// A rolling restart as Kubernetes runs one (docs/deploy.md, Graceful drain): three nodes, each
// in turn gets a replacement (maxSurge 1) and is then stopped with SIGTERM and a drain
// (ROOST_DRAIN_DELAY 1 s, ROOST_DRAIN_RATE 20/s), under QoS 1 load, with persistent-session
// subscribers that follow their DISCONNECT to another node. No acknowledged message may be
// lost; every drained node answers /readyz 503 while still serving and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import { ReasonCode } from '@roost/protocol';
import { AckLedger, SteadyPublisher } from '../helpers/ack-ledger.ts';
import { Chaos, RotatingClient, seededRandom } from '../helpers/chaos.ts';
import { unique } from '../helpers/clients.ts';

const NODES = 3;
const SUBSCRIBERS = 3;
const PUBLISHERS = 3;
const RATE_PER_PUBLISHER = 50;
/** After publishing stops: how long every acknowledged message has to arrive everywhere. */
const SETTLE_MS = 15_000;
const DRAIN_ENV = { ROOST_DRAIN_DELAY: '1', ROOST_DRAIN_RATE: '20', ROOST_MAX_QUEUED_MESSAGES: '1000000' };
const DATA = 'roll/data';
const PROBE = 'roll/probe';

/** Drain delay, a few clients at 20/s, the leave: far below this. */
const EXIT_BOUND_MS = 15_000;

function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what()}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function persistent(clientId: string): IClientOptions {
  return { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3_600 } };
}

test('rolling restart of all 3 nodes, each drained (SIGTERM) after its replacement is up, under QoS 1 load: no acknowledged message lost, /readyz 503 while draining, exit 0', { timeout: 90_000 }, async (t) => {
  const chaos = await Chaos.start(NODES, DRAIN_ENV, seededRandom(12));
  const clients: RotatingClient[] = [];
  const publishers: SteadyPublisher[] = [];
  t.after(async () => {
    for (const p of publishers) p.stop();
    await Promise.all(clients.map((c) => c.end()));
    await chaos.stop();
  });
  const subNames = Array.from({ length: SUBSCRIBERS }, (_, i) => `sub${i}`);
  const ledger = new AckLedger(subNames);
  const probed = new Map(subNames.map((name) => [name, new Set<string>()]));
  const original = chaos.nodes.slice(0, NODES);

  for (const [i, name] of subNames.entries()) {
    const rotating = await RotatingClient.connect(chaos, original[i % NODES]!, name, persistent(unique(`roll-${name}`)));
    clients.push(rotating);
    rotating.client.on('message', (topic, payload) => {
      if (topic.startsWith(`${DATA}/`)) ledger.receive(name, payload.toString());
      else if (topic.startsWith(`${PROBE}/`)) {
        probed.get(name)!.add(payload.toString());
        ledger.notify();
      }
    });
    await rotating.client.subscribeAsync('roll/#', { qos: 1 });
  }
  for (let i = 0; i < PUBLISHERS; i++) {
    const name = `pub${i}`;
    const rotating = await RotatingClient.connect(chaos, original[i % NODES]!, name, { clientId: unique(`roll-${name}`), protocolVersion: 5 });
    clients.push(rotating);
    publishers.push(new SteadyPublisher(rotating.client, name, `${DATA}/${name}`, ledger, RATE_PER_PUBLISHER, () => rotating.ready));
  }
  // Routes spread through Redis: count only once every publisher reaches every subscriber.
  const pubNames = publishers.map((_, i) => `pub${i}`);
  const probing = setInterval(() => clients.slice(SUBSCRIBERS).forEach((c, i) => c.client.publish(`${PROBE}/${i}`, pubNames[i]!, { qos: 0 })), 50);
  const routed = await ledger.until(() => [...probed.values()].every((seen) => pubNames.every((p) => seen.has(p))), 10_000);
  clearInterval(probing);
  assert.ok(routed, 'every subscriber routed from every publisher within 10 s');

  for (const p of publishers) p.start();
  const rounds: string[] = [];
  for (const old of original) {
    const replacement = await chaos.addNode();
    const exit = chaos.drain(old);
    await old.waitLog((line) => line.msg === 'draining: not ready, still serving');
    const readyz = await old.readyz();
    const stillOn = clients.filter((c) => c.node === old && c.ready).length;
    const code = await within(exit, EXIT_BOUND_MS, () => `${old.nodeId} to exit after SIGTERM\n${old.tail(40)}`);
    rounds.push(`${old.nodeId} -> ${replacement.nodeId}: /readyz ${readyz} with ${stillOn} clients still served, exit ${code}`);
    assert.equal(readyz, 503, `${old.nodeId}: /readyz during the drain delay`);
    assert.ok(stillOn > 0, `${old.nodeId}: its clients are still served during the delay`);
    assert.equal(code, 0, `${old.nodeId}: exit code`);
  }
  for (const p of publishers) p.stop();

  const complete = await ledger.until(() => ledger.complete(), SETTLE_MS);
  const report = [rounds.join('\n'), ledger.report('rolling restart')];
  for (const c of clients) report.push(`${c.name}: ${c.moves} moves, DISCONNECTs ${c.disconnects.map((rc) => `0x${rc.toString(16)}`).join(' ') || 'none'}, session present ${c.sessionPresent.join(' ')}`);
  t.diagnostic(report.join('\n'));
  assert.ok(complete, `every acknowledged message at every subscriber within ${SETTLE_MS} ms\n${report.join('\n')}`);
  assert.ok(ledger.acked.size > 500, `${ledger.acked.size} messages acknowledged: the load ran`);
  // Each client was on a drained node at some point and was told why it had to go, by nothing else.
  for (const c of clients) {
    assert.ok(c.disconnects.length > 0, `${c.name} got a DISCONNECT from a draining node`);
    assert.ok(c.disconnects.every((rc) => rc === ReasonCode.ServerShuttingDown), `${c.name}: ${c.disconnects}`);
  }
  for (const c of clients.slice(0, SUBSCRIBERS)) assert.ok(c.sessionPresent.slice(1).every(Boolean), `${c.name} resumed its session at every move`);
});
