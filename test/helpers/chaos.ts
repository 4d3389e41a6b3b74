// Chaos for cluster tests: a seeded schedule of SIGKILLs with replacement nodes under new ids
// (as a Deployment makes a new pod) and of cut connections, and MQTT.js clients that follow the
// cluster round, each moving to the next live node whenever its connection is lost, with its
// stores kept.
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { startNode, type NodeProcess } from './cluster.ts';
import { unique } from './clients.ts';
import { startRedis, type RedisServer } from './redis.ts';

/** The seed of a chaos run: CHAOS_SEED=<n> replays one, otherwise a fresh one. */
export function chaosSeed(): number {
  const fixed = process.env.CHAOS_SEED;
  if (fixed !== undefined && fixed !== '') {
    const seed = Number(fixed);
    if (!Number.isSafeInteger(seed)) throw new Error(`CHAOS_SEED must be an integer (got "${fixed}")`);
    return seed >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32);
}

/** mulberry32: a small, fast PRNG whose whole sequence follows from its 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export interface ChaosEvent {
  /** ms since the chaos started */
  at: number;
  kind: 'kill' | 'drain' | 'start' | 'drop';
  nodeId: string;
  /** For a drop: the client whose connection was cut. */
  client?: string;
}

export interface ChaosSchedule {
  /** How long kills go on, ms from start. */
  durationMs: number;
  /** Each pause before the next kill is drawn from [min, max] ms. */
  killEveryMs: [number, number];
  /** Pause between a kill and the start of its replacement. */
  restartAfterMs: number;
  /**
   * Which of the live nodes to kill, given a number in [0, 1) from the seeded PRNG. By
   * default any live node; a test may prefer the ones holding its clients.
   */
  pick?: (live: NodeProcess[], random: number) => NodeProcess;
}

/**
 * A cluster of node processes on a Redis of its own, with the chaos done to it: nodes killed
 * and replaced on a schedule drawn from `random`, connections cut. It tells clients where to
 * go: a node marked for death is no longer offered, even before its process has gone. Every
 * process it starts is stopped by stop(), one still starting included.
 */
export class Chaos {
  /** Every node ever started, in start order (killed ones stay, so rotation keeps its order). */
  readonly nodes: NodeProcess[] = [];
  readonly events: ChaosEvent[] = [];
  private readonly env: Record<string, string>;
  private readonly random: () => number;
  private readonly prefix = `${unique('chaos')}:`;
  private redis: RedisServer | undefined;
  private readonly starting = new Set<NodeProcess>();
  private readonly dying = new Set<NodeProcess>();
  private readonly abort = new AbortController();
  private startedAt = 0;

  private constructor(env: Record<string, string>, random: () => number) {
    this.env = env;
    this.random = random;
  }

  /** `size` nodes with the extra settings `env`, started one after another. */
  static async start(size: number, env: Record<string, string>, random: () => number): Promise<Chaos> {
    const chaos = new Chaos(env, random);
    try {
      chaos.redis = await startRedis();
      for (let i = 0; i < size; i++) await chaos.addNode();
    } catch (error) {
      await chaos.stop();
      throw error;
    }
    return chaos;
  }

  /**
   * One more node under a new id; resolves once it listens. A start that fails because the
   * process exited (another process took its HTTP port between probe and bind) is tried again.
   */
  async addNode(): Promise<NodeProcess> {
    for (let attempt = 1; ; attempt++) {
      const node = await startNode(this.redis!.url, this.prefix, this.env, false);
      this.starting.add(node);
      try {
        await node.ready();
        this.nodes.push(node);
        return node;
      } catch (error) {
        const exited = node.child.exitCode !== null || node.child.signalCode !== null;
        await node.kill();
        if (!exited || attempt === 3 || this.abort.signal.aborted) throw error;
      } finally {
        this.starting.delete(node);
      }
    }
  }

  isLive(node: NodeProcess): boolean {
    return !this.dying.has(node) && node.child.exitCode === null && node.child.signalCode === null && node.mqttPort > 0;
  }

  live(): NodeProcess[] {
    return this.nodes.filter((node) => this.isLive(node));
  }

  /** The first live node after `node` in start order, round the list (`node` itself if it is the only one). */
  nextLive(node: NodeProcess): NodeProcess | undefined {
    const from = this.nodes.indexOf(node);
    for (let step = 1; step <= this.nodes.length; step++) {
      const candidate = this.nodes[(from + step) % this.nodes.length]!;
      if (this.isLive(candidate)) return candidate;
    }
    return undefined;
  }

  /** Date.now() when run() began (0 before), to line node log times up with the chaos clock. */
  startedAtEpoch(): number {
    return this.startedAt;
  }

