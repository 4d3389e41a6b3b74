// Malformed and protocol-violating input: each closes the offending connection and nothing
// else. A healthy MQTT.js client stays connected through every case and must keep
// publishing and receiving afterwards, and the broker must keep accepting new clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generate, type IDisconnectPacket, type Packet } from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { ConnackReturnCode, ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { RawClient, isAccepted, serverClose, variableHeaderOffset } from '../helpers/raw-client.ts';

type Version = 4 | 5;
const VERSIONS = [4, 5] as const;
const MAX_PACKET_SIZE = 1024;

let server: TestBroker;
let healthy: MqttClient;
let healthyInbox: Inbox;
let healthyClosed = false;
const healthyPrefix = unique('healthy');

before(async () => {
  server = await startBroker({ maxPacketSize: MAX_PACKET_SIZE });
  healthy = await connect(server.url, { protocolVersion: 5, clientId: unique('healthy') });
  healthy.on('close', () => (healthyClosed = true));
  healthyInbox = new Inbox(healthy);
  await healthy.subscribeAsync(`${healthyPrefix}/#`, { qos: 1 });
});

after(async () => {
  await end(healthy);
  await server.stop();
});

let probes = 0;

/** The healthy client still round-trips a QoS 1 message, and fresh v3.1.1 and v5 clients get in. */
async function assertOthersUnaffected(): Promise<void> {
  assert.equal(healthyClosed, false, 'the healthy client was disconnected');
  probes++;
  const own = `${healthyPrefix}/own/${probes}`;
  await healthy.publishAsync(own, `probe ${probes}`, { qos: 1 });
  await healthyInbox.untilTopic(own);
  for (const protocolVersion of VERSIONS) {
    const fresh = await connect(server.url, { protocolVersion });
    const inbox = new Inbox(fresh);
    const topic = `${healthyPrefix}/fresh/${probes}/${protocolVersion}`;
    await fresh.subscribeAsync(topic, { qos: 1 });
    await healthy.publishAsync(topic, 'still serving', { qos: 1 });
    await inbox.untilTopic(topic);
    await end(fresh);
  }
}

/** Runs one violation: it must count exactly one protocol error and leave everyone else alone. */
async function violation(run: () => Promise<void>): Promise<void> {
  const errorsBefore = server.broker.stats.protocolErrors;
  await run();
  assert.equal(server.broker.stats.protocolErrors, errorsBefore + 1, 'stats.protocolErrors counts the violation');
  await assertOthersUnaffected();
}

function encode(packet: Packet, version: Version): Buffer {
  return generate(packet, { protocolVersion: version });
}

/** A packet from its first byte and body, for bytes the codec will not produce (body < 128 bytes). */
function packetBytes(firstByte: number, body: number[]): Buffer {
  assert.ok(body.length < 128, 'one-byte Remaining Length only');
  return Buffer.from([firstByte, body.length, ...body]);
}

/** A length-prefixed string field from raw bytes, which need not be valid UTF-8. */
function stringField(bytes: number[] | Buffer): number[] {
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
}

const PUBLISH_QOS0 = 0x30;
const SUBSCRIBE = 0x82;
const UNSUBSCRIBE = 0xa2;
const INVALID_UTF8_TOPIC = [0x61, 0x2f, 0xc3, 0x28]; // "a/" then 0xC3 without a continuation byte

/**
 * Connects a raw client, sends `bytes` once CONNACK is in, and waits for the server to close.
 * Returns the server's DISCONNECT and the types of anything else it sent.
 */
async function sendWhenConnected(version: Version, bytes: Buffer): Promise<{ disconnect: IDisconnectPacket | undefined; others: string[] }> {
  const { client, connack } = await RawClient.connect(server.port, version);
  assert.ok(isAccepted(connack), 'CONNECT accepted');
  client.sendBytes(bytes);
  const disconnect = await serverClose(client);
  return { disconnect, others: client.unread.map((p) => p.cmd) };
}

/**
 * The server closed an established connection: on v5 after a DISCONNECT carrying one of
 * `codes` [MQTT-4.13.1-1]; on v3.1.1, which has no server DISCONNECT, by closing alone.
 */
