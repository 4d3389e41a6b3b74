// Chaos, as an operator would try the cluster's central promise (docs/cluster.md, node death):
// three nodes on one Redis, one of them SIGKILLed every few seconds and replaced by a node
// under a new id (a Deployment's new pod), and now and then a client's connection cut, while
// publishers stream numbered messages and persistent subscribers (plain and one $share group)
// follow the cluster round, each moving to the next live node when its connection is lost.
// Afterwards every acknowledged message must have reached every plain subscriber and some
// member of the group; at QoS 2 none may arrive twice, nor at two members. A message never
// acknowledged (refused, or still unanswered at the end) may be lost.
//
// The schedule (kills, cuts, reconnect pauses) is drawn from a seed, printed at the start and
// in any failure: CHAOS_SEED=<n> replays it (the timing of messages still varies per run).
import { test } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import { ReasonCode } from '@roost/protocol';
import type { NodeProcess } from '../helpers/cluster.ts';
import { unique } from '../helpers/clients.ts';
import { backoff, Chaos, chaosSeed, RotatingClient, seededRandom, type ChaosEvent } from '../helpers/chaos.ts';

const CHAOS_MS = 45_000;
const KILL_EVERY_MS: [number, number] = [3_000, 5_000];
const RESTART_AFTER_MS = 1_000;
/** Between kills, a client's connection is cut now and then (a network failure): it moves to the next live node too. */
const DROP_EVERY_MS: [number, number] = [1_500, 3_000];
/** After publishing stops: how long every acknowledged message has to arrive everywhere. */
const DRAIN_MS = 20_000;
const PUBLISHERS = 6;
const RATE_PER_PUBLISHER = 50; // messages per second
const MAX_UNACKED = 100; // per publisher; a publisher waiting on that many acks pauses
const SUBSCRIBERS = 3;
const GROUP_MEMBERS = 3;
const GROUP = 'chaos-group';
const SESSION_EXPIRY = 3_600;
/**
 * After losing its connection a device waits a moment drawn from these bounds before it
 * moves, as real ones do (backoff with jitter): some come back before the dead node is
 * declared dead (ROOST_NODE_TIMEOUT 1500), some while it is reaped, some after.
 */
const SUBSCRIBER_RECONNECT_MS: [number, number] = [50, 3_000];
const PUBLISHER_RECONNECT_MS: [number, number] = [50, 1_500];
const DATA = 'chaos/data';
const PROBE = 'chaos/probe';

const SEED = chaosSeed();

/**
 * What was acknowledged and what arrived where, with counters kept up to date on every event
 * so that the drain can wait for "everything arrived" without polling.
 */
class Ledger {
  /** Acknowledged payload -> when it was published (ms into the chaos). */
  readonly acked = new Map<string, number>();
  /** Acknowledged payload -> the node its publisher first sent it to. */
  readonly origin = new Map<string, string>();
  /** Subscriber (plain or member) -> payload -> copies received. */
  readonly copies = new Map<string, Map<string, number>>();
  /** Payload -> the group members that received it. */
  readonly groupMembers = new Map<string, Set<string>>();
  /** Plain subscriber -> publishers whose probe it saw; '$group' for the group. */
  readonly probed = new Map<string, Set<string>>();
  unacked = 0;
  private readonly plain: string[];
  /** Plain subscriber, or '$group' -> how many acknowledged payloads it has received. */
  private readonly complete = new Map<string, number>();
  private readonly listeners = new Set<() => void>();

  constructor(plain: string[], members: string[]) {
    this.plain = plain;
    for (const name of [...plain, ...members]) this.copies.set(name, new Map());
    for (const name of [...plain, '$group']) {
      this.complete.set(name, 0);
      this.probed.set(name, new Set());
    }
  }

  ack(payload: string, publishedAt: number, nodeId: string): void {
    this.acked.set(payload, publishedAt);
    this.origin.set(payload, nodeId);
    for (const sub of this.plain) if (this.copies.get(sub)!.has(payload)) this.bump(sub);
    if (this.groupMembers.has(payload)) this.bump('$group');
    this.notify();
  }

  settled(): void {
    this.unacked--;
    this.notify();
  }