  /** ms since run() began. */
  elapsed(): number {
    return this.startedAt === 0 ? 0 : Date.now() - this.startedAt;
  }

  /**
   * Runs the schedule: pause, kill one node (SIGKILL), pause, start its replacement under a
   * new id (awaiting its "roost listening"), until `durationMs` has passed. A replacement is
   * always started, so the cluster is whole again when this resolves. halt() ends it early.
   */
  async run(schedule: ChaosSchedule): Promise<void> {
    this.startedAt = Date.now();
    const signal = this.abort.signal;
    const pick = schedule.pick ?? ((live, r) => live[Math.floor(r * live.length)]!);
    const [min, max] = schedule.killEveryMs;
    for (;;) {
      const pause = min + this.random() * (max - min);
      if (this.elapsed() + pause > schedule.durationMs) return;
      if (!(await pauseFor(pause, signal))) return;
      const live = this.live();
      if (live.length < 2) continue;
      const victim = pick(live, this.random());
      this.dying.add(victim);
      this.events.push({ at: this.elapsed(), kind: 'kill', nodeId: victim.nodeId });
      await victim.kill();
      if (!(await pauseFor(schedule.restartAfterMs, signal))) return;
      const replacement = await this.addNode();
      this.events.push({ at: this.elapsed(), kind: 'start', nodeId: replacement.nodeId });
    }
  }

  /**
   * SIGTERM, as Kubernetes stops a pod: the node is offered to no client from now on (its own
   * clients stay until it lets them go); resolves with its exit code.
   */
  async drain(node: NodeProcess): Promise<number | null> {
    if (this.startedAt === 0) this.startedAt = Date.now();
    this.dying.add(node);
    this.events.push({ at: this.elapsed(), kind: 'drain', nodeId: node.nodeId });
    node.child.kill('SIGTERM');
    return node.exited;
  }

  /**
   * Until `durationMs` into the chaos, every [min, max] ms (drawn from `random`) cuts the
   * connection of one of the connected `clients`, as a network failure would: it moves to the
   * next live node as after a kill, so its session is taken over from a live node.
   */
  async dropConnections(clients: RotatingClient[], everyMs: [number, number], durationMs: number, random: () => number): Promise<void> {
    const [min, max] = everyMs;
    for (;;) {
      const pause = min + random() * (max - min);
      if (this.elapsed() + pause > durationMs) return;
      if (!(await pauseFor(pause, this.abort.signal))) return;
      const connected = clients.filter((client) => client.ready && this.isLive(client.node));
      if (connected.length === 0) continue;
      const victim = connected[Math.floor(random() * connected.length)]!;
      this.events.push({ at: this.elapsed(), kind: 'drop', nodeId: victim.node.nodeId, client: victim.name });
      victim.drop();
    }
  }

  /** Ends the schedules (run() and dropConnections() resolve at their next step). */
  halt(): void {
    this.abort.abort();
  }

  /** Halts, kills every node process (SIGKILL), starting ones included, and stops Redis. */
  async stop(): Promise<void> {
    this.halt();
    await Promise.all([...this.nodes, ...this.starting].map((node) => node.kill()));
    await this.redis?.stop();
  }
}

