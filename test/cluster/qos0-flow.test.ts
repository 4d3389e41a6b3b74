// QoS 0 inside a healthy cluster is not dropped: a fan-in flood from publishers on one node
// reaches a subscriber on another node whole. A full peer link must push back on the
// publishers (as a slow subscriber's socket does on one node), not drop what they sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { startCluster, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { unique } from '../helpers/clients.ts';

const PUBLISHERS = 4;
const MESSAGES_PER_PUBLISHER = 30_000;
const TOTAL = PUBLISHERS * MESSAGES_PER_PUBLISHER;
/** Packets per socket write: the publishers write as fast as their sockets take it. */
const PACKETS_PER_WRITE = 100;
const PAYLOAD_PAD = 'x'.repeat(48);
/** From the last publisher's last write to the last message in; the flood itself takes seconds. */
const ARRIVAL_BOUND_MS = 30_000;
/** Given up sooner when nothing at all arrives for this long: the rest is not coming. */
const STALL_MS = 3_000;

const payloadOf = (publisher: number | string, n: number) => `${publisher}:${n}:${PAYLOAD_PAD}`;
const keyOf = (payload: string) => payload.slice(0, payload.length - PAYLOAD_PAD.length - 1);

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An MQTT 3.1.1 client on a bare socket that decodes with mqtt-packet and keeps only what the
 * test counts, so the subscriber itself never drops nor falls behind on bookkeeping.
 */