async function assertClosedWhenConnected(version: Version, bytes: Buffer, codes: number[]): Promise<void> {
  const { disconnect, others } = await sendWhenConnected(version, bytes);
  if (version === 5) {
    const hex = codes.map((c) => `0x${c.toString(16)}`).join(' or ');
    assert.ok(disconnect !== undefined && codes.includes(disconnect.reasonCode!), `expected DISCONNECT ${hex}, got ${JSON.stringify(disconnect)}`);
  } else {
    assert.equal(disconnect, undefined, 'a v3.1.1 server never sends DISCONNECT');
  }
  assert.deepEqual(others, [], 'nothing but the DISCONNECT was sent back');
}

/** `bytes` as the very first thing on a connection: closed with nothing sent, not even DISCONNECT. */
async function assertClosedBeforeConnect(bytes: Buffer): Promise<void> {
  const client = await RawClient.open(server.port, 5);
  client.sendBytes(bytes);
  await client.waitClosed();
  assert.deepEqual(client.unread.map((p) => p.cmd), [], 'no CONNACK and no DISCONNECT before a CONNECT completed');
}

// --- Fixed header -------------------------------------------------------------------------

// MQTT 5 1.5.5 / 3.1.1 2.2.3: the Remaining Length is at most four bytes.
const FIVE_BYTE_REMAINING_LENGTH = Buffer.from([PUBLISH_QOS0, 0xff, 0xff, 0xff, 0xff, 0x7f]);

for (const version of VERSIONS) {
  test(`v${version}: a Remaining Length of five bytes is malformed and closes that connection`, () =>
    violation(() => assertClosedWhenConnected(version, FIVE_BYTE_REMAINING_LENGTH, [ReasonCode.MalformedPacket])));
}

test('a Remaining Length of five bytes before CONNECT closes the connection without a reply', () =>
  violation(() => assertClosedBeforeConnect(FIVE_BYTE_REMAINING_LENGTH)));

/** Encodes `packet` and replaces the four flag bits of its first byte. */
function withFlags(packet: Packet, version: Version, flags: number): Buffer {
  const bytes = encode(packet, version);
  bytes[0] = (bytes[0]! & 0xf0) | flags;
  return bytes;
}

const reservedFlagCases: Array<{ name: string; bytes: (version: Version) => Buffer }> = [
  { name: 'SUBSCRIBE with flags 0 instead of 2', bytes: (v) => withFlags({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }, v, 0) },
  { name: 'UNSUBSCRIBE with flags 0 instead of 2', bytes: (v) => withFlags({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['a'] }, v, 0) },
  { name: 'PUBREL with flags 0 instead of 2', bytes: (v) => withFlags({ cmd: 'pubrel', messageId: 1 }, v, 0) },
  { name: 'PINGREQ with flags 1 instead of 0', bytes: (v) => withFlags({ cmd: 'pingreq' }, v, 1) },
];

for (const version of VERSIONS) {
  for (const { name, bytes } of reservedFlagCases) {
    test(`[MQTT-2.2.2-2] v${version}: reserved flag bits close the connection (${name})`, () =>
      violation(() => assertClosedWhenConnected(version, bytes(version), [ReasonCode.MalformedPacket])));
  }

  test(`[MQTT-3.3.1-4] v${version}: a PUBLISH with both QoS bits set closes the connection`, () =>
    violation(() =>
      assertClosedWhenConnected(version, withFlags({ cmd: 'publish', topic: 'a', payload: 'x', qos: 0, retain: false, dup: false }, version, 0b0110), [
        ReasonCode.MalformedPacket,
      ])));
}

test('[MQTT-2.2.2-2] reserved flag bits before CONNECT close the connection without a reply', () =>
  violation(() => assertClosedBeforeConnect(withFlags({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }, 4, 0))));

// Packet type 0 is reserved (forbidden) in every version; type 15 is reserved in 3.1.1 only.
const RESERVED_TYPE_0 = Buffer.from([0x00, 0x00]);

for (const version of VERSIONS) {
  test(`v${version}: the reserved packet type 0 closes the connection`, () =>
    violation(() => assertClosedWhenConnected(version, RESERVED_TYPE_0, [ReasonCode.MalformedPacket])));
}

