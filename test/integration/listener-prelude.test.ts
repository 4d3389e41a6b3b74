// The pre-MQTT hook of a listener (ListenerSpec.prelude, which the PROXY header reader uses)
// in front of each kind: what it reads never reaches TLS, HTTP or MQTT, the bytes it read past
// its own are put back, and the address it supplies is the connection's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import type { Prelude } from '@roost/broker';
import { TestCa } from '../../scripts/lib/certs.ts';
import { unique } from '../helpers/clients.ts';
import { RecordingLogger, startListening, type ListeningBroker } from '../helpers/listeners.ts';

/** Reads a `HELLO <address>\n` line, hands back what came after it. */
const helloPrelude: Prelude = (socket, { signal }) =>
  new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl < 0) return;
      socket.off('data', onData);
      socket.pause();
      const [, address] = buffered.subarray(0, nl).toString().split(' ');
      resolve({ info: { remoteAddress: address!, remotePort: 4242 }, leftover: buffered.subarray(nl + 1) });
    };
    socket.on('data', onData);
    socket.resume();
    signal.addEventListener('abort', () => reject(new Error('no hello in time')));
  });

let ca: TestCa;
let node: ListeningBroker;
const logger = new RecordingLogger();

before(async () => {
  ca = new TestCa();
  const server = ca.server();
  const tls = { certFile: server.certFile, keyFile: server.keyFile, clientCert: 'none', minVersion: 'TLSv1.2' } as const;
  node = await startListening(
    [
      { name: 'mqtt', kind: 'tcp', prelude: helloPrelude },
      { name: 'tls', kind: 'tls', tls, prelude: helloPrelude },
      { name: 'ws', kind: 'ws', prelude: helloPrelude },
    ],
    { logger },
  );
});
after(async () => {
  await node.stop();
  ca.remove();
});

function connectBytes(clientId: string): Buffer {
  return generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 });
}

/** The first packet decoded from `stream`. */
async function firstPacket(stream: Socket): Promise<Packet> {
  const decoder = createParser({ protocolVersion: 4 });
  const packet = new Promise<Packet>((resolve) => decoder.once('packet', resolve));
  stream.on('data', (chunk: Buffer) => decoder.parse(chunk));
  return packet;
}

test('tcp: the hello and a CONNECT in one segment; the CONNECT is the leftover and the address is the prelude\'s', async () => {
  const clientId = unique('prelude-tcp');
  const socket = netConnect(node.ports.mqtt!, '127.0.0.1');
  await once(socket, 'connect');
  const connack = firstPacket(socket);
  socket.write(Buffer.concat([Buffer.from('HELLO 203.0.113.7\n'), connectBytes(clientId)]));
  assert.equal((await connack).cmd, 'connack');
  assert.deepEqual(node.broker.connectionInfo(clientId), { listener: 'mqtt', remoteAddress: '203.0.113.7', remotePort: 4242, tls: undefined });
  socket.destroy();
});

test('tls: the hello before the handshake; ConnectionInfo has the prelude\'s address and the handshake\'s TLS', async () => {
  const clientId = unique('prelude-tls');
  const raw = netConnect(node.ports.tls!, '127.0.0.1');
  await once(raw, 'connect');
  raw.write('HELLO 198.51.100.9\n');
  const socket = tlsConnect({ socket: raw, ca: readFileSync(ca.caFile), servername: 'localhost' });
  await once(socket, 'secureConnect');
  const connack = firstPacket(socket);
  socket.write(connectBytes(clientId));
  assert.equal((await connack).cmd, 'connack');
  const info = node.broker.connectionInfo(clientId)!;
  assert.equal(info.remoteAddress, '198.51.100.9');
  assert.match(String(info.tls?.protocol), /^TLSv1\.[23]$/);
  socket.destroy();
});

test('ws: the hello and the HTTP upgrade in one segment; the upgrade is the leftover', async () => {
  const clientId = unique('prelude-ws');
  const socket = netConnect(node.ports.ws!, '127.0.0.1');
  await once(socket, 'connect');
  const key = randomBytes(16).toString('base64');
  socket.write(`HELLO 192.0.2.1\nGET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`);
  const [head] = (await once(socket, 'data')) as [Buffer];
  assert.match(head.toString('latin1'), /^HTTP\/1\.1 101 /);
  // One masked binary frame carrying the CONNECT.
  const payload = connectBytes(clientId);
  const mask = randomBytes(4);
  socket.write(Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
  const [reply] = (await once(socket, 'data')) as [Buffer];
  assert.equal(reply[0], 0x82, 'a binary frame');
  assert.equal(reply[2]! >> 4, 2, 'carrying a CONNACK');
  assert.equal(node.broker.connectionInfo(clientId)?.remoteAddress, '192.0.2.1');
  socket.destroy();
});