class BareClient {
  readonly socket: Socket;
  /** Distinct "publisher:n" keys of PUBLISHes received, with how often each came. */
  readonly received = new Map<string, number>();
  /** Distinct keys of publisher "probe" (route probes) and of the others (the flood). */
  probes = 0;
  flood = 0;
  closedByServer = false;
  private ending = false;
  private readonly waiters: Array<{ check: () => boolean; resolve: () => void }> = [];
  private connack: (() => void) | undefined;
  private suback: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    const parser = createParser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => this.onPacket(packet));
    parser.on('error', (error: Error) => socket.destroy(error));
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => {});
    socket.once('close', () => {
      this.closedByServer = !this.ending;
      this.wake();
    });
  }

  static async open(port: number, clientId: string): Promise<BareClient> {
    const socket = netConnect({ port, host: '127.0.0.1' });
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const client = new BareClient(socket);
    const connacked = new Promise<void>((resolve) => (client.connack = resolve));
    socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 }));
    await within(connacked, 5_000, 'CONNACK');
    return client;
  }

  private onPacket(packet: Packet): void {
    if (packet.cmd === 'connack') this.connack?.();
    else if (packet.cmd === 'suback') this.suback?.();
    else if (packet.cmd === 'publish') {
      const key = keyOf(packet.payload.toString());
      const seen = this.received.get(key) ?? 0;
      this.received.set(key, seen + 1);
      if (seen === 0 && key.startsWith('probe:')) this.probes++;
      else if (seen === 0) this.flood++;
      this.wake();
    }
  }

  async subscribe(filter: string): Promise<void> {
    const subacked = new Promise<void>((resolve) => (this.suback = resolve));
    this.socket.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] }));
    await within(subacked, 5_000, 'SUBACK');
  }

  /** Resolves once `check` holds (checked on every PUBLISH) or the connection closed; rejects after `ms`. */
  until(check: () => boolean, ms: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return within(new Promise<void>((resolve) => this.waiters.push({ check, resolve })), ms, what);
  }

  /** As `until`, but also rejects once no PUBLISH at all has arrived for `stallMs`. */
  async untilOrStalled(check: () => boolean, ms: number, stallMs: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const before = this.flood + this.probes;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: not within ${ms} ms`);
      try {
        return await this.until(check, Math.min(stallMs, left), what);
      } catch (error) {
        if (this.flood + this.probes === before) throw new Error(`${what}: nothing arrived for ${stallMs} ms`, { cause: error });
      }
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.check() || this.socket.destroyed) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  /** Writes `chunks` one after another, waiting for 'drain' whenever the socket's buffer is full. */
  async writeAll(chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      if (this.socket.destroyed) throw new Error('the broker closed a publisher mid-flood');
      if (!this.socket.write(chunk)) await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close')]);
    }
    // Everything handed to the kernel.
    await new Promise<void>((resolve) => this.socket.write('', () => resolve()));
  }

  async end(): Promise<void> {
    this.ending = true;
    if (this.socket.destroyed) return;
    const closed = once(this.socket, 'close');
    this.socket.end(generate({ cmd: 'disconnect' }));
    this.socket.destroySoon();
    await closed;
  }
}

/** The publisher's PUBLISH packets, QoS 0, concatenated PACKETS_PER_WRITE to a chunk. */
function floodChunks(topic: string, publisher: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let start = 0; start < MESSAGES_PER_PUBLISHER; start += PACKETS_PER_WRITE) {
    const packets: Buffer[] = [];
    for (let n = start; n < Math.min(start + PACKETS_PER_WRITE, MESSAGES_PER_PUBLISHER); n++) {
      packets.push(generate({ cmd: 'publish', topic, payload: payloadOf(publisher, n), qos: 0, retain: false, dup: false }));
    }
    chunks.push(Buffer.concat(packets));
  }
  return chunks;
}

async function metric(node: NodeProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
  // Summed over labels: roost_messages_dropped_total has one series per reason.
  const lines = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return lines.length > 0 ? lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0) : NaN;
}

test(`QoS 0 fan-in across nodes: ${PUBLISHERS} publishers on node A flood ${TOTAL} messages to a subscriber on node B, and every one arrives`, async (t) => {
  const cluster: TestCluster = await startCluster(2);
  const clients: BareClient[] = [];
  try {
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const topic = unique('flood');
    const sub = await BareClient.open(b.mqttPort, unique('sub'));
    clients.push(sub);
    await sub.subscribe(`${topic}/#`);
    const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, () => BareClient.open(a.mqttPort, unique('pub'))));
    clients.push(...publishers);

    // The route reaches A a moment after SUBACK: probe until the subscriber sees one.
    const probe = `${topic}/probe`;
    for (let i = 0; sub.probes === 0; i++) {
      if (i >= 200) throw new Error('no route from A to the subscriber on B within 200 probes');
      publishers[0]!.socket.write(generate({ cmd: 'publish', topic: probe, payload: payloadOf('probe', i), qos: 0, retain: false, dup: false }));
      await sub.until(() => sub.probes > 0, 50, 'a probe').catch(() => undefined);
    }

    const dropsBefore = { forward: await metric(a, 'roost_cluster_forward_dropped_total'), a: await metric(a, 'roost_messages_dropped_total'), b: await metric(b, 'roost_messages_dropped_total') };
    const data = `${topic}/data`;
    const chunks = publishers.map((_, i) => floodChunks(data, i));
    const started = Date.now();
    // A broker that pushes back reads the publishers more slowly; bounded all the same.
    await within(Promise.all(publishers.map((pub, i) => pub.writeAll(chunks[i]!))), ARRIVAL_BOUND_MS, 'the publishers writing the flood');
    const written = Date.now();
    const arrived = await sub.untilOrStalled(() => sub.flood >= TOTAL, ARRIVAL_BOUND_MS, STALL_MS, 'every flood message at the subscriber').then(
      () => true,
      () => false,
    );
    const drops = {
      forward: (await metric(a, 'roost_cluster_forward_dropped_total')) - dropsBefore.forward,
      a: (await metric(a, 'roost_messages_dropped_total')) - dropsBefore.a,
      b: (await metric(b, 'roost_messages_dropped_total')) - dropsBefore.b,
    };
    const got = sub.flood;
    const report =
      `${got} of ${TOTAL} arrived (${(((TOTAL - got) / TOTAL) * 100).toFixed(2)}% missing); written in ${written - started} ms, ` +
      `waited ${Date.now() - written} ms more; A forward_dropped +${drops.forward}, A messages_dropped +${drops.a}, B messages_dropped +${drops.b}`;
    // Nothing failed: both nodes up, no client closed by the broker.
    assert.deepEqual(cluster.nodes.filter((node) => node.child.exitCode !== null).map((node) => node.nodeId), [], `no node exited; ${report}`);
    assert.equal(clients.filter((c) => c.closedByServer).length, 0, `no client was disconnected; ${report}`);
    assert.ok(arrived && got === TOTAL, report);
    const doubled = [...sub.received.values()].filter((n) => n > 1).length;
    assert.equal(doubled, 0, `no message arrived twice in a healthy cluster; ${report}`);
    t.diagnostic(report);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
    await cluster.stop();
  }
});
