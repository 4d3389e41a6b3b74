// The client's side of SCRAM (RFC 5802), written for the tests on node:crypto alone, so the
// broker is driven as a real client drives it; the server's own code is checked against RFC
// 7677's example and Python in packages/auth/test/scram.test.ts.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IAuthPacket } from 'mqtt-packet';

export type Mechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export class ScramClient {
  readonly mechanism: Mechanism;
  private readonly user: string;
  private readonly password: string;
  private readonly nonce = randomBytes(18).toString('base64');
  private authMessage = '';
  private serverKey: Buffer | undefined;

  constructor(mechanism: Mechanism, user: string, password: string) {
    this.mechanism = mechanism;
    this.user = user;
    this.password = password;
  }

  private get hash(): 'sha256' | 'sha512' {
    return this.mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512';
  }

  private get bare(): string {
    return `n=${this.user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${this.nonce}`;
  }

  first(): Buffer {
    return Buffer.from(`n,,${this.bare}`);
  }

  /** client-final-message for the server's first message (ASCII passwords: SASLprep changes none). */
  final(serverFirst: Buffer): Buffer {
    const text = serverFirst.toString();
    const fields = Object.fromEntries(text.split(',').map((part) => [part[0], part.slice(2)]));
    if (!fields.r?.startsWith(this.nonce)) throw new Error(`server nonce does not extend ours: ${text}`);
    const bytes = this.hash === 'sha256' ? 32 : 64;
    const salted = pbkdf2Sync(this.password, Buffer.from(fields.s!, 'base64'), Number(fields.i), bytes, this.hash);
    const clientKey = createHmac(this.hash, salted).update('Client Key').digest();
    const storedKey = createHash(this.hash).update(clientKey).digest();
    const withoutProof = `c=biws,r=${fields.r}`;
    this.authMessage = `${this.bare},${text},${withoutProof}`;
    const signature = createHmac(this.hash, storedKey).update(this.authMessage).digest();
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
    this.serverKey = createHmac(this.hash, salted).update('Server Key').digest();
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }

  /** Whether server-final-message proves the server holds the user's ServerKey. */
  verify(serverFinal: Buffer | undefined): boolean {
    if (this.serverKey === undefined || serverFinal === undefined) return false;
    const expected = Buffer.from(`v=${createHmac(this.hash, this.serverKey).update(this.authMessage).digest('base64')}`);
    return expected.length === serverFinal.length && timingSafeEqual(expected, serverFinal);
  }
}

/**
 * MQTT.js set up for SCRAM: the CONNECT carries client-first-message, `handleAuth` answers the
 * server's challenge. Resolves with the client and whether CONNACK's server-final verified;
 * rejects with MQTT.js's error (its `code` the CONNACK reason code) when refused.
 */
export async function scramConnect(url: string, scram: ScramClient, options: IClientOptions = {}): Promise<{ client: MqttClient; serverVerified: boolean }> {
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
    properties: { ...options.properties, authenticationMethod: scram.mechanism, authenticationData: scram.first() },
  });
  client.handleAuth = (packet: IAuthPacket, callback: (error?: Error, packet?: IAuthPacket) => void) => {
    if (packet.reasonCode !== 0x18) return callback();
    const data = scram.final(packet.properties!.authenticationData!);
    callback(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: scram.mechanism, authenticationData: data } });
  };
  try {
    const connack = await new Promise<{ properties?: { authenticationData?: Buffer } }>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
      client.once('close', () => reject(new Error('closed before CONNACK')));
    });
    return { client, serverVerified: scram.verify(connack.properties?.authenticationData) };
  } catch (error) {
    client.end(true);
    throw error;
  }
}

/** The CONNACK reason code of a refused SCRAM login; throws if it got in. */
export async function scramRefusal(url: string, scram: ScramClient, options: IClientOptions = {}): Promise<number> {
  try {
    const { client } = await scramConnect(url, scram, options);
    client.end(true);
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code !== undefined) return code;
    throw error;
  }
  throw new Error('connected');
}
