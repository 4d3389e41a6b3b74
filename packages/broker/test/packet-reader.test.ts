// Framing with shared decoders: whole streams, byte-at-a-time feeds and every split point
// give the same packets as one mqtt-packet parser per connection did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { PacketReader, decodeModeOf, type PacketSink } from '../src/packet-reader.ts';

interface Seen {
  packets: Packet[];
  errors: string[];
  tooLarge: number[];
}

function reader(maxPacketSize = 1024): { reader: PacketReader; seen: Seen } {
  const seen: Seen = { packets: [], errors: [], tooLarge: [] };
  const sink: PacketSink = {
    onPacket: (packet) => {
      seen.packets.push(packet);
      if (packet.cmd === 'connect') reading.mode = decodeModeOf(packet);
    },
    onMalformed: (error) => seen.errors.push(error.message),
    onTooLarge: (size) => seen.tooLarge.push(size),
  };
  const reading = new PacketReader(sink, maxPacketSize);
  return { reader: reading, seen };
}

/** What one parser per connection, told the version by the CONNECT, made of the same bytes. */
function reference(bytes: Buffer): Seen {
  const seen: Seen = { packets: [], errors: [], tooLarge: [] };
  const parser = createParser();
  parser.on('packet', (packet: Packet) => seen.packets.push(packet));
  parser.on('error', (error: Error) => seen.errors.push(error.message));
  parser.parse(bytes);
  return seen;
}

const plain = (packets: Packet[]) => packets.map((p) => JSON.parse(JSON.stringify(p)) as unknown);

function stream(version: 3 | 4 | 5): Buffer {
  const opts = { protocolVersion: version };
  const packets: Packet[] = [
    { cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clientId: 'c1', clean: true, keepalive: 30 },
    { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 1 }] },
    { cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(300, 7), qos: 1, messageId: 2, retain: false, dup: false },
    { cmd: 'puback', messageId: 9 },
    { cmd: 'pingreq' },
    { cmd: 'publish', topic: 'a/c', payload: Buffer.from('x'), qos: 0, retain: true, dup: false },
  ];
  if (version === 5) packets[2] = { ...packets[2]!, properties: { userProperties: { k: 'v' } } } as Packet;
  return Buffer.concat(packets.map((p) => generate(p, opts)));
}

for (const version of [3, 4, 5] as const) {
  test(`v${version}: a stream read whole, byte at a time and split at every offset gives the packets one parser gave`, () => {
    const bytes = stream(version);
    const expected = plain(reference(bytes).packets);
    assert.equal(expected.length, 6);
    const whole = reader();
    whole.reader.read(bytes);
    assert.deepEqual(plain(whole.seen.packets), expected);
    const bytewise = reader();
    for (let i = 0; i < bytes.length; i++) bytewise.reader.read(bytes.subarray(i, i + 1));
    assert.deepEqual(plain(bytewise.seen.packets), expected);
    for (let cut = 1; cut < bytes.length; cut++) {
      const split = reader();
      split.reader.read(bytes.subarray(0, cut));
      split.reader.read(bytes.subarray(cut));
      assert.deepEqual(plain(split.seen.packets), expected, `split at ${cut}`);
      assert.deepEqual(split.seen.errors, []);
    }
  });
}

test('connections interleaving reads keep their own partial packets and versions', () => {
  const v3 = stream(3);
  const v5 = stream(5);
  const a = reader();
  const b = reader();
  for (let i = 0; i < Math.max(v3.length, v5.length); i += 7) {
    a.reader.read(v3.subarray(i, i + 7));
    b.reader.read(v5.subarray(i, i + 7));
  }
  assert.deepEqual(plain(a.seen.packets), plain(reference(v3).packets));
  assert.deepEqual(plain(b.seen.packets), plain(reference(v5).packets));
});

test('a packet announced larger than the maximum is refused from its header, after the packets before it', () => {
  const { reader: r, seen } = reader(100);
  const big = generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(500), qos: 0, retain: false, dup: false }, { protocolVersion: 4 });
  const connect = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c1', clean: true, keepalive: 30 });
  r.read(Buffer.concat([connect, generate({ cmd: 'pingreq' }), big.subarray(0, 4)]));
  assert.deepEqual(seen.packets.map((p) => p.cmd), ['connect', 'pingreq']);
  assert.deepEqual(seen.tooLarge, [big.length]);
});

test('a bad header or Remaining Length is reported as the parser reports it, without waiting for the body', () => {
  for (const [bytes, message] of [
    [Buffer.from([0x36, 0x05]), 'Packet must not have both QoS bits set to 1'],
    [Buffer.from([0x60]), 'Invalid header flag bits, must be 0x2 for pubrel packet'],
    [Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 'Invalid variable byte integer'],
  ] as const) {
    const { reader: r, seen } = reader();
    r.read(bytes);
    assert.deepEqual(seen.errors, [reference(bytes).errors[0]]);
    assert.equal(seen.errors[0], message);
  }
});

test('a malformed packet leaves the shared decoder clean for the next connection', () => {
  const bad = reader();
  bad.reader.read(Buffer.from([0x10, 0x03, 0x00, 0x04, 0x4d]));
  assert.equal(bad.seen.errors.length, 1);
  const good = reader();
  const bytes = stream(4);
  good.reader.read(bytes);
  assert.deepEqual(plain(good.seen.packets), plain(reference(bytes).packets));
});
