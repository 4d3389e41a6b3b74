// Fuzzing the protocol boundary: random and mutated byte streams over real sockets to a
// broker in its own process. Whatever arrives, the broker must stay up, answer only with
// well-formed packets, and keep serving well-behaved clients. Published MQTT fuzzers (FUME)
// crashed brokers through exactly this path, once through mqtt-packet itself.
//
// FUZZ_RUNS and FUZZ_SEED override the run count and seed, to replay a reported failure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import {
  generate,
  parser as createParser,
  type IConnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type Packet,
} from 'mqtt-packet';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { closedWithin, destroySocket, openSocket, repliedWithin, splitBytes, writePieces } from '../helpers/raw-socket.ts';

type Version = 4 | 5;

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** How long a run waits for the broker to react before hanging up itself. */
const SETTLE_MS = 20;

/** A broker in a child process, so a crash is seen as an exit (with its stderr), not as our own. */
class BrokerProcess {
  port = 0;
  stderr = '';
  private child: ChildProcess | undefined;

  async start(): Promise<void> {
    const helper = pathToFileURL(fileURLToPath(new URL('../helpers/broker.ts', import.meta.url))).href;
    const script = [
      `import { errorsToStderr, startBroker } from ${JSON.stringify(helper)};`,
      'const server = await startBroker({ connectTimeout: 2 }, 0, errorsToStderr);',
      'process.on("message", (m) => { if (m === "ping") process.send("pong"); });',
      'process.on("disconnect", () => void server.stop());',
      'process.send({ port: server.port });',
    ].join('\n');
    this.stderr = '';
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child = child;
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    const [message] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => [undefined])])) as [{ port: number } | undefined];
    if (!message) throw new Error(`broker process failed to start:\n${this.stderr}`);
    this.port = message.port;
  }

  get exited(): boolean {
    return !this.child || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Whether the broker's event loop still answers, within `ms`. */
  async alive(ms = 2000): Promise<boolean> {
    const child = this.child;
    if (!child || this.exited) return false;
    return new Promise<boolean>((resolve) => {
      const done = (result: boolean) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(result);
      };
      const onMessage = (m: unknown) => m === 'pong' && done(true);
      const onExit = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send('ping');
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    const exited = once(child, 'exit');
    child.kill();
    await exited;
  }
}

const broker = new BrokerProcess();
before(() => broker.start());
after(() => broker.stop());

// --- Valid packets, built by the codec ----------------------------------------------------

const topicNames = fc.constantFrom('a', 'a/b', 'fuzz/t', 'fuzz/t/deep', '$SYS/x', 'é/ü', ' ', '/');
const topicFilters = fc.constantFrom('a', 'a/b', 'fuzz/#', 'fuzz/+', '#', '+/+', '$share/g/fuzz/t', '$SYS/#', 'a/#/b', '');
const packetId = fc.integer({ min: 1, max: 0xffff });
const smallBytes = fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b));
const clientIds = fc.constantFrom('fuzz-a', 'fuzz-b', '', 'fuzz-c');

