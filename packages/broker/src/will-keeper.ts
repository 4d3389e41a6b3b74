import type { Message } from '@roost/protocol';
import type { Will } from './channel.ts';
import { KeyedTimers } from './timers.ts';

/**
 * Wills waiting on their delay (MQTT 5 3.1.3.2.2): published when the delay passes or the
 * session ends, whichever comes first; a reconnect in time cancels them [MQTT-3.1.3-9].
 */
export class WillKeeper {
  private readonly timers = new KeyedTimers();
  private readonly waiting = new Map<string, Will>();
  private readonly publish: (message: Message) => void;

  constructor(publish: (message: Message) => void) {
    this.publish = publish;
  }

  /** Publishes now when the delay is 0, else later. */
  schedule(clientId: string, will: Will, delaySeconds: number): void {
    if (delaySeconds === 0) {
      this.publishNow(will);
      return;
    }
    this.waiting.set(clientId, will);
    this.timers.set(clientId, delaySeconds * 1000, () => {
      this.waiting.delete(clientId);
      this.publishNow(will);
    });
  }

  cancel(clientId: string): void {
    this.timers.cancel(clientId);
    this.waiting.delete(clientId);
  }

  /** The session ended: a will still waiting goes out now. */
  flush(clientId: string): void {
    const will = this.waiting.get(clientId);
    if (!will) return;
    this.cancel(clientId);
    this.publishNow(will);
  }

  clear(): void {
    this.timers.clear();
    this.waiting.clear();
  }

  private publishNow(will: Will): void {
    const message: Message = { ...will.message };
    // The expiry of a will counts from its publication, not from CONNECT.
    if (will.expirySeconds !== undefined) message.expiresAt = Date.now() + will.expirySeconds * 1000;
    this.publish(message);
  }
}