  receive(subscriber: string, member: boolean, payload: string): void {
    const copies = this.copies.get(subscriber)!;
    const n = (copies.get(payload) ?? 0) + 1;
    copies.set(payload, n);
    if (member) {
      const members = this.groupMembers.get(payload) ?? new Set<string>();
      if (members.size === 0 && this.acked.has(payload)) this.bump('$group');
      members.add(subscriber);
      this.groupMembers.set(payload, members);
    } else if (n === 1 && this.acked.has(payload)) {
      this.bump(subscriber);
    }
    this.notify();
  }

  probe(subscriber: string, member: boolean, publisher: string): void {
    this.probed.get(member ? '$group' : subscriber)!.add(publisher);
    this.notify();
  }

  /** Every acknowledged message everywhere, and no publisher waiting on an ack. */
  drained(): boolean {
    return this.unacked === 0 && [...this.complete.values()].every((n) => n === this.acked.size);
  }

  /** Resolves true once `condition` holds (checked at every event), false after `ms`. */
  until(condition: () => boolean, ms: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        finish(true);
      };
      const finish = (result: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), ms);
      this.listeners.add(check);
    });
  }

  private bump(name: string): void {
    this.complete.set(name, this.complete.get(name)! + 1);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/**
 * Publishes `<name>:<seq>` on `chaos/data/<name>` at a steady rate while its client is ready,
 * each payload once (a message refused with an error is not published again, so that any copy
 * a subscriber gets twice is the broker's). Unacknowledged messages stay in MQTT.js's store
 * across moves and are resent with their packet ids.
 */
class Publisher {
  readonly rotating: RotatingClient;
  /** Completed with PUBCOMP 0x92 after a move: its PUBREC had come, so the broker had it. */
  completedNotFound = 0;
  readonly refused = new Map<string, number>();
  private seq = 0;
  private unacked = 0;
  private budget = 0;
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly qos: 1 | 2;
  private readonly ledger: Ledger;
  private readonly chaos: Chaos;

  constructor(rotating: RotatingClient, qos: 1 | 2, ledger: Ledger, chaos: Chaos) {
    this.rotating = rotating;
    this.qos = qos;
    this.ledger = ledger;
    this.chaos = chaos;
  }

  get published(): number {
    return this.seq;
  }

  get outstanding(): number {
    return this.unacked;
  }

  start(): void {
    this.last = Date.now();
    this.timer = setInterval(() => this.tick(), 1_000 / RATE_PER_PUBLISHER);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = Date.now();
    this.budget = Math.min(this.budget + ((now - this.last) * RATE_PER_PUBLISHER) / 1_000, 10);
    this.last = now;
    if (!this.rotating.ready) {
      this.budget = 0;
      return;
    }
    while (this.budget >= 1 && this.unacked < MAX_UNACKED) {
      this.budget--;
      this.send();
    }
  }

  private send(): void {
    const payload = `${this.rotating.name}:${++this.seq}`;
    const publishedAt = this.chaos.elapsed();
    const nodeId = this.rotating.node.nodeId;
    this.unacked++;
    this.ledger.unacked++;
    this.rotating.client.publish(`${DATA}/${this.rotating.name}`, payload, { qos: this.qos }, (error) => {
      this.unacked--;
      const code = (error as { code?: number } | undefined)?.code;
      // A PUBREL resent after a move can find its id already released (the dead node took the
      // PUBREL, its PUBCOMP was lost with it): the new node answers PUBCOMP 0x92. The PUBREC had
      // come before the PUBREL went out, so the broker owned the message: it must arrive.
      if (error && this.qos === 2 && code === ReasonCode.PacketIdentifierNotFound) this.completedNotFound++;
      if (!error || (this.qos === 2 && code === ReasonCode.PacketIdentifierNotFound)) {
        this.ledger.ack(payload, publishedAt, nodeId);
      } else {
        const key = code === undefined ? error.message : `0x${code.toString(16)}`;
        this.refused.set(key, (this.refused.get(key) ?? 0) + 1);
      }
      this.ledger.settled();
    });
  }
}

/** The pause before a move: drawn from `bounds` after a lost connection, then backing off while refused. */
function deviceDelay(random: () => number, [min, max]: [number, number]): (failures: number) => number {
  return (failures) => (failures === 1 ? min + random() * (max - min) : backoff(failures));
}

function persistent(clientId: string): IClientOptions {
  return { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: SESSION_EXPIRY } };
}