test('the reserved packet type 0 before CONNECT closes the connection without a reply', () =>
  violation(() => assertClosedBeforeConnect(RESERVED_TYPE_0)));

test('v4: packet type 15 (AUTH in v5, reserved in 3.1.1) closes a v3.1.1 connection', () =>
  violation(() => assertClosedWhenConnected(4, Buffer.from([0xf0, 0x00]), [])));

// --- CONNECT ------------------------------------------------------------------------------

test('[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection without a reply', async () => {
  const firsts: Packet[] = [
    { cmd: 'publish', topic: 'a', payload: 'x', qos: 0, retain: false, dup: false },
    { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] },
    { cmd: 'pingreq' },
  ];
  for (const packet of firsts) await violation(() => assertClosedBeforeConnect(encode(packet, 4)));
});

test('[MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01, then the connection is closed', () =>
  violation(async () => {
    const client = await RawClient.open(server.port, 4);
    const bytes = client.encode(client.connectPacket());
    const levelOffset = variableHeaderOffset(bytes) + 2 + 'MQTT'.length;
    assert.equal(bytes[levelOffset], 4);
    bytes[levelOffset] = 6;
    client.sendBytes(bytes);
    await client.waitClosed();
    assert.deepEqual(
      client.unread.map((p) => [p.cmd, p.cmd === 'connack' ? p.returnCode : undefined]),
      [['connack', ConnackReturnCode.UnacceptableProtocolVersion]],
    );
  }));

test('[MQTT-4.12.0-1] v5: a CONNECT with an authentication method gets CONNACK 0x8C, then the connection is closed', () =>
  violation(async () => {
    const client = await RawClient.open(server.port, 5);
    const connack = await client.connect({ properties: { authenticationMethod: 'SCRAM-SHA-256' } });
    assert.equal(connack.reasonCode, ReasonCode.BadAuthenticationMethod);
    await client.waitClosed();
    assert.deepEqual(client.unread.map((p) => p.cmd), [], 'no DISCONNECT after a refusing CONNACK');
  }));

test('[MQTT-4.12.0-7] v5: AUTH on a connection whose CONNECT had no authentication method is a protocol error', () =>
  violation(() => assertClosedWhenConnected(5, encode({ cmd: 'auth', reasonCode: ReasonCode.ReAuthenticate }, 5), [ReasonCode.ProtocolError])));

// --- Properties (v5) ----------------------------------------------------------------------

// mqtt-packet decodes a repeated property into an array instead of refusing it; MQTT 5
// 2.2.2.2 and each property's clause make a repeat a Protocol Error (User Property excepted).
const MESSAGE_EXPIRY_INTERVAL = 0x02;
const SUBSCRIPTION_IDENTIFIER = 0x0b;
const SESSION_EXPIRY_INTERVAL = 0x11;

test('v5: a PUBLISH repeating Message Expiry Interval is a protocol error', () =>
  violation(() => {
    const properties = [MESSAGE_EXPIRY_INTERVAL, 0, 0, 0, 10, MESSAGE_EXPIRY_INTERVAL, 0, 0, 0, 20];
    const bytes = packetBytes(PUBLISH_QOS0, [...stringField(Buffer.from(`${healthyPrefix}/dup`)), properties.length, ...properties, 0x78]);
    return assertClosedWhenConnected(5, bytes, [ReasonCode.ProtocolError]);
  }));

test('v5: a SUBSCRIBE repeating Subscription Identifier is a protocol error', () =>
  violation(() => {
    const properties = [SUBSCRIPTION_IDENTIFIER, 1, SUBSCRIPTION_IDENTIFIER, 2];
    const bytes = packetBytes(SUBSCRIBE, [0, 1, properties.length, ...properties, ...stringField(Buffer.from('dup/+')), 0x01]);
    return assertClosedWhenConnected(5, bytes, [ReasonCode.ProtocolError]);
  }));

