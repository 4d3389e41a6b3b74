// What the authentication tests ask of a broker: the CONNACK code a refused client got, the
// SUBACK codes refusals included, and that no log line holds a secret.
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { LogLine } from './listeners.ts';

/** The CONNACK code a refused client got (MQTT.js reports it as the error's code); throws if it connected. */
export async function refusal(url: string, options: IClientOptions): Promise<number> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  try {
    const error = await new Promise<Error & { code?: number }>((resolve, reject) => {
      client.once('error', resolve);
      client.once('connect', () => reject(new Error('connected')));
    });
    return error.code!;
  } finally {
    client.end(true);
  }
}

/** The SUBACK's codes, refusals included (MQTT.js rejects a v5 SUBACK holding one). */
export async function granted(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (error) {
    const packet = (error as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw error;
    return packet.granted;
  }
}

/** The v5 PUBACK reason code of a QoS 1 publish (0 when accepted). */
export async function pubackCode(client: MqttClient, topic: string): Promise<number> {
  try {
    const packet = await client.publishAsync(topic, 'x', { qos: 1 });
    return (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === undefined) throw error;
    return code;
  }
}

/** No captured log line holds any of the secrets, whole or as a long enough piece. */
export function assertNoSecretLogged(lines: readonly LogLine[], secrets: readonly string[]): void {
  const text = JSON.stringify(lines);
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), 'a secret was logged');
    // A token's signature alone (its last part) is a secret too.
    const tail = secret.split('.').at(-1)!;
    if (tail.length >= 16) assert.ok(!text.includes(tail), 'part of a token was logged');
  }
}
