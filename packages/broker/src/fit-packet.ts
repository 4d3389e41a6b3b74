import { generate, type Packet } from 'mqtt-packet';
import type { ProtocolVersion } from '@roost/protocol';

/** What the server may leave out of a packet, in the order it does so (MQTT 5 3.2.2.3.9, 3.4.2.2.2 and siblings). */
const OPTIONAL_PROPERTIES = ['reasonString', 'userProperties'] as const;

/**
 * The packet's encoding within the client's Maximum Packet Size [MQTT-3.1.2-24], or undefined
 * when it cannot fit. A Reason String, then User Properties, are left out rather than make the
 * packet too large; the packet is changed in place, so what is counted is what is sent.
 */
export function encodeWithin(packet: Packet, version: ProtocolVersion, limit: number): Buffer | undefined {
  let data = generate(packet, { protocolVersion: version });
  const properties = (packet as { properties?: Record<string, unknown> }).properties;
  for (const name of OPTIONAL_PROPERTIES) {
    if (data.length <= limit) return data;
    if (properties?.[name] === undefined) continue;
    delete properties[name];
    data = generate(packet, { protocolVersion: version });
  }
  return data.length <= limit ? data : undefined;
}