function connectPacket(version: Version): fc.Arbitrary<IConnectPacket> {
  return fc
    .record({
      clientId: clientIds,
      clean: fc.boolean(),
      keepalive: fc.constantFrom(0, 1, 60),
      will: fc.option(fc.record({ topic: topicNames, payload: smallBytes, qos: fc.constantFrom(0, 1, 2), retain: fc.boolean() }), { nil: undefined }),
      username: fc.option(fc.constantFrom('user', ''), { nil: undefined }),
      password: fc.option(smallBytes, { nil: undefined }),
      sessionExpiryInterval: fc.option(fc.constantFrom(0, 1, 3600, 0xffffffff), { nil: undefined }),
      receiveMaximum: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      maximumPacketSize: fc.option(fc.integer({ min: 128, max: 2048 }), { nil: undefined }),
      topicAliasMaximum: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
      requestProblemInformation: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map(({ sessionExpiryInterval, receiveMaximum, maximumPacketSize, topicAliasMaximum, requestProblemInformation, ...fields }) => {
      const packet: IConnectPacket = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, ...fields };
      if (packet.will === undefined) delete packet.will;
      if (packet.username === undefined) delete packet.username;
      if (packet.password === undefined || (version < 5 && packet.username === undefined)) delete packet.password;
      if (version === 5) {
        const properties = { sessionExpiryInterval, receiveMaximum, maximumPacketSize, topicAliasMaximum, requestProblemInformation };
        packet.properties = Object.fromEntries(Object.entries(properties).filter(([, value]) => value !== undefined));
      }
      return packet;
    });
}

function publishPacket(version: Version): fc.Arbitrary<IPublishPacket> {
  return fc
    .record({
      topic: topicNames,
      payload: smallBytes,
      qos: fc.constantFrom(0, 1, 2),
      retain: fc.boolean(),
      dup: fc.boolean(),
      messageId: packetId,
      topicAlias: fc.option(fc.integer({ min: 1, max: 70 }), { nil: undefined }),
      messageExpiryInterval: fc.option(fc.constantFrom(0, 1, 60), { nil: undefined }),
      payloadFormatIndicator: fc.option(fc.boolean(), { nil: undefined }),
      responseTopic: fc.option(topicNames, { nil: undefined }),
      correlationData: fc.option(smallBytes, { nil: undefined }),
      user: fc.option(fc.constantFrom('k', 'trace'), { nil: undefined }),
    })
    .map(({ qos, messageId, topicAlias, messageExpiryInterval, payloadFormatIndicator, responseTopic, correlationData, user, ...fields }) => {
      const packet: IPublishPacket = { cmd: 'publish', qos: qos as 0 | 1 | 2, ...fields };
      if (qos > 0) packet.messageId = messageId;
      if (version === 5) {
        packet.properties = {};
        if (topicAlias !== undefined) packet.properties.topicAlias = topicAlias;
        if (messageExpiryInterval !== undefined) packet.properties.messageExpiryInterval = messageExpiryInterval;
        if (payloadFormatIndicator !== undefined) packet.properties.payloadFormatIndicator = payloadFormatIndicator;
        if (responseTopic !== undefined) packet.properties.responseTopic = responseTopic;
        if (correlationData !== undefined) packet.properties.correlationData = correlationData;
        if (user !== undefined) packet.properties.userProperties = { [user]: ['1', '2'] };
      }
      return packet;
    });
}

function subscribePacket(version: Version): fc.Arbitrary<ISubscribePacket> {
  const subscription = fc.record({
    topic: topicFilters,
    qos: fc.constantFrom(0, 1, 2),
    nl: fc.boolean(),
    rap: fc.boolean(),
    rh: fc.constantFrom(0, 1, 2),
  });
  return fc
    .record({ messageId: packetId, subscriptions: fc.array(subscription, { minLength: 1, maxLength: 3 }), id: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }) })
    .map(({ messageId, subscriptions, id }) => {
      const packet: ISubscribePacket = {
        cmd: 'subscribe',
        messageId,
        subscriptions: subscriptions.map((s) => (version === 5 ? { ...s, qos: s.qos as 0 | 1 | 2, rh: s.rh as 0 | 1 | 2 } : { topic: s.topic, qos: s.qos as 0 | 1 | 2 })),
      };
      if (version === 5 && id !== undefined) packet.properties = { subscriptionIdentifier: id };
      return packet;
    });
}

function anyPacket(version: Version): fc.Arbitrary<Packet> {
  const ack = fc.record({ cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'), messageId: packetId }) as fc.Arbitrary<Packet>;
  const common: Array<fc.Arbitrary<Packet>> = [
    publishPacket(version),
    publishPacket(version),
    subscribePacket(version),
    fc.record({ cmd: fc.constant('unsubscribe' as const), messageId: packetId, unsubscriptions: fc.array(topicFilters, { minLength: 1, maxLength: 3 }) }),
    ack,
    fc.constant<Packet>({ cmd: 'pingreq' }),
    fc.constant<Packet>({ cmd: 'disconnect' }),
    connectPacket(version), // a second CONNECT
  ];
  if (version === 5) {
    common.push(
      fc.record({ cmd: fc.constant('disconnect' as const), reasonCode: fc.constantFrom(0, 4), properties: fc.record({ sessionExpiryInterval: fc.constantFrom(0, 10) }) }),
      fc.constant<Packet>({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'x' } }),
    );
  }
  return fc.oneof(...common);
}

/** The codec's encoding, or nothing when it refuses the combination (the fuzzer then sends less). */
function encode(packet: Packet, version: Version): Buffer {
  try {
    return generate(packet, { protocolVersion: version });
  } catch {
    return Buffer.alloc(0);
  }
}

// --- Mutations ----------------------------------------------------------------------------

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'repeat'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }) },
);

