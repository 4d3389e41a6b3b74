// The PROXY header reader: v1 and v2 read whole, byte at a time and at every split; the bytes after
// the header come back untouched; each way to break the spec is refused with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProxyHeaderReader, V1_MAX_LENGTH, formatIPv6, type ProxyHeaderResult } from '../src/listeners/proxy-protocol.ts';
import { PP2, proxyV1, proxyV2, sslTlv, tlv } from '../../../test/helpers/proxy-header.ts';

/** An MQTT 3.1.1 CONNECT, the bytes a real client sends after the header. */
const CONNECT = Buffer.from('101000044d5154540402003c0004636c6931', 'hex');

/** Feeds pieces until the reader finishes; the pieces it did not need are returned untouched. */
function feedPieces(pieces: Buffer[], reader = new ProxyHeaderReader()): { result: ProxyHeaderResult; unfed: Buffer[] } {
  for (let i = 0; i < pieces.length; i++) {
    const result = reader.feed(pieces[i]!);
    if (result.status !== 'more') return { result, unfed: pieces.slice(i + 1) };
  }
  return { result: { status: 'more' }, unfed: [] };
}

const bytewise = (bytes: Buffer) => [...bytes].map((b) => Buffer.from([b]));

function done(result: ProxyHeaderResult) {
  assert.equal(result.status, 'done', JSON.stringify(result));
  return result as Extract<ProxyHeaderResult, { status: 'done' }>;
}

function refused(bytes: Buffer | Buffer[], reason: string, pattern?: RegExp): void {
  const { result } = feedPieces(Array.isArray(bytes) ? bytes : [bytes]);
  assert.equal(result.status, 'error', JSON.stringify(result));
  const error = result as Extract<ProxyHeaderResult, { status: 'error' }>;
  assert.equal(error.reason, reason, error.detail);
  if (pattern) assert.match(error.detail, pattern);
}

const v1 = proxyV1({ address: '203.0.113.7', port: 51234 }, { address: '10.0.0.2', port: 1883 });

test('v1 TCP4 read whole: addresses and ports, the MQTT bytes after it untouched', () => {
  const { header, rest } = done(new ProxyHeaderReader().feed(Buffer.concat([v1, CONNECT])));
  assert.deepEqual(header, {
    version: 1,
    command: 'proxy',
    family: 'ipv4',
    source: { address: '203.0.113.7', port: 51234 },
    destination: { address: '10.0.0.2', port: 1883 },
    length: v1.length,
  });
  assert.deepEqual(rest, CONNECT);
});

test('v1 byte at a time: more until the LF, then done with nothing consumed past it', () => {
  const reader = new ProxyHeaderReader();
  const results = bytewise(v1).map((b) => reader.feed(b));
  assert.ok(results.slice(0, -1).every((r) => r.status === 'more'));
  const last = done(results.at(-1)!);
  assert.equal(last.rest.length, 0);
  assert.equal(last.header.source?.port, 51234);
});

test('v1 and v2 split at every offset give the same header and the same rest', () => {
  const v2 = proxyV2({ source: { address: '198.51.100.1', port: 40000 }, destination: { address: '10.0.0.2', port: 8883 }, tlvs: [sslTlv(PP2.CLIENT_SSL, 0, [tlv(PP2.SSL_VERSION, 'TLSv1.3')])] });
  for (const header of [v1, v2]) {
    const stream = Buffer.concat([header, CONNECT]);
    const whole = done(new ProxyHeaderReader().feed(stream));
    for (let at = 1; at < stream.length; at++) {
      const { result, unfed } = feedPieces([stream.subarray(0, at), stream.subarray(at)]);
      const split = done(result);
      assert.deepEqual(split.header, whole.header, `split at ${at}`);
      assert.deepEqual(Buffer.concat([split.rest, ...unfed]), CONNECT, `split at ${at}`);
    }
  }
});

test('v1 TCP6 keeps the address in lower case', () => {
  const header = Buffer.from('PROXY TCP6 2001:DB8::1 ::1 65535 0\r\n');
  const { header: read } = done(new ProxyHeaderReader().feed(header));
  assert.equal(read.family, 'ipv6');
  assert.deepEqual(read.source, { address: '2001:db8::1', port: 65535 });
  assert.deepEqual(read.destination, { address: '::1', port: 0 });
});

