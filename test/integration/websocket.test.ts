// The WebSocket listeners with real clients: MQTT.js over ws:// and wss://, the `ws` client
// for what MQTT.js would never send (no subprotocol, another path, a text frame, packets cut
// across frames), a reader that stops reading, and fast-check fuzz of the framing itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { WebSocket } from 'ws';
import { TestCa } from '../../scripts/lib/certs.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { RecordingLogger, startListening, type ListeningBroker } from '../helpers/listeners.ts';
import { closedWithin, destroySocket, openSocket, writePieces } from '../helpers/raw-socket.ts';
import { connectPacket, encode, mutate, mutation, noise, validStream, versions } from '../helpers/mqtt-arbitraries.ts';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const FUZZ_SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

let ca: TestCa;
let node: ListeningBroker;
const logger = new RecordingLogger();
let wsUrl: string;
let wssUrl: string;

before(async () => {
  ca = new TestCa();
  const server = ca.server();
  const tls = { certFile: server.certFile, keyFile: server.keyFile, clientCert: 'none', minVersion: 'TLSv1.2' } as const;
  node = await startListening([{ name: 'ws', kind: 'ws', path: '/mqtt' }, { name: 'wss', kind: 'wss', path: '/mqtt', tls }], { logger, limits: { connectTimeout: 2 } });
  wsUrl = `ws://127.0.0.1:${node.ports.ws}/mqtt`;
  wssUrl = `wss://127.0.0.1:${node.ports.wss}/mqtt`;
});
after(async () => {
  await node.stop();
  ca.remove();
});

/** A `ws` client that has completed its handshake, its replies decoded as MQTT `version`. */
async function rawWebSocket(protocols: string[] = ['mqtt'], version: 4 | 5 = 4): Promise<{ ws: WebSocket; replies: Packet[]; next(cmd: string): Promise<Packet> }> {
  const ws = new WebSocket(wsUrl, protocols);
  const replies: Packet[] = [];
  const decoder = createParser({ protocolVersion: version });
  const waiters: { cmd: string; resolve: (p: Packet) => void }[] = [];
  decoder.on('packet', (packet: Packet) => {
    replies.push(packet);
    const i = waiters.findIndex((w) => w.cmd === packet.cmd);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(packet);
  });
  ws.on('message', (data: Buffer) => decoder.parse(data));
  ws.on('error', () => undefined);
  await once(ws, 'open');
  return {
    ws,
    replies,
    next: (cmd) => {
      const seen = replies.find((p) => p.cmd === cmd);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ cmd, resolve }));
    },
  };
}

/** The HTTP status a handshake was refused with. */
async function refusedWith(url: string, protocols: string[]): Promise<number> {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => undefined);
  const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; resume(): void }];
  response.resume();
  ws.terminate();
  return response.statusCode;
}

async function qos1AndRetained(url: string, options: object): Promise<void> {
  for (const protocolVersion of [4, 5] as const) {
    const topic = unique('ws/t');
    const pub = await connect(url, { ...options, protocolVersion });
    await pub.publishAsync(topic, 'retained', { qos: 1, retain: true });
    const sub = await connect(url, { ...options, protocolVersion });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    await pub.publishAsync(topic, 'live', { qos: 1 });
    const got = await inbox.waitFor(2);
    assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.qos, m.packet.retain]), [['retained', 1, true], ['live', 1, false]]);
    await end(pub, sub);
  }
}

test('MQTT.js over ws:// with QoS 1 and a retained message (v3.1.1 and v5)', () => qos1AndRetained(wsUrl, {}));

test('MQTT.js over wss:// with QoS 1 and a retained message (v3.1.1 and v5)', async () => {
  await qos1AndRetained(wssUrl, { ca: readFileSync(ca.caFile) });
  const info = (await logger.next((l) => l.level === 'info' && l.msg === 'client connected' && l.fields.listener === 'wss')).fields;
  assert.match(String(info.remote), /^127\.0\.0\.1:\d+$/);
});

