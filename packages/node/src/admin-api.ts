// The operations API (/api/v1) on the HTTP port: a thin router over the broker's ClientAdmin
// port. Every answer is JSON; every error is { error, status }.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  HolderUnavailableError,
  type ClientAdmin,
  type ClientView,
  type ListPosition,
  type Logger,
  type UndescribedClient,
} from '@roost/broker';
import { PeerUnavailableError, StoreUnavailableError } from '@roost/protocol';

export interface AdminApiOptions {
  token: string;
  /** Undefined while the broker is being created. */
  admin: () => ClientAdmin | undefined;
  log: Logger;
}

export type AdminApi = (req: IncomingMessage, res: ServerResponse) => void;

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** A request the router refuses, with its status and a message for the operator. */
class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

interface Route {
  /** Path segments after /api/v1; `:id` matches one segment, percent-decoded. */
  pattern: string[];
  methods: Record<string, (admin: ClientAdmin, request: AdminRequest) => Promise<unknown>>;
}

interface AdminRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  log: Logger;
}

const ROUTES: Route[] = [
  { pattern: ['nodes'], methods: { GET: listNodes } },
  { pattern: ['clients'], methods: { GET: listClients } },
  { pattern: ['clients', ':id'], methods: { GET: describeClient, DELETE: kickClient } },
];

export function createAdminApi(options: AdminApiOptions): AdminApi {
  const expected = digest(options.token);
  return (req, res) => {
    void handle(req, expected, options).then(
      (body) => send(res, 200, body),
      (error: unknown) => {
        if (error instanceof HttpError) return send(res, error.status, { error: error.message, status: error.status }, error.headers);
        const message = unavailable(error);
        const status = message === undefined ? 500 : 503;
        if (status === 500) options.log.error({ err: error, method: req.method, path: pathOf(req) }, 'admin API request failed');
        else options.log.warn({ err: error, method: req.method, path: pathOf(req) }, 'admin API: cluster state unavailable');
        send(res, status, { error: message ?? 'internal error', status });
      },
    );
  };
}

async function handle(req: IncomingMessage, expected: Buffer, options: AdminApiOptions): Promise<unknown> {
  // Before routing: without the token, no path, method or parameter is told apart.
  if (!authorized(req.headers.authorization, expected)) {
    options.log.debug({ method: req.method, path: pathOf(req), remote: req.socket.remoteAddress }, 'admin API: unauthorized');
    throw new HttpError(401, 'unauthorized', { 'www-authenticate': 'Bearer' });
  }
  // The raw path, not WHATWG URL's: that would resolve "%2E%2E" as "..", and a client id may be "..".
  const [path = '/', search = ''] = (req.url ?? '/').split(/\?(.*)/s);
  const [, api, version, ...segments] = path.split('/');
  if (api !== 'api' || version !== 'v1') throw new HttpError(404, 'not found');
  const { route, params } = match(segments);
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const handler = route.methods[method];
  if (!handler) {
    const allow = Object.keys(route.methods).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ');
    throw new HttpError(405, `${req.method} is not allowed here; use ${allow}`, { allow });
  }
  const admin = options.admin();
  if (!admin) throw new HttpError(503, 'starting');
  return handler(admin, { params, query: new URLSearchParams(search), log: options.log });
}

function match(segments: string[]): { route: Route; params: Record<string, string> } {
  for (const route of ROUTES) {
    if (route.pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matched = route.pattern.every((part, i) => {
      if (!part.startsWith(':')) return part === segments[i];
      if (segments[i] === '') return false;
      params[part.slice(1)] = decodeSegment(segments[i]!);
      return true;
    });
    if (matched) return { route, params };
  }
  throw new HttpError(404, 'not found');
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // fall through
  }
  throw new HttpError(400, 'the client id in the path is not a percent-encoded UTF-8 string');
}

