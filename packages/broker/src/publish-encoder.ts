import { generate, type IPublishPacket } from 'mqtt-packet';
import type { Message, ProtocolVersion } from '@roost/protocol';

/**
 * Encodes a PUBLISH once per message and wire variant, and reuses the bytes for every
 * subscriber that gets the same variant: with fan-out, encoding per subscriber was the
 * broker's largest cost. A variant is (protocol version, QoS, retain flag); QoS 1/2 copies
 * get their own Packet Identifier patched into a copy of the shared bytes.
 *
 * Only packets with nothing per subscriber are shared: no subscription identifiers, no topic
 * alias, no DUP, and no Message Expiry Interval (its remaining seconds change as time passes).
 * The caller decides that, and passes `shareable`.
 *
 * The encodings hang off the message under a symbol: as cheap as encoding once when there is
 * a single subscriber (a WeakMap doubled that cost), and gone with the message.
 */
const ENCODED = Symbol('roost.encoded');

interface EncodedMessage extends Message {
  [ENCODED]?: Array<Buffer | undefined>;
}

function variant(version: ProtocolVersion, qos: number, retain: boolean): number {
  return ((version - 3) * 3 + qos) * 2 + (retain ? 1 : 0);
}

/** Bytes taken by the Remaining Length varint that starts at offset 1 (MQTT 2.1.4). */
function lengthFieldSize(bytes: Buffer): number {
  let size = 1;
  while ((bytes[size]! & 0x80) !== 0) size++;
  return size;
}

export function encodePublish(packet: IPublishPacket, message: Message, version: ProtocolVersion, shareable: boolean): Buffer {
  if (!shareable) return generate(packet, { protocolVersion: version });
  const variants = ((message as EncodedMessage)[ENCODED] ??= []);
  const key = variant(version, packet.qos, packet.retain);
  let bytes = variants[key];
  if (!bytes) {
    bytes = generate(packet, { protocolVersion: version });
    variants[key] = bytes;
  }
  if (packet.qos === 0 || packet.messageId === undefined) return bytes;
  // The Packet Identifier follows the topic name: fixed header, 2-byte length, topic (3.3.2).
  const copy = Buffer.allocUnsafe(bytes.length);
  bytes.copy(copy);
  const offset = 1 + lengthFieldSize(bytes) + 2 + Buffer.byteLength(packet.topic);
  copy.writeUInt16BE(packet.messageId, offset);
  return copy;
}
