import { ReasonCode } from '@roost/protocol';
import type { AuthDecision, AuthExchange, Authenticator, Credentials } from './authenticator.ts';
import type { Connection } from './connection.ts';
import type { Logger } from './options.ts';

/**
 * Puts each connection's credentials to the Authenticator and hands its decisions, now or
 * later, to the connection. An enhanced authentication's exchange under way is kept here, one
 * per connection, until the client's next AUTH: neither the channel nor the connection holds
 * the provider's state. A closed connection's exchange goes with it (a weak map).
 */
export class AuthExchanges {
  private readonly authenticator: Authenticator;
  private readonly log: Logger;
  private readonly exchanges = new WeakMap<Connection, AuthExchange>();

  constructor(authenticator: Authenticator, log: Logger) {
    this.authenticator = authenticator;
    this.log = log;
  }

  /** A CONNECT, or a re-authentication's AUTH 0x19. */
  start(connection: Connection, credentials: Credentials): void {
    this.exchanges.delete(connection);
    this.settle(connection, () => this.authenticator.authenticate(credentials));
  }

  /** The client's next AUTH 0x18 of the exchange under way (the channel lets only such an AUTH through). */
  continue(connection: Connection, data: Buffer | undefined): void {
    const exchange = this.exchanges.get(connection);
    this.exchanges.delete(connection);
    if (exchange === undefined) {
      connection.authenticated({ outcome: 'deny', reasonCode: ReasonCode.ProtocolError, reason: 'no authentication exchange under way' });
      return;
    }
    this.settle(connection, () => exchange.next(data));
  }

  private settle(connection: Connection, decide: () => AuthDecision | Promise<AuthDecision>): void {
    const failed = (error: unknown) => {
      this.log.error({ err: error, clientId: connection.clientId }, 'authentication failed');
      connection.authenticated({ outcome: 'deny', reasonCode: ReasonCode.ServerUnavailable, reason: 'authentication unavailable' });
    };
    const decided = (decision: AuthDecision) => {
      if (decision.outcome === 'continue' && !connection.closed) this.exchanges.set(connection, decision.exchange);
      connection.authenticated(decision);
    };
    try {
      const decision = decide();
      if (decision instanceof Promise) decision.then(decided, failed);
      else decided(decision);
    } catch (error) {
      failed(error);
    }
  }
}