/** Until each publisher's probe has reached every plain subscriber and the group, so no route is still spreading when the count starts. */
async function untilRouted(publishers: Publisher[], ledger: Ledger): Promise<void> {
  const names = publishers.map((p) => p.rotating.name);
  const routed = () => [...ledger.probed.values()].every((seen) => names.every((name) => seen.has(name)));
  const timer = setInterval(() => {
    for (const p of publishers) p.rotating.client.publish(`${PROBE}/${p.rotating.name}`, p.rotating.name, { qos: 0 });
  }, 50);
  try {
    assert.ok(await ledger.until(routed, 10_000), 'every subscriber and the group routed from every publisher within 10 s');
  } finally {
    clearInterval(timer);
  }
}

/** Warnings and errors the nodes logged, by message: errors first, then the most frequent. */
const DEBUG_EVENTS = new Set(['delivery for a client with no session here']);

function brokerComplaints(nodes: NodeProcess[]): string[] {
  const counts = new Map<string, { n: number; error: boolean }>();
  for (const node of nodes) {
    for (const line of node.lines) {
      // Debug events that explain a loss (seen with CHAOS_LOG_LEVEL=debug), counted like warnings.
      if (line.level < 40 && !DEBUG_EVENTS.has(String(line.msg))) continue;
      const err = (line.err as { message?: string } | undefined)?.message;
      const error = line.level >= 50;
      // Peer addresses and ids vary per run; the first 160 characters tell the kinds apart.
      const key = `[${error ? 'error' : line.level >= 40 ? 'warn' : 'debug'}] ${line.msg}${err ? `: ${err}` : ''}`.slice(0, 160);
      counts.set(key, { n: (counts.get(key)?.n ?? 0) + 1, error });
    }
  }
  return [...counts]
    .sort(([, x], [, y]) => Number(y.error) - Number(x.error) || y.n - x.n)
    .slice(0, 25)
    .map(([key, { n }]) => `${n} x ${key}`);
}

const COUNTERS = [
  'roost_messages_dropped_total',
  'roost_qos2_duplicates_skipped_total',
  'roost_deliveries_without_session_total',
  'roost_shared_handed_back_total',
  'roost_cluster_forward_dropped_total',
  'roost_session_write_failures_total',
];