test('[MQTT-6.0.0-4] the server selects the mqtt subprotocol, and mqttv3.1 for 3.1 clients', async () => {
  const modern = await rawWebSocket(['foo', 'mqtt']);
  assert.equal(modern.ws.protocol, 'mqtt');
  modern.ws.terminate();
  const old = await rawWebSocket(['mqttv3.1']);
  assert.equal(old.ws.protocol, 'mqttv3.1');
  old.ws.terminate();
});

test('[MQTT-6.0.0-3] a handshake without an MQTT subprotocol gets 400, another path 404, a plain GET 426', async () => {
  assert.equal(await refusedWith(wsUrl, []), 400);
  assert.equal(await refusedWith(wsUrl, ['chat']), 400);
  assert.equal(await refusedWith(`ws://127.0.0.1:${node.ports.ws}/other`, ['mqtt']), 404);
  assert.equal((await fetch(`http://127.0.0.1:${node.ports.ws}/mqtt`)).status, 426);
});

test('[MQTT-6.0.0-2] a packet split over frames and several packets in one frame both work', async () => {
  const { ws, next } = await rawWebSocket();
  const topic = unique('ws/frames');
  const connectBytes = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: unique('frames'), clean: true, keepalive: 0 });
  ws.send(connectBytes.subarray(0, 3));
  ws.send(connectBytes.subarray(3, 7));
  ws.send(connectBytes.subarray(7));
  await next('connack');
  const subscribe = generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
  const publish = generate({ cmd: 'publish', topic, payload: Buffer.from('one frame'), qos: 0, retain: false, dup: false });
  // SUBSCRIBE, then a PUBLISH whose last byte shares a frame with a PINGREQ.
  ws.send(Buffer.concat([subscribe, publish.subarray(0, publish.length - 1)]));
  ws.send(Buffer.concat([publish.subarray(publish.length - 1), generate({ cmd: 'pingreq' })]));
  assert.equal((await next('suback')).cmd, 'suback');
  const echoed = (await next('publish')) as Packet & { payload: Buffer };
  assert.equal(echoed.payload.toString(), 'one frame');
  await next('pingresp');
  ws.terminate();
});

test('[MQTT-6.0.0-1] a text frame closes the connection', async () => {
  const { ws, next } = await rawWebSocket();
  ws.send(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: unique('text'), clean: true, keepalive: 0 }));
  await next('connack');
  const closed = once(ws, 'close');
  ws.send('PINGREQ as text');
  const [code] = (await closed) as [number];
  assert.equal(code, 1003);
});

test('a WebSocket subscriber that stops reading has its QoS 0 backlog bounded, and other clients are served', async () => {
  const topic = unique('ws/slow');
  const slow = await rawWebSocket();
  slow.ws.send(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: unique('slow'), clean: true, keepalive: 0 }));
  await slow.next('connack');
  slow.ws.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] }));
  await slow.next('suback');
  slow.ws.pause(); // stops reading its socket: the node's writes back up
  const pub = await connect(wsUrl);
  const payload = randomBytes(64 * 1024);
  const droppedBefore = node.broker.stats.messagesDropped;
  // At most 64 MiB: past the 4 MiB backlog limit plus what the kernel buffers, drops start.
  for (let i = 0; i < 1024 && node.broker.stats.messagesDropped === droppedBefore; i++) await pub.publishAsync(topic, payload, { qos: 0 });
  assert.ok(node.broker.stats.messagesDropped > droppedBefore, 'QoS 0 beyond the backlog limit is dropped, not buffered');
  const probe = unique('ws/after-slow');
  const sub = await connect(wsUrl);
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(probe, { qos: 1 });
  await pub.publishAsync(probe, 'still served', { qos: 1 });
  assert.equal((await inbox.waitFor(1))[0]!.payload.toString(), 'still served');
  slow.ws.terminate();
  await end(pub, sub);
});

