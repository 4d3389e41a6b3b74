// CONNECT validation, CONNACK codes per version, client identifiers and takeover.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IConnectPacket, IDisconnectPacket } from 'mqtt-packet';
import { ConnackReturnCode, ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { closed, connackOf, connect, end, Inbox, unique } from '../helpers/clients.ts';
import {
  RawClient,
  assertServerClosed,
  connectFlagsOffset,
  isAccepted,
  variableHeaderOffset,
} from '../helpers/raw-client.ts';

const CLEAN_SESSION_FLAG = 0x02;
const RESERVED_FLAG = 0x01;
const USER_NAME_FLAG = 0x80;

let server: TestBroker;
let quick: TestBroker;
before(async () => {
  server = await startBroker();
  quick = await startBroker({ connectTimeout: 1 });
});
after(async () => {
  await server.stop();
  await quick.stop();
});

test('[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection without CONNACK', async () => {
  const client = await RawClient.open(server.port, 4);
  client.send({ cmd: 'pingreq' });
  await client.waitClosed();
  assert.deepEqual(client.unread, []);
});

for (const version of [4, 5] as const) {
  test(`[MQTT-3.1.0-2] v${version}: a second CONNECT is a protocol error that closes the connection`, async () => {
    const { client, connack } = await RawClient.connect(server.port, version);
    assert.ok(isAccepted(connack));
    client.send(client.connectPacket());
    await assertServerClosed(client, ReasonCode.ProtocolError);
  });

  test(`[MQTT-3.1.2-1] v${version}: a protocol name other than MQTT is not accepted and the connection closed`, async () => {
    const client = await RawClient.open(server.port, version);
    // The codec's types only know the two real names; the wire takes any string.
    client.send(client.connectPacket({ protocolId: 'MQTX' as IConnectPacket['protocolId'] }));
    await client.waitClosed();
    assert.equal(client.unread.filter((p) => p.cmd === 'connack' && isAccepted(p)).length, 0);
  });

  test(`[MQTT-3.1.2-3] v${version}: a CONNECT with the reserved flag set closes the connection`, async () => {
    const client = await RawClient.open(server.port, version);
    const bytes = client.encode(client.connectPacket());
    bytes[connectFlagsOffset(bytes)]! |= RESERVED_FLAG;
    client.sendBytes(bytes);
    await client.waitClosed();
    assert.equal(client.unread.filter((p) => p.cmd === 'connack' && isAccepted(p)).length, 0);
  });

  test(`[MQTT-3.1.3-5] v${version}: client ids of 1 to 23 alphanumeric characters are accepted`, async () => {
    for (const clientId of ['a', '0123456789abcdefghijKLM']) {
      const { client, connack } = await RawClient.connect(server.port, version, { clientId });
      assert.ok(isAccepted(connack), `client id ${clientId}`);
      await client.end();
    }
  });

  test(`[MQTT-3.1.4-5] v${version}: a valid CONNECT is acknowledged with CONNACK 0x00`, async () => {
    const { client, connack } = await RawClient.connect(server.port, version);
    assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0);
    await client.end();
  });

  test(`[MQTT-1.5.4-2] v${version}: a client id containing U+0000 is refused and the connection closed`, async () => {
    const client = await RawClient.open(server.port, version);
    const connack = await client.connect({ clientId: 'nul\u0000id' });
    if (version === 5) assert.equal(connack.reasonCode, ReasonCode.ClientIdentifierNotValid);
    else assert.equal(connack.returnCode, ConnackReturnCode.IdentifierRejected);
    assert.equal(connack.sessionPresent, false); // [MQTT-3.2.2-6]
    await client.waitClosed(); // [MQTT-3.2.2-7]
  });

  test(`[MQTT-3.1.4-6] v${version}: packets sent after a refused CONNECT are not processed`, async () => {
    const topic = unique('after-refusal');
    const client = await RawClient.open(server.port, version);
    // v3.1.1: empty client id without clean session; v5: an unsupported authentication method.
    const refused =
      version === 4
        ? withFlags(client.encode(client.connectPacket({ clientId: '' })), (flags) => flags & ~CLEAN_SESSION_FLAG)
        : client.encode(client.connectPacket({ properties: { authenticationMethod: 'none-such' } }));
    const publish = client.encode({ cmd: 'publish', topic, payload: Buffer.from('must not be kept'), qos: 0, retain: true, dup: false });
    client.sendBytes(Buffer.concat([refused, publish]));
    const connack = await client.next('connack');
    assert.equal(isAccepted(connack), false);
    await client.waitClosed();

    const checker = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(checker);
    await checker.subscribeAsync([topic, `${topic}/marker`], { qos: 0 });
    await checker.publishAsync(`${topic}/marker`, 'marker');
    const got = await inbox.untilTopic(`${topic}/marker`);
    assert.deepEqual(inbox.pairs(got), [[`${topic}/marker`, 'marker']]);
    await end(checker);
  });

  test(`[MQTT-3.1.4-3] v${version}: a CONNECT with the id of a connected client closes the older connection`, async () => {
    const clientId = unique('takeover');
    const first = await connect(server.url, { protocolVersion: version, clientId });
    let disconnect: IDisconnectPacket | undefined;
    first.on('disconnect', (packet) => (disconnect = packet));
    const firstClosed = closed(first);
    const second = await connect(server.url, { protocolVersion: version, clientId });
    await firstClosed;
    if (version === 5) assert.equal(disconnect?.reasonCode, ReasonCode.SessionTakenOver);
    else assert.equal(disconnect, undefined);

    const inbox = new Inbox(second);
    const topic = unique('takeover');
    await second.subscribeAsync(topic);
    await second.publishAsync(topic, 'still here');
    assert.deepEqual(inbox.pairs(await inbox.waitFor(1)), [[topic, 'still here']]);
    await end(first, second);
  });
}

