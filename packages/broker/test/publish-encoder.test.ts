import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generate, type IPublishPacket } from 'mqtt-packet';
import type { Message, ProtocolVersion } from '@roost/protocol';
import { encodePublish } from '../src/publish-encoder.ts';

function packetFor(message: Message, qos: 0 | 1 | 2, retain: boolean, messageId: number | undefined): IPublishPacket {
  const packet: IPublishPacket = { cmd: 'publish', topic: message.topic, payload: message.payload, qos, retain, dup: false };
  if (messageId !== undefined) packet.messageId = messageId;
  if (message.properties) packet.properties = { ...message.properties };
  return packet;
}

test('a shared encoding, with its packet identifier patched in, equals encoding each packet afresh', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 300 }),
      fc.uint8Array({ maxLength: 20_000 }),
      fc.constantFrom<ProtocolVersion>(3, 4, 5),
      fc.constantFrom<0 | 1 | 2>(0, 1, 2),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 4 }),
      fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
      (topic, payload, version, qos, retain, ids, contentType) => {
        const message: Message = { topic, payload: Buffer.from(payload), qos, retain };
        if (version === 5 && contentType !== undefined) message.properties = { contentType };
        // Every subscriber after the first gets the cached bytes: each must match a fresh encode.
        for (const id of ids) {
          const packet = packetFor(message, qos, retain, qos === 0 ? undefined : id);
          const expected = generate(packet, { protocolVersion: version });
          assert.deepEqual(encodePublish(packet, message, version, true), expected);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('variants of one message (QoS, retain, version) are cached apart', () => {
  const message: Message = { topic: 'a/b', payload: Buffer.from('x'), qos: 1, retain: true };
  const retained = encodePublish(packetFor(message, 0, true, undefined), message, 4, true);
  const live = encodePublish(packetFor(message, 0, false, undefined), message, 4, true);
  const v5 = encodePublish(packetFor(message, 0, false, undefined), message, 5, true);
  assert.equal(retained[0]! & 0x01, 1);
  assert.equal(live[0]! & 0x01, 0);
  assert.notDeepEqual(live, v5); // v5 carries a property length byte
});

test('QoS 1 copies do not share memory, so patching one cannot change another in a socket buffer', () => {
  const message: Message = { topic: 't', payload: Buffer.from('p'), qos: 1, retain: false };
  const first = encodePublish(packetFor(message, 1, false, 1), message, 4, true);
  const second = encodePublish(packetFor(message, 1, false, 2), message, 4, true);
  assert.equal(first.readUInt16BE(first.length - 3), 1);
  assert.equal(second.readUInt16BE(second.length - 3), 2);
});