/** Both sides hashed first, so the comparison takes the same time whatever the lengths. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
  return given !== undefined && timingSafeEqual(digest(given), expected);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

// ---- handlers ----

async function listNodes(admin: ClientAdmin, request: AdminRequest): Promise<unknown> {
  allowOnly(request.query, []);
  return { nodes: await admin.nodes() };
}

async function listClients(admin: ClientAdmin, request: AdminRequest): Promise<unknown> {
  const { query } = request;
  allowOnly(query, ['limit', 'cursor', 'prefix', 'username']);
  const limit = parseLimit(query.get('limit'));
  const cursor = query.get('cursor');
  const after = cursor === null ? undefined : decodeCursor(cursor);
  const prefix = query.get('prefix') ?? undefined;
  const username = query.get('username') ?? undefined;
  const page = await admin.clients({ limit, after, prefix, username });
  return { clients: page.clients.map(render), next: page.next ? encodeCursor(page.next) : null };
}

async function describeClient(admin: ClientAdmin, request: AdminRequest): Promise<unknown> {
  allowOnly(request.query, []);
  const clientId = request.params.id!;
  const view = await admin.client(clientId);
  if (!view) throw new HttpError(404, `no client ${JSON.stringify(clientId)}`);
  return render(view);
}

async function kickClient(admin: ClientAdmin, request: AdminRequest): Promise<unknown> {
  allowOnly(request.query, ['session']);
  const session = request.query.get('session');
  if (session !== null && session !== 'true' && session !== 'false') throw new HttpError(400, 'session must be true or false');
  const clientId = request.params.id!;
  const outcome = await admin.kick(clientId, session === 'true');
  if (!outcome.found) throw new HttpError(404, `no client ${JSON.stringify(clientId)}`);
  request.log.info({ clientId, holder: outcome.node, disconnected: outcome.disconnected, sessionDiscarded: outcome.sessionDiscarded }, 'admin API: client kicked');
  return { clientId, node: outcome.node ?? null, disconnected: outcome.disconnected, sessionDiscarded: outcome.sessionDiscarded };
}

// ---- parameters and bodies ----

function allowOnly(query: URLSearchParams, names: string[]): void {
  for (const name of new Set(query.keys())) {
    if (!names.includes(name)) throw new HttpError(400, `unknown parameter ${JSON.stringify(name)}${names.length > 0 ? `; known: ${names.join(', ')}` : ''}`);
    if (query.getAll(name).length > 1) throw new HttpError(400, `parameter ${name} given more than once`);
  }
}

function parseLimit(raw: string | null): number {
  if (raw === null) return DEFAULT_LIMIT;
  const limit = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new HttpError(400, `limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

/** Opaque to callers: base64url of [node id, client id]. */
function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify([position.nodeId, position.clientId])).toString('base64url');
}

function decodeCursor(cursor: string): ListPosition {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && parsed.every((part) => typeof part === 'string')) {
      return { nodeId: parsed[0] as string, clientId: parsed[1] as string };
    }
  } catch {
    // fall through
  }
  throw new HttpError(400, 'cursor is not one this API returned (pass a page\'s "next" unchanged)');
}

/** Times as ISO 8601 for people; everything else as the broker gives it. */
function render(view: ClientView | UndescribedClient): unknown {
  if (!('connected' in view)) return { ...view };
  const { connectedAt, disconnectedAt, node, ...rest } = view;
  return {
    ...rest,
    node: node ?? null,
    ...(connectedAt !== undefined ? { connectedAt: new Date(connectedAt).toISOString() } : {}),
    ...(disconnectedAt !== undefined ? { disconnectedAt: new Date(disconnectedAt).toISOString() } : {}),
  };
}

/** What to tell the operator when a part of the cluster did not answer; undefined for a bug. */
function unavailable(error: unknown): string | undefined {
  if (error instanceof StoreUnavailableError) return 'cluster state in Redis unavailable; try again';
  if (error instanceof PeerUnavailableError) return `node ${error.nodeId} did not answer; try again`;
  if (error instanceof HolderUnavailableError) return error.message;
  return undefined;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(`${JSON.stringify(body)}\n`);
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}