test('v1 UNKNOWN, short and at the 107-byte worst case, carries no address', () => {
  const worst = `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
  assert.equal(worst.length, V1_MAX_LENGTH);
  for (const line of ['PROXY UNKNOWN\r\n', worst]) {
    const { header, rest } = done(new ProxyHeaderReader().feed(Buffer.concat([Buffer.from(line), CONNECT])));
    assert.deepEqual(header, { version: 1, command: 'proxy', family: 'unspec', length: line.length });
    assert.deepEqual(rest, CONNECT);
  }
});

test('v1 lines that break the grammar are malformed', () => {
  const lines = [
    'PROXY TCP4 203.0.113.07 10.0.0.2 1 2\r\n', // a leading zero could read as octal
    'PROXY TCP4 203.0.113.256 10.0.0.2 1 2\r\n',
    'PROXY TCP4 ::1 ::1 1 2\r\n', // family and address disagree
    'PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n',
    'PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n', // not the hex-groups form
    'PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n',
    'PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n', // two spaces
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n',
    'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n', // a lone LF
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX',
  ];
  for (const line of lines) refused(Buffer.from(line), 'malformed');
});

test('v1 without a CRLF in 107 bytes is too long, and is refused at byte 107 even fed one at a time', () => {
  const line = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}`);
  const reader = new ProxyHeaderReader();
  const results = bytewise(line).map((b, i) => (i < V1_MAX_LENGTH ? reader.feed(b) : undefined)).filter((r) => r !== undefined);
  assert.ok(results.slice(0, -1).every((r) => r.status === 'more'));
  assert.deepEqual({ ...results.at(-1)!, detail: undefined }, { status: 'error', reason: 'too-long', detail: undefined });
  refused(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`), 'too-long'); // 108 bytes with the CRLF
});

test('v2 PROXY over IPv4 with SSL (CN, version, cipher, verified) and AUTHORITY TLVs', () => {
  const header = proxyV2({
    source: { address: '192.0.2.10', port: 50123 },
    destination: { address: '10.1.2.3', port: 8883 },
    tlvs: [
      tlv(PP2.ALPN, 'mqtt'),
      tlv(PP2.AUTHORITY, 'mqtt.example.com'),
      sslTlv(PP2.CLIENT_SSL | PP2.CLIENT_CERT_CONN | PP2.CLIENT_CERT_SESS, 0, [
        tlv(PP2.SSL_VERSION, 'TLSv1.3'),
        tlv(PP2.SSL_CN, 'device-42'),
        tlv(PP2.SSL_CIPHER, 'TLS_AES_256_GCM_SHA384'),
      ]),
      tlv(PP2.NOOP, Buffer.alloc(3)),
      tlv(0xe0, 'custom'),
    ],
  });
  const { header: read, rest } = done(new ProxyHeaderReader().feed(Buffer.concat([header, CONNECT])));
  assert.deepEqual(read, {
    version: 2,
    command: 'proxy',
    family: 'ipv4',
    source: { address: '192.0.2.10', port: 50123 },
    destination: { address: '10.1.2.3', port: 8883 },
    authority: 'mqtt.example.com',
    ssl: {
      tls: true,
      certificateOnConnection: true,
      certificateInSession: true,
      verifyResult: 0,
      certificateVerified: true,
      version: 'TLSv1.3',
      commonName: 'device-42',
      cipher: 'TLS_AES_256_GCM_SHA384',
    },
    length: header.length,
  });
  assert.deepEqual(rest, CONNECT);
});

test('v2 SSL: a failed verify, and a verify of 0 with no certificate presented, are not verified', () => {
  const failed = proxyV2({ source: { address: '192.0.2.10', port: 1 }, destination: { address: '10.1.2.3', port: 2 }, tlvs: [sslTlv(PP2.CLIENT_SSL | PP2.CLIENT_CERT_CONN, 20, [tlv(PP2.SSL_CN, 'x')])] });
  assert.deepEqual(
    [done(new ProxyHeaderReader().feed(failed)).header.ssl?.certificateVerified, done(new ProxyHeaderReader().feed(failed)).header.ssl?.verifyResult],
    [false, 20],
  );
  const anonymous = proxyV2({ source: { address: '192.0.2.10', port: 1 }, destination: { address: '10.1.2.3', port: 2 }, tlvs: [sslTlv(PP2.CLIENT_SSL, 0)] });
  assert.equal(done(new ProxyHeaderReader().feed(anonymous)).header.ssl?.certificateVerified, false);
});

test('v2 PROXY over IPv6, byte at a time with TLVs', () => {
  const header = proxyV2({ source: { address: '2001:db8:0:0:1::5', port: 443 }, destination: { address: '::ffff:a00:1', port: 1883 }, tlvs: [tlv(PP2.AUTHORITY, 'a.example')] });
  const { result, unfed } = feedPieces(bytewise(Buffer.concat([header, CONNECT])));
  const read = done(result);
  assert.equal(read.header.family, 'ipv6');
  assert.deepEqual(read.header.source, { address: '2001:db8::1:0:0:5', port: 443 });
  assert.deepEqual(read.header.destination, { address: '::ffff:10.0.0.1', port: 1883 });
  assert.equal(read.header.authority, 'a.example');
  assert.deepEqual(Buffer.concat([read.rest, ...unfed]), CONNECT);
});

test('IPv6 text is RFC 5952: the longest zero run (first on a tie) becomes ::', () => {
  const hex = (h: string) => Buffer.from(h.replaceAll(' ', ''), 'hex');
  assert.equal(formatIPv6(hex('2001 0db8 0000 0000 0001 0000 0000 0001')), '2001:db8::1:0:0:1');
  assert.equal(formatIPv6(hex('2001 0db8 0000 0001 0000 0000 0000 0001')), '2001:db8:0:1::1');
  assert.equal(formatIPv6(hex('2001 0db8 0001 0001 0001 0001 0000 0001')), '2001:db8:1:1:1:1:0:1');
  assert.equal(formatIPv6(Buffer.alloc(16)), '::');
});

test('v2 LOCAL (a health check) ignores its address block, whatever the family byte says', () => {
  for (const header of [proxyV2({ command: 'local' }), proxyV2({ command: 'local', familyByte: 0xff, tlvs: [Buffer.from('anything')] })]) {
    const { header: read, rest } = done(new ProxyHeaderReader().feed(Buffer.concat([header, CONNECT])));
    assert.deepEqual(read, { version: 2, command: 'local', family: 'unspec', length: header.length });
    assert.deepEqual(rest, CONNECT);
  }
});

test('v2 PROXY with AF_UNSPEC or AF_UNIX carries no address but still its TLVs', () => {
  const unspec = done(new ProxyHeaderReader().feed(proxyV2({ familyByte: 0x00, tlvs: [tlv(PP2.AUTHORITY, 'h')] }))).header;
  assert.deepEqual([unspec.family, unspec.source, unspec.authority], ['unspec', undefined, 'h']);
  const unix = done(new ProxyHeaderReader().feed(proxyV2({ familyByte: 0x31, tlvs: [Buffer.alloc(216), tlv(PP2.AUTHORITY, 'u')] }))).header;
  assert.deepEqual([unix.family, unix.source, unix.authority], ['unix', undefined, 'u']);
});

test('bytes that are no PROXY header are refused at the first wrong byte', () => {
  refused(CONNECT, 'not-proxy', /0x10/);
  refused(Buffer.from('GET / HTTP/1.1\r\n'), 'not-proxy');
  refused(Buffer.from('PROXZ'), 'not-proxy');
  refused([Buffer.from('PRO'), Buffer.from('XY'), Buffer.from('-')], 'not-proxy');
  const badSignature = proxyV2({ source: { address: '1.2.3.4', port: 1 }, destination: { address: '1.2.3.4', port: 2 } });
  badSignature[7] = 0x00;
  const { result, unfed } = feedPieces(bytewise(badSignature));
  assert.equal(result.status === 'error' && result.reason, 'not-proxy');
  assert.equal(unfed.length, badSignature.length - 8, 'refused at the eighth byte, not later');
});

test('v2 headers that break the spec: version, command, family, transport, lengths, TLVs', () => {
  const ends = { source: { address: '1.2.3.4', port: 1 }, destination: { address: '5.6.7.8', port: 2 } };
  refused(proxyV2({ ...ends, version: 1 }), 'unsupported', /version 1/);
  refused(proxyV2({ ...ends, familyByte: 0x12 }), 'unsupported', /datagram/);
  const command2 = proxyV2(ends);
  command2[12] = 0x22;
  refused(command2, 'malformed', /command 2/);
  refused(proxyV2({ ...ends, familyByte: 0x41 }), 'malformed');
  refused(proxyV2({ ...ends, familyByte: 0x13 }), 'malformed');
  refused(proxyV2({ ...ends, familyByte: 0x21 }), 'malformed', /short of 36/); // IPv4 block under an IPv6 family
  refused(proxyV2({ ...ends, tlvs: [Buffer.from([PP2.AUTHORITY, 0x00])] }), 'malformed', /TLV header/);
  refused(proxyV2({ ...ends, tlvs: [Buffer.from([PP2.AUTHORITY, 0x00, 0x09, 0x61])] }), 'malformed', /runs past/);
  refused(proxyV2({ ...ends, tlvs: [tlv(PP2.SSL, Buffer.from([1, 0, 0]))] }), 'malformed', /short of 5/);
  refused(proxyV2({ ...ends, tlvs: [sslTlv(PP2.CLIENT_SSL, 0, [Buffer.from([PP2.SSL_CN, 0, 50, 0x61])])] }), 'malformed', /runs past/);
});

test('a v2 length over the bound is refused from the fixed 16 bytes alone', () => {
  const header = proxyV2({ length: 65535 }).subarray(0, 16);
  refused(header, 'too-long', /65535/);
  const padded = proxyV2({ tlvs: [tlv(PP2.NOOP, Buffer.alloc(200))] });
  const { result } = feedPieces([padded], new ProxyHeaderReader(128));
  assert.equal(result.status === 'error' && result.reason, 'too-long');
});

test('a stream that ends inside a header is truncated; a finished reader refuses more input', () => {
  const reader = new ProxyHeaderReader();
  assert.equal(reader.feed(v1.subarray(0, 20)).status, 'more');
  const ended = reader.end();
  assert.equal(ended.status === 'error' && ended.reason, 'truncated');
  assert.throws(() => reader.feed(v1), /finished/);
});