function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(input);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const at = m.at % bytes.length;
    switch (m.kind) {
      case 'flip':
        bytes[at] = bytes[at]! ^ m.mask;
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]);
        break;
      case 'repeat':
        bytes = Buffer.concat([bytes.subarray(0, at + m.length), bytes.subarray(at)]);
        break;
      default:
        return assertNever(m);
    }
  }
  return bytes;
}

function assertNever(value: never): never {
  throw new Error(`unhandled mutation ${JSON.stringify(value)}`);
}

// --- Streams ------------------------------------------------------------------------------

interface Feed {
  /**
   * A valid CONNECT sent on its own before `bytes`, whose CONNACK the feed awaits, so the bytes
   * reach an established connection (sent together, they would mostly end it before CONNACK).
   */
  connected: IConnectPacket | undefined;
  bytes: Buffer;
  /** Piece sizes the bytes are written in, cycled. */
  pieces: number[];
}

const versions = fc.constantFrom<Version>(4, 5);
const noise = fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b));
const pieces: fc.Arbitrary<number[]> = fc.oneof(
  fc.constant<number[]>([1]),
  fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
  fc.constant<number[]>([4096]),
);

const validStream = (version: Version) =>
  fc.tuple(connectPacket(version), fc.array(anyPacket(version), { maxLength: 8 })).map(([connect, rest]) => ({
    connect,
    rest: Buffer.concat(rest.map((p) => encode(p, version))),
  }));

const feeds: fc.Arbitrary<Feed> = fc.oneof(
  // Noise from the first byte.
  fc.record({ connected: fc.constant(undefined), bytes: noise, pieces }),
  // A valid CONNECT, then noise.
  versions.chain((version) =>
    fc.tuple(connectPacket(version), noise, pieces).map(([connected, bytes, sizes]) => ({ connected, bytes, pieces: sizes })),
  ),
  // A valid CONNECT, then valid packets with flips, truncations, insertions and repeats.
  versions.chain((version) =>
    fc.tuple(validStream(version), fc.array(mutation, { minLength: 1, maxLength: 6 }), pieces).map(([stream, mutations, sizes]) => ({
      connected: stream.connect,
      bytes: mutate(stream.rest, mutations),
      pieces: sizes,
    })),
  ),
  // The whole stream mutated, CONNECT included.
  versions.chain((version) =>
    fc.tuple(validStream(version), fc.array(mutation, { minLength: 1, maxLength: 4 }), pieces).map(([stream, mutations, sizes]) => ({
      connected: undefined,
      bytes: mutate(Buffer.concat([encode(stream.connect, version), stream.rest]), mutations),
      pieces: sizes,
    })),
  ),
);

