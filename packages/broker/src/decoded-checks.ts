import type { Packet } from 'mqtt-packet';

/**
 * What mqtt-packet decodes without complaint but the spec calls malformed or a protocol error.
 * These read the decoded packet only: mqtt-packet stays the one codec.
 */

// The codec decodes ill-formed UTF-8 to U+FFFD instead of failing; that and U+0000 make a
// string malformed [MQTT-1.5.4-1], [MQTT-1.5.4-2].
const MALFORMED_CHARACTERS = /[\u0000\uFFFD]/;

export function hasMalformedCharacters(text: string): boolean {
  return MALFORMED_CHARACTERS.test(text);
}

/**
 * The name of a property the packet carries more than once, a Protocol Error for every
 * property but User Property (MQTT 5 2.2.2.2). The codec turns a repeat into an array, which
 * is what this finds; User Property decodes to an object, so it is never reported. A repeat
 * whose first value is falsy (0, false) the codec silently overwrites, out of our reach.
 */
export function repeatedProperty(packet: Packet): string | undefined {
  const found = repeatedIn('properties' in packet ? packet.properties : undefined);
  if (found !== undefined || packet.cmd !== 'connect') return found;
  return repeatedIn(packet.will?.properties);
}

function repeatedIn(properties: object | undefined): string | undefined {
  if (!properties) return undefined;
  return Object.entries(properties).find(([, value]) => Array.isArray(value))?.[0];
}

const WITH_PACKET_ID = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'unsubscribe']);

/**
 * Whether a packet that must carry a packet identifier is too short to hold one. The codec
 * then reports the id as -1, or, for SUBSCRIBE, reads it from the bytes after the packet; an
 * answer would carry that id (an ack with a Remaining Length and no body, on the wire).
 */
export function lacksPacketId(packet: Packet): boolean {
  if (!WITH_PACKET_ID.has(packet.cmd) && !(packet.cmd === 'publish' && packet.qos > 0)) return false;
  const id = (packet as { messageId?: number }).messageId;
  // `length` is absent on packets built in code, not decoded: those carry what they were given.
  return typeof id !== 'number' || id < 0 || (packet.cmd !== 'publish' && packet.length !== undefined && packet.length < 2);
}

// String-valued properties a client may send (MQTT 5 2.2.2.2); each must be well-formed UTF-8.
const STRING_PROPERTIES = ['contentType', 'responseTopic', 'reasonString', 'authenticationMethod'] as const;

/**
 * Why a property of the packet is malformed, if one is: a User Property the codec could not
 * read whole (it decodes a name or value cut short as null instead of failing), or a string
 * property with ill-formed UTF-8 [MQTT-1.5.4-1]. Such a packet is a Malformed Packet; passed
 * on, a null value made the codec throw while encoding the message for its subscribers.
 */
export function malformedProperty(packet: Packet): string | undefined {
  const found = malformedIn('properties' in packet ? packet.properties : undefined);
  if (found !== undefined || packet.cmd !== 'connect') return found;
  return malformedIn(packet.will?.properties);
}

function malformedIn(properties: Record<string, unknown> | undefined): string | undefined {
  if (!properties) return undefined;
  for (const name in properties) {
    if (properties[name] === null) return `property ${name} is cut short`;
  }
  for (const name of STRING_PROPERTIES) {
    const value = properties[name];
    if (typeof value === 'string' && MALFORMED_CHARACTERS.test(value)) return `${name} is not valid UTF-8`;
  }
  const user = properties.userProperties;
  if (user === undefined) return undefined;
  if (typeof user !== 'object' || user === null) return 'user property is malformed';
  for (const [name, value] of Object.entries(user)) {
    if (MALFORMED_CHARACTERS.test(name)) return 'user property name is not valid UTF-8';
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item !== 'string') return `user property ${JSON.stringify(name)} has no readable value`;
      if (MALFORMED_CHARACTERS.test(item)) return `user property ${JSON.stringify(name)} is not valid UTF-8`;
    }
  }
  return undefined;
}