test('[MQTT-3.1.2-2] (v3.1.1) an unsupported protocol level gets CONNACK 0x01 and the connection is closed', async () => {
  const client = await RawClient.open(server.port, 4);
  const bytes = client.encode(client.connectPacket());
  bytes[connectFlagsOffset(bytes) - 1] = 6; // the protocol level byte precedes the flags
  client.sendBytes(bytes);
  const connack = await client.next('connack');
  assert.equal(connack.returnCode, ConnackReturnCode.UnacceptableProtocolVersion);
  assert.equal(connack.sessionPresent, false);
  await client.waitClosed();
});

test('[MQTT-3.1.3-6] (v3.1.1) an empty client id with clean session 1 is given a unique id', async () => {
  const a = await connect(server.url, { protocolVersion: 4, clientId: '', clean: true });
  const b = await connect(server.url, { protocolVersion: 4, clientId: '', clean: true });
  // Both stay connected: had they shared an id, the second would have taken over the first.
  const topic = unique('empty-id');
  const inbox = new Inbox(a);
  await a.subscribeAsync(topic);
  await b.publishAsync(topic, 'from b');
  assert.deepEqual(inbox.pairs(await inbox.waitFor(1)), [[topic, 'from b']]);
  assert.equal(a.connected && b.connected, true);
  await end(a, b);
});

test('[MQTT-3.1.3-8] (v3.1.1) an empty client id with clean session 0 gets CONNACK 0x02 and the connection is closed', async () => {
  const client = await RawClient.open(server.port, 4);
  client.sendBytes(withFlags(client.encode(client.connectPacket({ clientId: '' })), (flags) => flags & ~CLEAN_SESSION_FLAG));
  const connack = await client.next('connack');
  assert.equal(connack.returnCode, ConnackReturnCode.IdentifierRejected);
  assert.equal(connack.sessionPresent, false);
  await client.waitClosed();
});

test('[MQTT-3.1.2-22] (v3.1.1) a password without a user name closes the connection without CONNACK', async () => {
  const client = await RawClient.open(server.port, 4);
  client.sendBytes(withoutUserName(client.encode(client.connectPacket({ username: 'u', password: Buffer.from('p') }))));
  await client.waitClosed();
  assert.deepEqual(client.unread, []); // [MQTT-3.1.4-1] (v3.1.1) no CONNACK for a non-conforming CONNECT
});