/** Counters of the nodes alive at the end, summed (the killed ones took theirs with them). */
async function survivorCounters(nodes: NodeProcess[]): Promise<string> {
  const sums = new Map<string, number>(COUNTERS.map((name) => [name, 0]));
  for (const node of nodes) {
    const text = await fetch(`http://127.0.0.1:${node.httpPort}/metrics`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.text(),
      () => '',
    );
    for (const line of text.split('\n')) {
      // Labelled series (roost_messages_dropped_total{reason}) add up under their name.
      const name = line.split(/[{ ]/)[0]!;
      if (sums.has(name)) sums.set(name, sums.get(name)! + Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
  }
  return [...sums].map(([name, n]) => `${name.replace(/^roost_/, '')} ${n}`).join(', ');
}

/** A few lost messages: when and where each was published, and where the given subscribers were then. */
function lostExamples(lost: string[], ledger: Ledger, where: RotatingClient[]): string {
  return lost
    .slice(0, 3)
    .map((payload) => {
      const at = ledger.acked.get(payload)!;
      const around = where.map((c) => `${c.name}: ${c.historyAround(at, 3_000) || 'none'}`).join('; ');
      return `${payload} first sent at ${(at / 1000).toFixed(2)} s to ${ledger.origin.get(payload)}, when ${where.map((c) => `${c.name} was ${c.whereAt(at)}`).join(', ')} (within 3 s: ${around})`;
    })
    .join('; ');
}

/** Lost messages grouped by the last kill or cut connection before they were published. */
function lostByEvent(lost: string[], ledger: Ledger, events: ChaosEvent[]): string {
  const faults = events.filter((e) => e.kind !== 'start');
  const buckets = new Map<string, number>();
  for (const payload of lost) {
    const at = ledger.acked.get(payload)!;
    const fault = faults.findLast((e) => e.at <= at);
    const key = !fault ? 'before any fault' : `after ${fault.kind} ${fault.client ? `${fault.client}@` : ''}${fault.nodeId} at ${(fault.at / 1000).toFixed(1)} s`;
    buckets.set(key, (buckets.get(key) ?? 0) + 1);
  }
  return [...buckets].map(([key, n]) => `${key}: ${n}`).join(', ');
}

interface Run {
  qos: 1 | 2;
  tag: string;
  seed: number;
  chaos: Chaos;
  ledger: Ledger;
  plainNames: string[];
  memberNames: string[];
  clients: RotatingClient[];
  publishers: Publisher[];
}

/**
 * Subscribers (plain, then group members) and publishers spread over the three nodes, each
 * added to `run.clients` as soon as it exists so that teardown ends it whatever fails next.
 */
async function connectClients(run: Run): Promise<void> {
  const { chaos, qos, ledger, seed } = run;
  const nodes = chaos.nodes.slice(0, 3);
  // Each client's reconnect pauses come from a PRNG of its own, seeded from the level's.
  const random = () => seededRandom((seed + 7_919 * (run.clients.length + 1)) >>> 0);
  const connectOne = async (node: NodeProcess, name: string, options: IClientOptions, bounds: [number, number]) => {
    const rotating = await RotatingClient.connect(chaos, node, name, options, { delay: deviceDelay(random(), bounds) });
    run.clients.push(rotating);
    return rotating;
  };
  for (const [i, name] of [...run.plainNames, ...run.memberNames].entries()) {
    const member = i >= run.plainNames.length;
    const rotating = await connectOne(nodes[i % 3]!, name, persistent(unique(`chaos-${name}`)), SUBSCRIBER_RECONNECT_MS);
    rotating.client.on('message', (topic, payload) => {
      if (topic.startsWith(`${DATA}/`)) ledger.receive(name, member, payload.toString());
      else if (topic.startsWith(`${PROBE}/`)) ledger.probe(name, member, payload.toString());
    });
    await rotating.client.subscribeAsync(member ? `$share/${GROUP}/chaos/#` : 'chaos/#', { qos });
  }
  for (let i = 0; i < PUBLISHERS; i++) {
    const name = `pub${i}`;
    // QoS 2 publishers keep their session, so a resend after a move is known by its packet id.
    const options: IClientOptions = qos === 2 ? persistent(unique(`chaos-${name}`)) : { clientId: unique(`chaos-${name}`), protocolVersion: 5 };
    const rotating = await connectOne(nodes[i % 3]!, name, options, PUBLISHER_RECONNECT_MS);
    run.publishers.push(new Publisher(rotating, qos, ledger, chaos));
  }
}

/** Publishing through kills and cut connections for CHAOS_MS; resolves once the last replacement listens and publishing stopped. */
async function unleash(run: Run): Promise<void> {
  const { chaos, clients, publishers, seed } = run;
  const kills = chaos.run({
    durationMs: CHAOS_MS,
    killEveryMs: KILL_EVERY_MS,
    restartAfterMs: RESTART_AFTER_MS,
    // Kill where the traffic is: a live node holding some of the clients, when there is one.
    pick: (live, r) => {
      const busy = live.filter((node) => clients.some((client) => client.ready && client.node === node));
      const from = busy.length > 0 ? busy : live;
      return from[Math.floor(r * from.length)]!;
    },
  });
  const drops = chaos.dropConnections(clients, DROP_EVERY_MS, CHAOS_MS, seededRandom((seed ^ 0x5bd1e995) >>> 0));
  for (const p of publishers) p.start();
  try {
    await Promise.all([kills, drops]);
  } finally {
    for (const p of publishers) p.stop();
  }
}

/** The counts, as lines to print, and what fails the test. */
function count(run: Run, drained: boolean, chaosMs: number, drainMs: number): { lines: string[]; failures: string[] } {
  const { qos, tag, chaos, ledger, publishers } = run;
  const lines: string[] = [];
  const failures: string[] = [];
  const kills = chaos.events.filter((e) => e.kind === 'kill').length;
  const cuts = chaos.events.filter((e) => e.kind === 'drop').length;
  const timeline = chaos.events.map((e) => `${(e.at / 1000).toFixed(1)}s ${e.kind} ${e.client ? `${e.client}@` : ''}${e.nodeId}`).join(', ');
  lines.push(`${tag}: seed ${SEED}, ${(chaosMs / 1000).toFixed(1)} s of chaos, ${kills} kills, ${cuts} connections cut: ${timeline}`);
  lines.push(`${tag}: drain ${drained ? 'complete' : 'NOT complete'} after ${(drainMs / 1000).toFixed(1)} s`);
  const sum = (f: (p: Publisher) => number) => publishers.reduce((n, p) => n + f(p), 0);
  const refused = new Map<string, number>();
  for (const p of publishers) for (const [key, n] of p.refused) refused.set(key, (refused.get(key) ?? 0) + n);
  lines.push(
    `${tag}: published ${sum((p) => p.published)}, acknowledged ${ledger.acked.size}` +
      (qos === 2 ? ` (${sum((p) => p.completedNotFound)} of them by PUBCOMP 0x92 after a move)` : '') +
      `, refused ${[...refused.values()].reduce((x, y) => x + y, 0)} ${JSON.stringify(Object.fromEntries(refused))}` +
      `, unacknowledged at the end ${sum((p) => p.outstanding)}`,
  );
  countPlain(run, lines, failures);
  countGroup(run, lines, failures);
  for (const client of run.clients) {
    const fresh = client.sessionPresent.slice(1).filter((present) => !present).length;
    lines.push(
      `${tag}: ${client.name}: ${client.moves} moves, ${client.sessionPresent.length - 1} reconnects, ${fresh} without session` +
        (client.disconnects.length > 0 ? `, DISCONNECTs ${client.disconnects.map((code) => `0x${code.toString(16)}`).join(' ')}` : '') +
        (client.errors.size > 0 ? `, errors ${JSON.stringify(Object.fromEntries(client.errors))}` : ''),
    );
  }
  lines.push(`${tag}: broker warnings and errors:\n  ${brokerComplaints(chaos.nodes).join('\n  ') || 'none'}`);
  // Not a fault of the schedule: a node that missed its heartbeat (a starved CPU) and was
  // reaped while alive, which the cluster does not promise to survive (docs/cluster.md).
  const lapsed = chaos.nodes.filter((node) => node.lines.some((line) => String(line.msg).startsWith('heartbeat lapsed')));
  if (lapsed.length > 0) {
    const note = `nodes reaped while alive (heartbeat lapsed: the machine starved them; not a promised case): ${lapsed.map((node) => node.nodeId).join(', ')}`;
    lines.push(`${tag}: ${note}`);
    if (failures.length > 0) failures.push(note);
  }
  return { lines, failures };
}

/** Each plain subscriber must have every acknowledged message; at QoS 2, once. */
function countPlain(run: Run, lines: string[], failures: string[]): void {
  const { qos, tag, chaos, ledger } = run;
  const acked = [...ledger.acked.keys()];
  for (const name of run.plainNames) {
    const copies = ledger.copies.get(name)!;
    const lost = acked.filter((payload) => !copies.has(payload));
    const duplicated = [...copies.values()].filter((n) => n > 1).length;
    const where = run.clients.filter((c) => c.name === name);
    lines.push(
      `${tag}: ${name} received ${copies.size} distinct, lost ${lost.length}, duplicated ${duplicated}` +
        (lost.length > 0 ? ` (lost ${lostByEvent(lost, ledger, chaos.events)}; e.g. ${lostExamples(lost, ledger, where)})` : ''),
    );
    if (lost.length > 0) failures.push(`${name} lost ${lost.length}`);
    if (qos === 2 && duplicated > 0) failures.push(`${name} received ${duplicated} twice`);
  }
}

/** Some member of the group must have every acknowledged message; at QoS 2, one member, once. */
function countGroup(run: Run, lines: string[], failures: string[]): void {
  const { qos, tag, chaos, ledger, memberNames } = run;
  const lost = [...ledger.acked.keys()].filter((payload) => !ledger.groupMembers.has(payload));
  const twice = [...ledger.groupMembers].filter(([, members]) => members.size > 1);
  const twoMembers = twice.length;
  const duplicated = memberNames.map((name) => [...ledger.copies.get(name)!.values()].filter((n) => n > 1).length);
  const perMember = memberNames.map((name, i) => `${name} ${ledger.copies.get(name)!.size} (${duplicated[i]} twice)`).join(', ');
  const members = run.clients.filter((c) => memberNames.includes(c.name));
  lines.push(
    `${tag}: group received ${ledger.groupMembers.size} distinct [${perMember}], lost ${lost.length}, reached two members ${twoMembers}` +
      (lost.length > 0 ? ` (lost ${lostByEvent(lost, ledger, chaos.events)}; e.g. ${lostExamples(lost, ledger, members)})` : '') +
      (twoMembers > 0 ? ` (at two members: ${twice.slice(0, 3).map(([payload, at]) => `${[...at].join('+')} got ${lostExamples([payload], ledger, members)}`).join('; ')})` : ''),
  );
  if (lost.length > 0) failures.push(`the group lost ${lost.length}`);
  if (qos === 2 && twoMembers > 0) failures.push(`${twoMembers} reached two group members`);
  const selfDuplicated = duplicated.reduce((x, y) => x + y, 0);
  if (qos === 2 && selfDuplicated > 0) failures.push(`group members received ${selfDuplicated} twice`);
}

/** CHAOS_LOG_DIR=<dir>: a failed run leaves every node's log lines and the report there, to trace a loss. */
function keepLogs(dir: string, run: Run, lines: string[]): void {
  const at = join(dir, `${run.tag.replace(' ', '-')}-${SEED}-${Date.now()}`);
  mkdirSync(at, { recursive: true });
  for (const node of run.chaos.nodes) writeFileSync(join(at, `${node.nodeId}.jsonl`), node.lines.map((l) => JSON.stringify(l)).join('\n'));
  writeFileSync(join(at, 'report.txt'), lines.join('\n'));
  const start = run.chaos.startedAtEpoch();
  writeFileSync(join(at, 'clients.txt'), run.clients.map((c) => `${c.name} ${c.client.options.clientId}: ${c.historyAround(0, Number.MAX_SAFE_INTEGER)} (chaos started at epoch ms ${start})`).join('\n'));
  console.log(`${run.tag}: logs kept in ${at}`);
}

async function chaosRun(qos: 1 | 2): Promise<void> {
  const tag = `chaos q${qos}`;
  const seed = (SEED + qos * 0x9e3779b9) >>> 0;
  console.log(`${tag}: CHAOS_SEED=${SEED} (level seed ${seed})`);
  // Queues far above what a subscriber offline for a few seconds gathers, so that no
  // acknowledged message is dropped by the (documented) overflow policy.
  const logLevel: Record<string, string> = process.env.CHAOS_LOG_LEVEL ? { ROOST_LOG_LEVEL: process.env.CHAOS_LOG_LEVEL } : {};
  const chaos = await Chaos.start(3, { ROOST_MAX_QUEUED_MESSAGES: '1000000', ...logLevel }, seededRandom(seed));
  const plainNames = Array.from({ length: SUBSCRIBERS }, (_, i) => `sub${i}`);
  const memberNames = Array.from({ length: GROUP_MEMBERS }, (_, i) => `member${i}`);
  const ledger = new Ledger(plainNames, memberNames);
  const run: Run = { qos, tag, seed, chaos, ledger, plainNames, memberNames, clients: [], publishers: [] };
  try {
    await connectClients(run);
    await untilRouted(run.publishers, ledger);
    await unleash(run);
    const chaosMs = chaos.elapsed();
    const drained = await ledger.until(() => ledger.drained(), DRAIN_MS);
    const drainMs = chaos.elapsed() - chaosMs;
    const { lines, failures } = count(run, drained, chaosMs, drainMs);
    lines.push(`${tag}: counters of the nodes alive at the end: ${await survivorCounters(chaos.live())}`);
    console.log(lines.join('\n'));
    if (failures.length > 0 && process.env.CHAOS_LOG_DIR) keepLogs(process.env.CHAOS_LOG_DIR, run, lines);
    if (failures.length > 0) assert.fail(`${tag} (replay with CHAOS_SEED=${SEED}): ${failures.join('; ')}\n${lines.join('\n')}`);
  } finally {
    chaos.halt();
    for (const p of run.publishers) p.stop();
    await Promise.all(run.clients.map((client) => client.end()));
    await chaos.stop();
  }
}

// History (#9): until 2026-12-02 about 1 run in 5 lost a few messages (a forward overtaken by
// the Takeover call, moved-sessions.ts); QoS 2 then failed 3 times in about 25 runs (queued
// sends before their id was durable, two offers of one shared message at once, a hand-back
// from a leaving member) and once in 15 more (a hand-back its node ran on after the session
// moved on: shared-handback-takeover.test.ts). Each cause has a test that failed before its
// fix. On the final code: 12 runs of QoS 2 and 8 of QoS 1 on a machine loaded by benchmarks;
// the one failure was a node reaped while alive (heartbeat lapsed), which the report names.
test(
  `chaos, QoS 1: through a SIGKILL every few seconds, every acknowledged message reaches every persistent subscriber and the shared group (seed ${SEED})`,
  { timeout: 150_000 },
  () => chaosRun(1),
);

test(
  `[MQTT-4.3.3-10] chaos, QoS 2: through a SIGKILL every few seconds, every completed message reaches every persistent subscriber and the shared group exactly once (seed ${SEED})`,
  { timeout: 150_000 },
  () => chaosRun(2),
);
