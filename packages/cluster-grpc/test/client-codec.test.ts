// ClientView ↔ cluster.v1 ClientDescription through the real protobuf encoding, as the
// operations API's DescribeClients carries it between nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientView } from '@roost/broker';
import { decodeClient, encodeClient } from '../src/client-codec.ts';
import { WireFormatError } from '../src/codec.ts';
import { clusterService, type WireDescribeClientsReply } from '../src/proto.ts';

const method = clusterService.DescribeClients;

function overTheWire(views: ClientView[], withSubscriptions: boolean): ClientView[] {
  const bytes = method.responseSerialize({ clients: views.map(encodeClient) });
  const reply = method.responseDeserialize(bytes) as WireDescribeClientsReply;
  return reply.clients.map((wire) => decodeClient(wire, withSubscriptions));
}

const connected: ClientView = {
  clientId: 'sensor/7',
  node: undefined,
  connected: true,
  listener: 'tls',
  address: '[2001:db8::7]:50002',
  protocolVersion: 5,
  username: 'alice',
  keepAlive: 0,
  connectedAt: 1_796_193_000_123,
  sessionExpiry: 0xffffffff,
  queueLength: 3,
  inflight: 2,
  subscriptions: [
    { filter: 'a/+', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 268_435_455 },
    { filter: '$share/g/b/#', qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0 },
  ],
};

const offline: ClientView = { clientId: 'gone', node: undefined, connected: false, sessionExpiry: 60, disconnectedAt: 1_796_193_000_000, queueLength: 0, inflight: 0, subscriptions: [] };

test('a connected and an offline client survive the trip field for field, absent fields staying absent', () => {
  assert.deepEqual(overTheWire([connected, offline], true), [connected, offline]);
});

test('without subscriptions asked for, none are given (not an empty list that would read as none)', () => {
  const [view] = overTheWire([{ ...connected, subscriptions: undefined }], false);
  assert.equal(view!.subscriptions, undefined);
  assert.equal(view!.username, 'alice');
});

test('a description no Roost node encodes is refused', () => {
  assert.throws(() => decodeClient({ ...encodeClient(connected), protocolVersion: 6 }, false), WireFormatError);
  const bad = { ...encodeClient(connected) };
  bad.subscriptions = [{ ...bad.subscriptions[0]!, qos: 3 }];
  assert.throws(() => decodeClient(bad, true), WireFormatError);
});
