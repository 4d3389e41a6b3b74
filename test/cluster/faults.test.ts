// Fault tests of cluster mode, against real node processes and a real Redis: racing
// takeovers, SIGKILL mid-stream, a dead node's wills and routes, Redis restarted or absent,
// a paused peer. Each test owns its cluster, since each breaks it on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Redis } from 'ioredis';
import { startCluster, startNode, untilRouted, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { freePort, startRedis } from '../helpers/redis.ts';
import { connect, connectWithInbox, end, Inbox, unique } from '../helpers/clients.ts';

const SESSION_TAKEN_OVER = 0x8e;

/** Runs `body` with a cluster of `n` nodes and always tears it down. */
async function withCluster(n: number, env: Record<string, string>, body: (cluster: TestCluster) => Promise<void>): Promise<void> {
  const cluster = await startCluster(n, { env });
  try {
    await body(cluster);
  } finally {
    for (const node of cluster.nodes) if (node.child.signalCode === null && node.child.exitCode === null) node.child.kill('SIGCONT');
    await cluster.stop();
  }
}

/** A client created without waiting, whose fate (CONNACK, DISCONNECT, close) is recorded. */
interface Tracked {
  client: MqttClient;
  connected: boolean;
  closed: boolean;
  disconnectReason: number | undefined;
  whenClosed: Promise<void>;
  whenConnected: Promise<void>;
}

function track(url: string, options: IClientOptions): Tracked {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  const tracked = { client, connected: false, closed: false, disconnectReason: undefined } as Tracked;
  tracked.whenConnected = new Promise((resolve) => client.once('connect', () => ((tracked.connected = true), resolve())));
  tracked.whenClosed = new Promise((resolve) => client.once('close', () => ((tracked.closed = true), resolve())));
  client.on('disconnect', (packet) => (tracked.disconnectReason = packet.reasonCode ?? 0));
  client.on('error', () => {}); // a refused or cut connection shows as close
  return tracked;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it holds; for states that no event announces (Redis keys, counters). */
async function eventually(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Moves a client to another node, keeping its MQTT.js stores: unacknowledged outgoing
 * messages are resent (with DUP and their packet ids) and QoS 2 receive state survives, as a
 * client that reconnects through a load balancer to another node would behave.
 */
function moveTo(client: MqttClient, url: string): Promise<void> {
  const target = new URL(url);
  client.options.host = target.hostname;
  client.options.hostname = target.hostname;
  client.options.port = Number(target.port);
  const connected = new Promise<void>((resolve, reject) => {
    const onConnect = () => (client.off('close', onClose), resolve());
    const onClose = () => (client.off('connect', onConnect), reject(new Error(`closed before CONNACK from ${url}`)));
    client.once('connect', onConnect);
    client.once('close', onClose);
  });
  client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
  return connected;
}

/** Moves `client` to one of `urls` whenever its connection closes, until `stop()`; retries refused moves. */
function keepConnected(client: MqttClient, urls: () => string[]): { stop(): void; moves: number } {
  const state = { stopped: false, moves: 0, stop: () => (state.stopped = true) };
  const onClose = () => {
    if (state.stopped || client.disconnecting) return;
    setTimeout(() => void again(), 50);
  };
  const again = async () => {
    if (state.stopped || client.connected) return;
    const choices = urls();
    state.moves++;
    // A refused or cut attempt closes the client again, which schedules the next one.
    await moveTo(client, choices[state.moves % choices.length]!).catch(() => undefined);
  };
  client.on('close', onClose);
  return state;
}

const alive = (cluster: TestCluster) => cluster.nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);

// ---------------------------------------------------------------------------------------

for (const protocolVersion of [5, 4] as const) {
  test(`takeover race (v${protocolVersion === 5 ? '5' : '3.1.1'}): one client id on two nodes at once, 20 times: exactly one connection survives and works`, async () => {
    await withCluster(2, {}, async (cluster) => {
      const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
      const topic = unique('race');
      const observer = await connectWithInbox(b.url, { protocolVersion: 5 });
      await observer.client.subscribeAsync(`${topic}/#`, { qos: 1 });
      for (let round = 0; round < 20; round++) {
        const clientId = unique('racer');
        // Alternate clean and persistent sessions: the persistent ones hand state over.
        const persistent = round % 2 === 1;
        const options: IClientOptions = {
          clientId,
          protocolVersion,
          clean: !persistent,
          ...(protocolVersion === 5 && persistent ? { properties: { sessionExpiryInterval: 300 } } : {}),
        };
        const racers = [track(a.url, options), track(b.url, options)];
        await within(Promise.race(racers.map((r) => r.whenClosed)), 10_000, `round ${round}: one racer closed`);
        const losers = racers.filter((r) => r.closed);
        assert.equal(losers.length, 1, `round ${round}: exactly one racer closed`);
        const survivor = racers.find((r) => !r.closed)!;
        const loser = losers[0]!;
        await within(survivor.whenConnected, 10_000, `round ${round}: survivor's CONNACK`);
        if (protocolVersion === 5 && loser.disconnectReason !== undefined) {
          assert.equal(loser.disconnectReason, SESSION_TAKEN_OVER, `round ${round}: the loser's DISCONNECT says Session taken over`);
        }

        // The survivor publishes (seen on node b) and receives (from node b).
        const inbox = new Inbox(survivor.client);
        await survivor.client.subscribeAsync(`${topic}/${clientId}/in`, { qos: 1 });
        await untilRouted(observer.client, inbox, `${topic}/${clientId}/in`);
        await observer.client.publishAsync(`${topic}/${clientId}/in`, 'to survivor', { qos: 1 });
        await inbox.until((m) => m.payload.toString() === 'to survivor');
        await survivor.client.publishAsync(`${topic}/${clientId}/out`, 'from survivor', { qos: 1 });
        await observer.inbox.until((m) => m.topic === `${topic}/${clientId}/out`);

        assert.equal(survivor.closed, false, `round ${round}: the survivor is still connected`);
        assert.equal(loser.closed, true);
        await survivor.client.endAsync();
      }
      await end(observer.client);
    });
  });
}
