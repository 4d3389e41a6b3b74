// Calls to a node's operations API (/api/v1), as an operator's script would make them.
export interface AdminReply {
  status: number;
  headers: Headers;
  body: any; // JSON as the API returns it
}

export class AdminClient {
  readonly httpPort: number;
  readonly token: string | undefined;

  constructor(httpPort: number, token: string | undefined) {
    this.httpPort = httpPort;
    this.token = token;
  }

  /** `path` after the host, e.g. `/api/v1/clients?limit=2`; `authorization` overrides the Bearer header. */
  async call(method: string, path: string, authorization?: string): Promise<AdminReply> {
    const headers: Record<string, string> = {};
    const auth = authorization ?? (this.token === undefined ? undefined : `Bearer ${this.token}`);
    if (auth !== undefined) headers.authorization = auth;
    const response = await fetch(`http://127.0.0.1:${this.httpPort}${path}`, { method, headers });
    const text = await response.text();
    let body: unknown = text;
    if (response.headers.get('content-type')?.startsWith('application/json')) body = JSON.parse(text);
    return { status: response.status, headers: response.headers, body };
  }

  get(path: string): Promise<AdminReply> {
    return this.call('GET', path);
  }

  delete(path: string): Promise<AdminReply> {
    return this.call('DELETE', path);
  }

  /** Every page of `/api/v1/clients` with these parameters, following `next`; the pages too. */
  async allClients(params: Record<string, string>): Promise<{ clients: any[]; pages: number[] }> {
    const clients: unknown[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams(cursor === null ? params : { ...params, cursor });
      const reply = await this.get(`/api/v1/clients?${query}`);
      if (reply.status !== 200) throw new Error(`GET /api/v1/clients: ${reply.status} ${JSON.stringify(reply.body)}`);
      clients.push(...reply.body.clients);
      pages.push(reply.body.clients.length);
      cursor = reply.body.next;
      if (pages.length > 100) throw new Error('more than 100 pages: the cursor does not advance');
    } while (cursor !== null);
    return { clients, pages };
  }
}
