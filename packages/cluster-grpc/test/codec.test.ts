// Message ↔ cluster.v1 wire, through the real protobuf serialisers but without a network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@roost/protocol';
import { decodeMessage, encodeMessage, WireFormatError } from '../src/codec.ts';
import { clusterService, type WireMessage } from '../src/proto.ts';

/** What a receiver decodes after the message crossed the wire in a batch. */
function roundTrip(message: Message): Message {
  const { requestSerialize, requestDeserialize } = clusterService.Forward;
  const bytes = requestSerialize({ seq: 1, fromNode: 'a', messages: [encodeMessage(message)], routedAt: 1_700_000_000_000 });
  return decodeMessage(requestDeserialize(bytes).messages[0]!);
}

test('a batch keeps its routing time to the millisecond, and a batch without one reads as 0 (unknown)', () => {
  const { requestSerialize, requestDeserialize } = clusterService.Forward;
  assert.equal(requestDeserialize(requestSerialize({ seq: 1, fromNode: 'a', messages: [], routedAt: 1_796_191_440_438 })).routedAt, 1_796_191_440_438);
  const old = { seq: 1, fromNode: 'a', messages: [] } as unknown as Parameters<typeof requestSerialize>[0];
  assert.equal(requestDeserialize(requestSerialize(old)).routedAt, 0);
});

test('a bare message comes back without properties, expiry or origin', () => {
  const message: Message = { topic: 'a/b', payload: Buffer.from('hi'), qos: 0, retain: false };
  assert.deepEqual(roundTrip(message), message);
});

test('every property survives: bytes exact, user properties in order with repeated names', () => {
  const message: Message = {
    topic: 'sensors/1',
    payload: Buffer.from([0, 255, 1, 254]),
    qos: 2,
    retain: true,
    properties: {
      payloadFormatIndicator: false,
      contentType: 'application/octet-stream',
      responseTopic: 'replies/1',
      correlationData: Buffer.from([9, 0, 9]),
      userProperties: { z: 'last-name-first', dup: ['1', '2', '3'], '': '', 'é': 'ü' },
    },
    expiresAt: 1_900_000_000_123,
    origin: 'client-7',
  };
  const decoded = roundTrip(message);
  assert.deepEqual(decoded, message);
  assert.deepEqual(Object.keys(decoded.properties!.userProperties!), ['z', 'dup', '', 'é']);
});

test('an empty payload and empty properties stay empty', () => {
  const message: Message = { topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, properties: {} };
  assert.deepEqual(roundTrip(message), message);
});

test('a user property named __proto__ stays a plain property', () => {
  const message: Message = { topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, properties: { userProperties: JSON.parse('{"__proto__":"x"}') } };
  const decoded = roundTrip(message);
  assert.equal(Object.getPrototypeOf(decoded.properties!.userProperties), Object.prototype);
  assert.deepEqual(Object.entries(decoded.properties!.userProperties!), [['__proto__', 'x']]);
});

test('a qos no node encodes is refused', () => {
  const wire: WireMessage = { topic: 't', payload: Buffer.alloc(0), qos: 3, retain: false };
  assert.throws(() => decodeMessage(wire), WireFormatError);
});
