// Properties of the PROXY header reader over generated input, split into arbitrary pieces:
// it never throws, never holds more than a header's bound, never consumes past the header,
// and reads back what a generated header says. PROXY_FUZZ_SEED replays a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_MAX_V2_LENGTH, ProxyHeaderReader, V1_MAX_LENGTH, V2_SIGNATURE, type ProxyHeaderResult } from '../src/listeners/proxy-protocol.ts';
import { PP2, proxyV1, proxyV2, sslTlv, tlv } from '../../../test/helpers/proxy-header.ts';

const SEED = process.env.PROXY_FUZZ_SEED ? Number(process.env.PROXY_FUZZ_SEED) : undefined;
const RUNS = 400;

/** Cuts `bytes` into pieces at the given sizes (the last piece takes what is left). */
function cut(bytes: Buffer, sizes: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= bytes.length) break;
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  if (at < bytes.length) pieces.push(bytes.subarray(at));
  return pieces;
}

interface Outcome {
  result: ProxyHeaderResult;
  /** The bytes not fed because the reader had finished. */
  unfed: Buffer;
  fed: number;
}

function run(bytes: Buffer, sizes: number[]): Outcome {
  const reader = new ProxyHeaderReader();
  const pieces = cut(bytes, sizes);
  let fed = 0;
  for (let i = 0; i < pieces.length; i++) {
    fed += pieces[i]!.length;
    const result = reader.feed(pieces[i]!);
    if (result.status !== 'more') return { result, unfed: Buffer.concat(pieces.slice(i + 1)), fed };
  }
  return { result: reader.end(), unfed: Buffer.alloc(0), fed };
}

/** What holds for any input: consumption stops at the header, and holding is bounded. */
function checkConsumption(bytes: Buffer, { result, unfed, fed }: Outcome): void {
  if (result.status === 'done') {
    assert.ok(result.header.length <= (result.header.version === 1 ? V1_MAX_LENGTH : 16 + DEFAULT_MAX_V2_LENGTH));
    assert.deepEqual(Buffer.concat([result.rest, unfed]), bytes.subarray(result.header.length));
  } else if (result.status === 'error' && result.reason === 'truncated') {
    // Only input shorter than the largest header can leave the reader waiting.
    assert.ok(fed < 16 + DEFAULT_MAX_V2_LENGTH);
  }
}

const sizes = fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 30 });
const noise = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
/** Beginnings that get past the first checks, so the noise reaches the deeper parts. */
const starts = fc.constantFrom(
  Buffer.alloc(0),
  Buffer.from('PROXY '),
  Buffer.from('PROXY TCP4 '),
  Buffer.from('PROXY TCP6 '),
  Buffer.from('PROXY UNKNOWN'),
  V2_SIGNATURE,
  Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11])]),
  Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x21])]),
  Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00, 0x40])]),
);

test('any bytes after any beginning: no throw, no consumption past the header', () => {
  fc.assert(
    fc.property(starts, noise, sizes, (start, tail, cuts) => {
      const bytes = Buffer.concat([start, tail]);
      checkConsumption(bytes, run(bytes, cuts));
    }),
    { numRuns: RUNS * 4, seed: SEED },
  );
});

const port = fc.integer({ min: 0, max: 65535 });
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
/** Eight groups written in full; URL parsing (WHATWG) is the independent judge of the reader's text. */
const ipv6 = fc.array(fc.oneof(fc.constant(0), fc.nat(0xffff)), { minLength: 8, maxLength: 8 }).map((groups) => groups.map((g) => g.toString(16)).join(':'));
const sameIPv6 = (a: string, b: string) => new URL(`http://[${a}]/`).hostname === new URL(`http://[${b}]/`).hostname;
const text = fc.string({ unit: 'grapheme-ascii', maxLength: 60 });
const tlvs = fc.array(
  fc.oneof(
    text.map((t) => ({ kind: 'authority' as const, value: t })),
    fc.record({ cn: text, verify: fc.nat(70), client: fc.nat(7) }).map((ssl) => ({ kind: 'ssl' as const, ...ssl })),
    fc.tuple(fc.constantFrom(PP2.ALPN, PP2.NOOP, PP2.UNIQUE_ID, PP2.NETNS, 0xe5, 0xf1), fc.uint8Array({ maxLength: 40 })).map(([type, value]) => ({ kind: 'other' as const, type, value })),
  ),
  { maxLength: 4 },
);

