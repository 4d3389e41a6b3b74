// Every packet the bench sends, encoded once with mqtt-packet's generate(). Hot paths copy a
// template and patch the packet id (and the payload's timestamp) in place; nothing is
// re-encoded per message. MQTT 3.1.1 throughout: every broker under comparison speaks it.
import { generate } from 'mqtt-packet';
import { PAYLOAD_HEADER_BYTES } from './payload.ts';

export const PROTOCOL_VERSION = 4;
export type QoS = 0 | 1 | 2;

/** A user name and password for every CONNECT (--username, --password). */
export interface Credentials {
  username?: string;
  password?: string;
}

/** Keep alive 0 by default: a bench connection never idles into a timeout, and sends no PINGREQ. */
export function connectPacket(clientId: string, clean: boolean, keepAliveS = 0, credentials: Credentials = {}): Buffer {
  const login = {
    ...(credentials.username !== undefined ? { username: credentials.username } : {}),
    ...(credentials.password !== undefined ? { password: Buffer.from(credentials.password) } : {}),
  };
  return generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: PROTOCOL_VERSION, clientId, clean, keepalive: keepAliveS, ...login });
}

export function subscribePacket(messageId: number, filter: string, qos: QoS): Buffer {
  return generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos }] });
}

export const DISCONNECT = generate({ cmd: 'disconnect' });

/** A PUBLISH encoded once; `packetIdOffset` is -1 at QoS 0 (no packet id on the wire). */
export interface PublishTemplate {
  readonly bytes: Buffer;
  readonly payloadOffset: number;
  readonly packetIdOffset: number;
  /** Whether the payload has room for the bench header (an empty retained payload, which clears, has not). */
  readonly stamped: boolean;
}

export function publishTemplate(topic: string, payload: Buffer, qos: QoS, retain = false): PublishTemplate {
  const bytes = generate({ cmd: 'publish', topic, payload, qos, retain, dup: false, messageId: qos > 0 ? 1 : undefined });
  // v3.1.1 PUBLISH: fixed header, topic, [packet id], payload: the payload is the tail and
  // the packet id the two bytes before it.
  const payloadOffset = bytes.length - payload.length;
  return { bytes, payloadOffset, packetIdOffset: qos > 0 ? payloadOffset - 2 : -1, stamped: payload.length >= PAYLOAD_HEADER_BYTES };
}

export type AckKind = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

/** A four-byte ack whose packet id (bytes 2-3) is patched per use. */
export function ackTemplate(kind: AckKind): Buffer {
  return generate({ cmd: kind, messageId: 1 });
}

/**
 * Acks for `ids` in one buffer (one socket write per batch of received packets).
 */
export function acksFor(template: Buffer, ids: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(ids.length * 4);
  for (let i = 0; i < ids.length; i++) {
    template.copy(out, i * 4);
    out.writeUInt16BE(ids[i]!, i * 4 + 2);
  }
  return out;
}
