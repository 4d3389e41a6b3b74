// The encoded-once packets: patched in place, they still parse as what they claim to be.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parser as createParser, type Packet } from 'mqtt-packet';
import { parseOptions } from '../src/options.ts';
import { parseBrokerUrl } from '../src/client.ts';
import { ackTemplate, acksFor, connectPacket, publishTemplate } from '../src/packets.ts';
import { emptyPayload, payloadSentMs, payloadSource, stampPayload } from '../src/payload.ts';
import { mergedPercentiles, newHistogram, recordMs, summarize } from '../src/latency.ts';

function parseAll(bytes: Buffer): Packet[] {
  const packets: Packet[] = [];
  const parser = createParser({ protocolVersion: 4 });
  parser.on('packet', (packet: Packet) => packets.push(packet));
  parser.parse(bytes);
  return packets;
}

describe('packet templates', () => {
  for (const qos of [0, 1, 2] as const) {
    it(`QoS ${qos} PUBLISH: patched packet id and payload header parse back`, () => {
      const template = publishTemplate('roost-bench/x/p1', emptyPayload(100), qos);
      const copy = Buffer.from(template.bytes);
      if (qos > 0) copy.writeUInt16BE(54321, template.packetIdOffset);
      stampPayload(copy, template.payloadOffset, 1234.5, 7, 99);
      const [packet] = parseAll(copy);
      assert.ok(packet && packet.cmd === 'publish');
      assert.equal(packet.topic, 'roost-bench/x/p1');
      assert.equal(packet.qos, qos);
      if (qos > 0) assert.equal(packet.messageId, 54321);
      const payload = packet.payload as Buffer;
      assert.equal(payload.length, 100);
      assert.equal(payloadSource(payload), 7);
      assert.equal(payloadSentMs(payload), 1234.5);
    });
  }

  it('--username and --password reach every CONNECT; without them a CONNECT carries neither', () => {
    const options = parseOptions(['--username', 'bench-u1', '--password', 'pässword']);
    const address = parseBrokerUrl(options.url, options.transport);
    const [login] = parseAll(connectPacket('c1', true, 0, address.credentials));
    assert.ok(login && login.cmd === 'connect');
    assert.equal(login.username, 'bench-u1');
    assert.equal(login.password?.toString(), 'pässword');
    const [anonymous] = parseAll(connectPacket('c2', true));
    assert.ok(anonymous && anonymous.cmd === 'connect');
    assert.equal(anonymous.username, undefined);
    assert.equal(anonymous.password, undefined);
  });

  it('batched acks parse as one ack per id', () => {
    const packets = parseAll(acksFor(ackTemplate('pubrel'), [1, 300, 65535]));
    assert.deepEqual(packets.map((p) => [p.cmd, 'messageId' in p ? p.messageId : undefined]), [['pubrel', 1], ['pubrel', 300], ['pubrel', 65535]]);
  });
});

describe('latency summaries', () => {
  it('one summary merges to the histogram percentiles', () => {
    const histogram = newHistogram();
    for (let i = 1; i <= 10_000; i++) recordMs(histogram, i / 1000);
    const merged = mergedPercentiles([summarize(histogram)]);
    assert.equal(merged.count, 10_000);
    assert.equal(merged.p50_ms, histogram.percentile(50) / 1000);
    assert.equal(merged.p99_ms, histogram.percentile(99) / 1000);
    assert.equal(merged.p999_ms, histogram.percentile(99.9) / 1000);
  });

  it('two summaries merge to the percentiles of the union', () => {
    const low = newHistogram();
    const high = newHistogram();
    for (let i = 0; i < 1000; i++) {
      recordMs(low, 1);
      recordMs(high, 10);
    }
    const merged = mergedPercentiles([summarize(low), summarize(high)]);
    // HDR buckets: within 0.1% (three significant figures).
    assert.ok(Math.abs(merged.p50_ms! - 1) <= 0.001, String(merged.p50_ms));
    assert.ok(Math.abs(merged.p99_ms! - 10) <= 0.01, String(merged.p99_ms));
  });
});