test('[§3.1 v3.1] a v3.1 client (MQIsdp, level 3) connects and exchanges messages', async () => {
  const client = await connect(server.url, { protocolId: 'MQIsdp', protocolVersion: 3 });
  assert.equal(connackOf(client).returnCode, ConnackReturnCode.Accepted);
  const topic = unique('v31');
  const inbox = new Inbox(client);
  await client.subscribeAsync(topic, { qos: 1 });
  await client.publishAsync(topic, 'old dialect', { qos: 1 });
  assert.deepEqual(inbox.pairs(await inbox.waitFor(1)), [[topic, 'old dialect']]);
  await end(client);
});

test('[MQTT-3.1.3-7] [MQTT-3.2.2-16] v5: an empty client id is assigned a new one, returned in CONNACK', async () => {
  const a = await connect(server.url, { protocolVersion: 5, clientId: '' });
  const b = await connect(server.url, { protocolVersion: 5, clientId: '' });
  const idA = connackOf(a).properties?.assignedClientIdentifier;
  const idB = connackOf(b).properties?.assignedClientIdentifier;
  assert.ok(idA && idB, 'both CONNACKs carry an Assigned Client Identifier');
  assert.notEqual(idA, idB);
  await end(a, b);
});

test('[MQTT-4.12.0-1] v5: an unsupported authentication method gets CONNACK 0x8C and the connection is closed', async () => {
  const client = await RawClient.open(server.port, 5);
  const connack = await client.connect({ properties: { authenticationMethod: 'SCRAM-SHA-1' } });
  assert.equal(connack.reasonCode, ReasonCode.BadAuthenticationMethod);
  assert.equal(connack.sessionPresent, false);
  await client.waitClosed();
});

test('[MQTT-4.12.0-7] v5: an AUTH packet without an authentication method in CONNECT is a protocol error', async () => {
  const { client } = await RawClient.connect(server.port, 5);
  client.send({ cmd: 'auth', reasonCode: ReasonCode.ReAuthenticate, properties: { authenticationMethod: 'SCRAM-SHA-1' } });
  await assertServerClosed(client, ReasonCode.ProtocolError);
});

test('[MQTT-3.1.4-1] v5: a CONNECT with Receive Maximum 0 gets CONNACK 0x82 and the connection is closed', async () => {
  const client = await RawClient.open(server.port, 5);
  const connack = await client.connect({ properties: { receiveMaximum: 0 } });
  assert.equal(connack.reasonCode, ReasonCode.ProtocolError);
  await client.waitClosed();
});

test('[§3.1] a connection that sends no CONNECT within connectTimeout is closed', async () => {
  const client = await RawClient.open(quick.port, 4);
  const opened = Date.now();
  await client.waitClosed(3000);
  assert.ok(Date.now() - opened >= 900, 'not before the timeout');
  assert.deepEqual(client.unread, []);
});

/** Rewrites the CONNECT flags byte of an encoded CONNECT. */
function withFlags(connect: Buffer, change: (flags: number) => number): Buffer {
  const copy = Buffer.from(connect);
  const offset = connectFlagsOffset(copy);
  copy[offset] = change(copy[offset]!);
  return copy;
}

/** Drops the user name field (the codec refuses to encode a password without one). */
function withoutUserName(connect: Buffer): Buffer {
  // The payload ends with user name 'u' (00 01 75) then password 'p' (00 01 70).
  const userNameAt = connect.length - 6;
  assert.deepEqual([...connect.subarray(userNameAt, userNameAt + 3)], [0, 1, 0x75]);
  const copy = Buffer.concat([connect.subarray(0, userNameAt), connect.subarray(userNameAt + 3)]);
  assert.equal(variableHeaderOffset(copy), 2, 'remaining length fits one byte');
  copy[1] = copy[1]! - 3;
  const offset = connectFlagsOffset(copy);
  copy[offset] = copy[offset]! & ~USER_NAME_FLAG;
  return copy;
}
