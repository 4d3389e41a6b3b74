import { ClientPermissions } from './authorizer.ts';

/**
 * The permissions of each gone client whose will is still due: a will is authorized as a
 * publish of its client when it is published, perhaps after a delay. A will whose client's
 * permissions this node does not have (its session came from another node) is published
 * only when no rules are configured.
 */
export class WillPermissions {
  private readonly byClient = new Map<string, ClientPermissions>();
  private readonly rulesConfigured: boolean;

  constructor(rulesConfigured: boolean) {
    this.rulesConfigured = rulesConfigured;
  }

  /** A connection closed: its permissions are kept while it has a will. */
  closed(clientId: string, hasWill: boolean, permissions: ClientPermissions | undefined): void {
    if (hasWill && permissions) this.byClient.set(clientId, permissions);
    else if (clientId) this.byClient.delete(clientId);
  }

  /** Whether `origin`'s will may go to `topic`, with the permissions that decided; forgets them. */
  take(origin: string, topic: string): { allowed: boolean; permissions: ClientPermissions | undefined } {
    const permissions = this.byClient.get(origin);
    this.byClient.delete(origin);
    if (permissions) return { allowed: permissions.canPublish(topic), permissions };
    if (this.rulesConfigured) return { allowed: false, permissions };
    return { allowed: new ClientPermissions({ clientId: '', username: undefined, provider: 'none' }).canPublish(topic), permissions };
  }
}