const headers = fc.oneof(
  fc.record({ version: fc.constant(1 as const), v6: fc.boolean(), a: ipv4, b: ipv4, a6: ipv6, b6: ipv6, sp: port, dp: port, tlvs: fc.constant([]) }),
  fc.record({ version: fc.constant(2 as const), v6: fc.boolean(), a: ipv4, b: ipv4, a6: ipv6, b6: ipv6, sp: port, dp: port, tlvs }),
);

test('a generated header, then any bytes, in any pieces: read back exactly, the bytes after it untouched', () => {
  fc.assert(
    fc.property(headers, noise, sizes, (h, tail, cuts) => {
      const source = { address: h.v6 ? h.a6 : h.a, port: h.sp };
      const destination = { address: h.v6 ? h.b6 : h.b, port: h.dp };
      const encoded = h.tlvs.map((t) =>
        t.kind === 'authority' ? tlv(PP2.AUTHORITY, t.value) : t.kind === 'ssl' ? sslTlv(t.client, t.verify, [tlv(PP2.SSL_CN, t.cn)]) : tlv(t.type, Buffer.from(t.value)),
      );
      const header = h.version === 1 ? proxyV1(source, destination) : proxyV2({ source, destination, tlvs: encoded });
      const bytes = Buffer.concat([header, tail]);
      const outcome = run(bytes, cuts);
      assert.equal(outcome.result.status, 'done', JSON.stringify(outcome.result));
      const { header: read, rest } = outcome.result as Extract<ProxyHeaderResult, { status: 'done' }>;
      assert.equal(read.length, header.length);
      assert.deepEqual(Buffer.concat([rest, outcome.unfed]), tail);
      assert.equal(read.source?.port, h.sp);
      assert.equal(read.destination?.port, h.dp);
      if (h.v6) assert.ok(sameIPv6(read.source!.address, source.address) && sameIPv6(read.destination!.address, destination.address));
      else assert.deepEqual([read.source?.address, read.destination?.address], [source.address, destination.address]);
      const lastAuthority = h.tlvs.findLast((t) => t.kind === 'authority');
      const lastSsl = h.tlvs.findLast((t) => t.kind === 'ssl');
      assert.equal(read.authority, lastAuthority?.value);
      assert.equal(read.ssl?.commonName, lastSsl?.cn);
      assert.equal(read.ssl?.verifyResult, lastSsl?.verify);
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test('a generated header with bytes changed, cut short or inserted: no throw, no consumption past the header', () => {
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.nat(255) }),
    fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat(255) }),
  );
  fc.assert(
    fc.property(headers, fc.array(mutation, { minLength: 1, maxLength: 4 }), noise, sizes, (h, mutations, tail, cuts) => {
      const source = { address: h.v6 ? h.a6 : h.a, port: h.sp };
      const destination = { address: h.v6 ? h.b6 : h.b, port: h.dp };
      let header = h.version === 1 ? proxyV1(source, destination) : proxyV2({ source, destination, tlvs: [sslTlv(PP2.CLIENT_SSL, 0, [tlv(PP2.SSL_CN, 'cn')])] });
      for (const m of mutations) {
        const at = m.at % (header.length + 1);
        if (m.op === 'set' && at < header.length) header[at] = m.byte;
        if (m.op === 'cut') header = header.subarray(0, at);
        if (m.op === 'insert') header = Buffer.concat([header.subarray(0, at), Buffer.from([m.byte]), header.subarray(at)]);
      }
      const bytes = Buffer.concat([header, tail]);
      checkConsumption(bytes, run(bytes, cuts));
    }),
    { numRuns: RUNS, seed: SEED },
  );
});