// --- Fuzzing the framing -------------------------------------------------------------------

/** One client-to-server frame (RFC 6455 5.2), masked as a client must unless told otherwise. */
function frame(opcode: number, payload: Buffer, fin = true, masked = true): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? [length] : length < 0x10000 ? [126, length >> 8, length & 0xff] : [127, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
  const header = Buffer.from([(fin ? 0x80 : 0) | opcode, (masked ? 0x80 : 0) | lengthBytes[0]!, ...lengthBytes.slice(1)]);
  if (!masked) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((byte, i) => byte ^ key[i % 4]!));
  return Buffer.concat([header, key, body]);
}

const frameArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(noise, fc.boolean()).map(([payload, fin]) => frame(0x2, payload, fin)) }, // binary
  { weight: 2, arbitrary: noise.map((payload) => frame(0x0, payload)) }, // continuation
  { weight: 1, arbitrary: noise.map((payload) => frame(0x1, payload)) }, // text
  { weight: 1, arbitrary: noise.map((payload) => frame(0x9, payload.subarray(0, 125))) }, // ping
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 15 }), noise, fc.boolean(), fc.boolean()).map(([op, payload, fin, masked]) => frame(op, payload, fin, masked)) },
);

const streams = fc.oneof(
  // A valid CONNECT and MQTT stream, mutated, cut into binary frames.
  versions.chain((version) =>
    fc.tuple(validStream(version), fc.array(mutation, { maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 })).map(([stream, mutations, sizes]) => {
      const bytes = mutate(Buffer.concat([encode(stream.connect, version), stream.rest]), mutations);
      const frames: Buffer[] = [];
      for (let offset = 0, i = 0; offset < bytes.length; i++) {
        const size = sizes[i % sizes.length]!;
        frames.push(frame(0x2, bytes.subarray(offset, offset + size)));
        offset += size;
      }
      return Buffer.concat(frames);
    }),
  ),
  // A CONNECT, then arbitrary frames, then the whole thing mutated at the WebSocket level.
  versions.chain((version) =>
    fc.tuple(connectPacket(version), fc.array(frameArbitrary, { maxLength: 6 }), fc.array(mutation, { maxLength: 3 })).map(([connect, frames, mutations]) =>
      mutate(Buffer.concat([frame(0x2, encode(connect, version)), ...frames]), mutations),
    ),
  ),
);

/** The HTTP upgrade by hand, so that what follows it can be any bytes at all. */
async function upgradedSocket() {
  const socket = await openSocket(node.ports.ws!);
  const key = randomBytes(16).toString('base64');
  socket.write(`GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`);
  const [head] = (await once(socket, 'data')) as [Buffer];
  assert.match(head.toString('latin1'), /^HTTP\/1\.1 101 /);
  return socket;
}

test(`fuzzed WebSocket frames (${FUZZ_RUNS} runs) leave the node up and serving, with no error logged`, { timeout: 60_000 }, async () => {
  const errorsBefore = logger.lines.filter((l) => l.level === 'error').length;
  await fc.assert(
    fc.asyncProperty(streams, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }), async (bytes, sizes) => {
      const socket = await upgradedSocket();
      try {
        const pieces: Buffer[] = [];
        for (let offset = 0, i = 0; offset < bytes.length; i++) {
          pieces.push(bytes.subarray(offset, offset + sizes[i % sizes.length]!));
          offset += sizes[i % sizes.length]!;
        }
        await writePieces(socket, pieces);
        await closedWithin(socket, 10);
      } finally {
        await destroySocket(socket);
      }
    }),
    { numRuns: FUZZ_RUNS, seed: FUZZ_SEED },
  );
  const errors = logger.lines.filter((l) => l.level === 'error').slice(errorsBefore);
  assert.deepEqual(errors, [], 'no error logged');
  await qos1AndRetained(wsUrl, {});
});