const SERVER_TO_CLIENT = new Set(['connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'suback', 'unsuback', 'pingresp', 'disconnect', 'auth']);

/** Bytes of a whole packet with this Remaining Length (MQTT 5 2.1.4). */
function packetSize(remainingLength: number): number {
  return 1 + (remainingLength < 0x80 ? 1 : remainingLength < 0x4000 ? 2 : remainingLength < 0x200000 ? 3 : 4) + remainingLength;
}

/**
 * What the broker sent must decode cleanly, be server-to-client packets, open with CONNACK,
 * and stay within the Maximum Packet Size the client asked for [MQTT-3.1.2-24].
 */
function checkReplies(connected: IConnectPacket, received: Buffer): void {
  const decoder = createParser({ protocolVersion: connected.protocolVersion });
  const replies: Packet[] = [];
  let error: Error | undefined;
  decoder.on('packet', (p: Packet) => replies.push(p));
  decoder.on('error', (e: Error) => (error ??= e));
  decoder.parse(received);
  assert.equal(error, undefined, `the broker sent bytes that do not decode: ${error?.message}`);
  for (const reply of replies) assert.ok(SERVER_TO_CLIENT.has(reply.cmd), `the broker sent ${reply.cmd}`);
  if (replies.length > 0) assert.equal(replies[0]!.cmd, 'connack', `first reply was ${replies[0]!.cmd}`);
  const limit = connected.properties?.maximumPacketSize;
  if (limit === undefined) return;
  for (const reply of replies) {
    const size = packetSize(reply.length ?? 0);
    assert.ok(size <= limit, `the broker sent a ${size}-byte ${reply.cmd} to a client whose maximum is ${limit}: ${JSON.stringify(reply)}`);
  }
}

async function feed({ connected, bytes, pieces: sizes }: Feed): Promise<void> {
  if (broker.exited) await broker.start(); // a crash in an earlier run: shrinking needs a live broker
  const stderrBefore = broker.stderr.length;
  const socket = await openSocket(broker.port);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  try {
    if (connected) {
      const replied = repliedWithin(socket, 2000);
      socket.write(encode(connected, connected.protocolVersion as Version));
      await replied;
    }
    await writePieces(socket, splitBytes(bytes, sizes));
    await closedWithin(socket, SETTLE_MS);
  } finally {
    await destroySocket(socket);
  }
  assert.ok(await broker.alive(), `the broker process died:\n${broker.stderr}`);
  // The broker contains an exception to the one connection; the fuzz still counts it as a bug.
  const logged = broker.stderr.slice(stderrBefore);
  assert.equal(logged, '', `the broker logged an error:\n${logged}`);
  if (connected !== undefined) checkReplies(connected, Buffer.concat(received));
}

test(`random and mutated byte streams (${RUNS} runs) leave the broker up and serving`, { timeout: 60_000 }, async () => {
  await fc.assert(fc.asyncProperty(feeds, feed), { numRuns: RUNS, seed: SEED });
  assert.ok(await broker.alive(), `the broker process died:\n${broker.stderr}`);
  await assertServesQos1(`mqtt://127.0.0.1:${broker.port}`);
});

/** A fresh subscriber and publisher round-trip a QoS 1 message on both versions. */
async function assertServesQos1(url: string): Promise<void> {
  for (const protocolVersion of [4, 5] as const) {
    const topic = unique('after-fuzz');
    const sub = await connect(url, { protocolVersion });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    const pub = await connect(url, { protocolVersion });
    await pub.publishAsync(topic, 'still here', { qos: 1 });
    const [message] = await inbox.untilTopic(topic);
    assert.equal(message!.payload.toString(), 'still here');
    assert.equal(message!.packet.qos, 1);
    await end(sub, pub);
  }
}

// --- Byte at a time -----------------------------------------------------------------------

for (const version of [4, 5] as const) {
  test(`v${version}: CONNECT, SUBSCRIBE and PUBLISH fed one byte at a time work`, async () => {
    const topic = unique('bytewise');
    const watcher = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: version });
    const watched = new Inbox(watcher);
    await watcher.subscribeAsync(topic, { qos: 1 });

    const packets: Packet[] = [
      { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: unique('bytewise'), clean: true, keepalive: 0 },
      { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] },
      { cmd: 'publish', topic, payload: Buffer.from('one byte at a time'), qos: 1, messageId: 2, retain: false, dup: false },
      { cmd: 'pingreq' },
    ];
    const bytes = Buffer.concat(packets.map((p) => generate(p, { protocolVersion: version })));
    const socket = await openSocket(broker.port);
    const decoder = createParser({ protocolVersion: version });
    const replies: Packet[] = [];
    decoder.on('packet', (p: Packet) => replies.push(p));
    socket.on('data', (chunk: Buffer) => decoder.parse(chunk));
    try {
      await writePieces(socket, splitBytes(bytes, [1]));
      // PINGRESP answers the last packet, so once it is in every earlier reply is too.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no PINGRESP; replies: ${JSON.stringify(replies.map((p) => p.cmd))}`)), 5000);
        decoder.on('packet', (p: Packet) => p.cmd === 'pingresp' && (clearTimeout(timer), resolve()));
      });
    } finally {
      await destroySocket(socket);
    }
    const [message] = await watched.untilTopic(topic);
    assert.equal(message!.payload.toString(), 'one byte at a time');
    // The feeder subscribed to its own topic, so its message comes back to it before the PUBACK.
    // The SUBACK may follow that message when both packets arrive in one read: a server may
    // send matching PUBLISHes before the SUBACK (MQTT 3.1.1 3.8.4, MQTT 5 3.8.4).
    const summary = replies.map((p) => (p.cmd === 'publish' ? `publish ${p.topic} ${p.payload.toString()}` : p.cmd));
    const echo = `publish ${topic} one byte at a time`;
    assert.deepEqual([...summary].sort(), ['connack', echo, 'pingresp', 'puback', 'suback'].sort());
    assert.equal(summary[0], 'connack');
    assert.equal(summary.at(-1), 'pingresp');
    assert.ok(summary.indexOf(echo) < summary.indexOf('puback'), summary.join(', '));
    assert.ok(summary.indexOf('suback') < summary.indexOf('puback'), summary.join(', '));
    await end(watcher);
  });
}