test('v5: a CONNECT repeating Session Expiry Interval is refused with CONNACK 0x82 and closed', () =>
  violation(async () => {
    const properties = [SESSION_EXPIRY_INTERVAL, 0, 0, 0, 10, SESSION_EXPIRY_INTERVAL, 0, 0, 0, 20];
    const clientId = Buffer.from(unique('dup'));
    const CLEAN_START = 0x02;
    const body = [...stringField(Buffer.from('MQTT')), 5, CLEAN_START, 0, 0, properties.length, ...properties, ...stringField(clientId)];
    const client = await RawClient.open(server.port, 5);
    client.sendBytes(packetBytes(0x10, body));
    await client.waitClosed();
    assert.deepEqual(
      client.unread.map((p) => [p.cmd, p.cmd === 'connack' ? p.reasonCode : undefined]),
      [['connack', ReasonCode.ProtocolError]],
    );
  }));

// mqtt-packet decodes a string or binary property whose length runs past the property block
// as null instead of failing; passed on, the null made the codec throw while encoding the
// message for subscribers. Both were found by test/integration/channel-fuzz.test.ts.
const CORRELATION_DATA = 0x09;
const USER_PROPERTY = 0x26;

test('[§2.2.2.2] v5: a PUBLISH whose Correlation Data runs past its properties is malformed', () =>
  violation(() => {
    const properties = [CORRELATION_DATA, 0x01, 0x00]; // announces 256 bytes, has none
    const bytes = packetBytes(PUBLISH_QOS0, [...stringField(Buffer.from(`${healthyPrefix}/cut`)), properties.length, ...properties]);
    return assertClosedWhenConnected(5, bytes, [ReasonCode.MalformedPacket]);
  }));

test('[§2.2.2.2] v5: a PUBLISH whose User Property value runs past its properties is malformed', () =>
  violation(() => {
    const properties = [USER_PROPERTY, ...stringField(Buffer.from('k')), 0x00, 0x40]; // value announces 64 bytes, has none
    const bytes = packetBytes(PUBLISH_QOS0, [...stringField(Buffer.from(`${healthyPrefix}/cut`)), properties.length, ...properties]);
    return assertClosedWhenConnected(5, bytes, [ReasonCode.MalformedPacket]);
  }));

// --- Topics and packet identifiers --------------------------------------------------------

