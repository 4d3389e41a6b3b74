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
