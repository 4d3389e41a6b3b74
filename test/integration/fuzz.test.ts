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
import { generate, parser as createParser, type IConnectPacket, type Packet } from 'mqtt-packet';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { closedWithin, destroySocket, openSocket, repliedWithin, splitBytes, writePieces } from '../helpers/raw-socket.ts';
import { connectPacket, encode, mutate, mutation, noise, pieces, validStream, versions, type Version } from '../helpers/mqtt-arbitraries.ts';

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

test(`random and mutated byte streams (${RUNS} runs) leave the broker up and serving`, { timeout: 120_000 }, async () => {
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