for (const version of VERSIONS) {
  const propertiesLength = version === 5 ? [0] : [];

  test(`[MQTT-1.5.3-1][MQTT-1.5.4-1] v${version}: ill-formed UTF-8 in a PUBLISH topic closes the connection`, () =>
    violation(() => {
      const bytes = packetBytes(PUBLISH_QOS0, [...stringField(INVALID_UTF8_TOPIC), ...propertiesLength, 0x78]);
      return assertClosedWhenConnected(version, bytes, [ReasonCode.MalformedPacket, ReasonCode.TopicNameInvalid]);
    }));

  test(`[MQTT-1.5.3-1][MQTT-1.5.4-1] v${version}: ill-formed UTF-8 in a SUBSCRIBE topic filter closes the connection`, () =>
    violation(() => {
      const bytes = packetBytes(SUBSCRIBE, [0, 1, ...propertiesLength, ...stringField(INVALID_UTF8_TOPIC), 0x00]);
      return assertClosedWhenConnected(version, bytes, [ReasonCode.MalformedPacket]);
    }));

  test(`[MQTT-1.5.3-1][MQTT-1.5.4-1] v${version}: ill-formed UTF-8 in an UNSUBSCRIBE topic filter closes the connection`, () =>
    violation(() => {
      const bytes = packetBytes(UNSUBSCRIBE, [0, 1, ...propertiesLength, ...stringField(INVALID_UTF8_TOPIC)]);
      return assertClosedWhenConnected(version, bytes, [ReasonCode.MalformedPacket]);
    }));

  const noFilterRule = version === 5 ? 'MQTT-3.8.3-2' : 'MQTT-3.8.3-3';
  test(`[${noFilterRule}] v${version}: a SUBSCRIBE without a topic filter closes the connection`, () =>
    violation(() => assertClosedWhenConnected(version, packetBytes(SUBSCRIBE, [0, 1, ...propertiesLength]), [ReasonCode.ProtocolError])));

  test(`[MQTT-3.10.3-2] v${version}: an UNSUBSCRIBE without a topic filter closes the connection`, () =>
    violation(() => assertClosedWhenConnected(version, packetBytes(UNSUBSCRIBE, [0, 1, ...propertiesLength]), [ReasonCode.ProtocolError])));

  // Found by the fuzz test: a Remaining Length of 1 leaves no room for the packet id, yet the
  // codec takes one from the next packet's bytes and decodes a SUBSCRIBE with no filters;
  // answering that with an empty SUBACK crashed the broker process.
  test(`v${version}: a SUBSCRIBE too short for its packet identifier closes the connection`, () =>
    violation(() => {
      const bytes = Buffer.concat([packetBytes(SUBSCRIBE, [0x31]), encode({ cmd: 'pingreq' }, version)]);
      return assertClosedWhenConnected(version, bytes, [ReasonCode.ProtocolError, ReasonCode.MalformedPacket]);
    }));

  for (const topic of ['wild/+', 'wild/#']) {
    test(`[MQTT-3.3.2-2] v${version}: a wildcard in a PUBLISH topic (${topic}) closes the connection`, () =>
      violation(() =>
        assertClosedWhenConnected(version, encode({ cmd: 'publish', topic, payload: 'x', qos: 0, retain: false, dup: false }, version), [
          ReasonCode.TopicNameInvalid,
        ])));
  }

  // The codec reports a missing packet id as -1; answered, it gave an ack with a Remaining
  // Length of 2 and no body (bytes that desynchronise the client's decoder).
  for (const [name, firstByte] of [['PUBACK', 0x40], ['PUBREC', 0x50], ['PUBREL', 0x62], ['PUBCOMP', 0x70]] as const) {
    test(`[${version === 5 ? 'MQTT-2.2.1-5' : 'MQTT-2.3.1-6'}] v${version}: a ${name} too short for its packet identifier closes the connection`, () =>
      violation(() => assertClosedWhenConnected(version, packetBytes(firstByte, []), [ReasonCode.MalformedPacket])));
  }

  for (const qos of [1, 2] as const) {
    test(`[MQTT-2.2.1-3] v${version}: a QoS ${qos} PUBLISH with packet identifier 0 closes the connection`, () =>
      violation(() =>
        assertClosedWhenConnected(
          version,
          encode({ cmd: 'publish', topic: `${healthyPrefix}/id0`, payload: 'x', qos, messageId: 0, retain: false, dup: false }, version),
          [ReasonCode.ProtocolError],
        )));
  }
}

// --- Maximum Packet Size ------------------------------------------------------------------

/** A QoS 1 PUBLISH whose whole encoding (fixed header included) is exactly `size` bytes. */
function publishOfSize(size: number, version: Version, messageId: number): Buffer {
  for (let payload = size; payload >= 0; payload--) {
    const bytes = encode({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(payload, 0x61), qos: 1, messageId, retain: false, dup: false }, version);
    if (bytes.length === size) return bytes;
  }
  throw new Error(`no PUBLISH of exactly ${size} bytes`);
}

for (const version of VERSIONS) {
  test(`[MQTT-3.2.2-15] v${version}: a packet of exactly the maximum size is accepted, one byte more closes the connection`, () =>
    violation(async () => {
      const { client } = await RawClient.connect(server.port, version);
      // The maximum counts the whole packet, fixed header included (MQTT 5 3.2.2.3.6, 2.1.4).
      client.sendBytes(publishOfSize(MAX_PACKET_SIZE, version, 1));
      assert.equal((await client.next('puback')).messageId, 1);
      client.sendBytes(publishOfSize(MAX_PACKET_SIZE + 1, version, 2));
      const disconnect = await serverClose(client);
      if (version === 5) assert.equal(disconnect?.reasonCode, ReasonCode.PacketTooLarge);
      else assert.equal(disconnect, undefined);
      assert.deepEqual(client.unread.map((p) => p.cmd), []);
    }));

  test(`[MQTT-3.2.2-15] v${version}: an announced oversize packet is refused before its body arrives`, () =>
    violation(async () => {
      // Remaining Length 1 MiB, and not one byte of the body: the broker must not wait for it.
      const header = Buffer.from([PUBLISH_QOS0 | 0x02, 0x80, 0x80, 0x40]);
      await assertClosedWhenConnected(version, header, [ReasonCode.PacketTooLarge]);
    }));
}