/** False when `signal` ended the pause. */
async function pauseFor(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * An MQTT.js client (reconnection off) that, whenever its connection closes, moves to the
 * next live node with its incoming and outgoing stores kept, as a device behind a load
 * balancer would: unacknowledged outgoing messages are resent with their packet ids, and QoS
 * 2 receive state survives. `ready` is true from a CONNACK whose stored resends are done
 * (MQTT.js emits 'connect' only then) until the next close.
 */
export class RotatingClient {
  readonly name: string;
  readonly client: MqttClient;
  node: NodeProcess;
  ready = false;
  /** Session Present of each CONNACK, the first included. */
  readonly sessionPresent: boolean[] = [];
  /** Connection attempts after the first. */
  moves = 0;
  /** Errors MQTT.js reported, by message. */
  readonly errors = new Map<string, number>();
  /** Reason codes of DISCONNECTs the server sent. */
  readonly disconnects: number[] = [];
  /** Each CONNACK and close, with the node and the time (ms into the chaos). */
  readonly history: Array<{ at: number; event: 'connect' | 'close'; nodeId: string }> = [];
  private readonly chaos: Chaos;
  private stopped = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly readyListeners = new Set<() => void>();

  private readonly delay: (failures: number) => number;

  private constructor(chaos: Chaos, node: NodeProcess, name: string, options: IClientOptions, delay: (failures: number) => number) {
    this.chaos = chaos;
    this.delay = delay;
    this.node = node;
    this.name = name;
    this.client = mqtt.connect(node.url, { reconnectPeriod: 0, connectTimeout: 5_000, resubscribe: false, ...options });
    this.client.on('connect', (connack: IConnackPacket) => {
      this.ready = true;
      this.failures = 0;
      this.sessionPresent.push(connack.sessionPresent);
      this.history.push({ at: this.chaos.elapsed(), event: 'connect', nodeId: this.node.nodeId });
      for (const listener of this.readyListeners) listener();
    });
    this.client.on('close', () => this.onClose());
    this.client.on('error', (error) => this.errors.set(error.message, (this.errors.get(error.message) ?? 0) + 1));
    this.client.on('disconnect', (packet) => {
      this.disconnects.push(packet.reasonCode ?? 0);
      // [MQTT-3.14.4-1]: after a DISCONNECT the connection is done, whatever the server does next.
      setImmediate(() => this.client.stream?.destroy());
    });
  }

  /**
   * Connects to `node` and resolves at the first CONNACK (rejects after `ms`). `delay` gives
   * the pause before each move, from the number of closes since the last CONNACK (1 after a
   * working connection was lost); by default 50 ms, doubling up to a second.
   */
  static async connect(
    chaos: Chaos,
    node: NodeProcess,
    name: string,
    options: IClientOptions,
    { delay = backoff, ms = 10_000 }: { delay?: (failures: number) => number; ms?: number } = {},
  ): Promise<RotatingClient> {
    const rotating = new RotatingClient(chaos, node, name, options, delay);
    try {
      await rotating.whenReady(ms);
    } catch (error) {
      await rotating.end();
      throw error;
    }
    return rotating;
  }

  /** Calls `listener` at every CONNACK from now on. */
  onReady(listener: () => void): void {
    this.readyListeners.add(listener);
  }

  /** Resolves once the client is ready (now, or at its next CONNACK); rejects after `ms`. */
  whenReady(ms: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyListeners.delete(listener);
        reject(new Error(`${this.name}: not connected within ${ms} ms (${this.moves} moves)`));
      }, ms);
      const listener = () => {
        clearTimeout(timer);
        this.readyListeners.delete(listener);
        resolve();
      };
      this.readyListeners.add(listener);
    });
  }

  /** Where the client was at `at` (ms into the chaos): "on <node>" or "offline since <t> (was on <node>)". */
  whereAt(at: number): string {
    const last = this.history.findLast((h) => h.at <= at);
    if (!last) return 'not connected yet';
    return last.event === 'connect' ? `on ${last.nodeId} since ${(last.at / 1000).toFixed(2)} s` : `offline since ${(last.at / 1000).toFixed(2)} s (was on ${last.nodeId})`;
  }

  /** The client's connects and closes within `ms` either side of `at` (ms into the chaos). */
  historyAround(at: number, ms: number): string {
    return this.history
      .filter((h) => Math.abs(h.at - at) <= ms)
      .map((h) => `${h.event} ${h.nodeId} ${(h.at / 1000).toFixed(2)}`)
      .join(', ');
  }

  private onClose(): void {
    this.history.push({ at: this.chaos.elapsed(), event: 'close', nodeId: this.node.nodeId });
    this.ready = false;
    if (this.stopped || this.timer) return;
    this.failures++;
    this.timer = setTimeout(() => this.move(), this.delay(this.failures));
  }

  private move(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const next = this.chaos.nextLive(this.node);
    if (!next) {
      this.timer = setTimeout(() => this.move(), backoff(++this.failures));
      return;
    }
    this.node = next;
    this.moves++;
    const target = new URL(next.url);
    this.client.options.host = target.hostname;
    this.client.options.hostname = target.hostname;
    this.client.options.port = Number(target.port);
    // A refused or cut attempt closes the client again, which schedules the next move.
    this.client.reconnect({ incomingStore: this.client.incomingStore, outgoingStore: this.client.outgoingStore });
  }

  /** Cuts the connection without DISCONNECT; the client then moves as after any loss. */
  drop(): void {
    this.client.stream?.destroy();
  }

  /** No more moves; the connection stays as it is. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stops moving and closes the connection at once (no DISCONNECT, so sessions and wills stay as they are). */
  async end(): Promise<void> {
    this.stop();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      this.client.end(true, {}, () => (clearTimeout(timer), resolve()));
    });
  }
}

/** 50 ms after a lost connection, doubling for each refused attempt up to a second. */
export function backoff(failures: number): number {
  return Math.min(50 * 2 ** Math.min(failures - 1, 5), 1_000);
}
