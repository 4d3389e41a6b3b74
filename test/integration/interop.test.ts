// Interoperability with clients other than MQTT.js: Debian's mosquitto_pub/mosquitto_sub and
// Eclipse Paho (Python). CI installs them (.ci/run); a missing binary fails the test with its
// name rather than skipping it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';

// Debian's python3-paho-mqtt is installed for the system interpreter only.
const PYTHON = '/usr/bin/python3';

let server: TestBroker;

before(async () => {
  server = await startBroker();
});

after(async () => {
  await server.stop();
});

interface Run {
  child: ChildProcess;
  /** Resolves with everything written to stdout once the process exits 0. */
  done: Promise<string>;
  /** Resolves when stdout contains `text`. */
  printed(text: string): Promise<void>;
}

function run(command: string, args: string[], input?: string): Run {
  // mosquitto_sub's stdout is block-buffered on a pipe; stdbuf makes its -d lines arrive as printed.
  const child = spawn('stdbuf', ['-oL', command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters.filter((w) => out.includes(w.text))) w.resolve();
  });
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`${command} could not start (is it installed?): ${e.message}`)));
    child.on('close', (code, signal) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}: ${err}${out}`)),
    );
  });
  if (input !== undefined) child.stdin!.end(input);
  return {
    child,
    done,
    printed: (text) =>
      out.includes(text) ? Promise.resolve() : Promise.race([new Promise<void>((resolve) => waiters.push({ text, resolve })), done.then(() => {
        throw new Error(`${command} exited before printing ${JSON.stringify(text)}: ${out}`);
      })]),
  };
}

const hostArgs = () => ['-h', '127.0.0.1', '-p', String(server.port)];

for (const [label, version] of [['v3.1.1', 'mqttv311'], ['v5', '5'], ['v3.1', 'mqttv31']] as const) {
  test(`mosquitto_sub receives what mosquitto_pub sends at QoS 0, 1 and 2 (${label})`, async () => {
    const topic = unique(`interop/mosq/${version}`);
    // -d prints the SUBACK, so the publishes start only once the subscription is in place.
    const sub = run('mosquitto_sub', [...hostArgs(), '-V', version, '-t', `${topic}/#`, '-q', '2', '-C', '3', '-v', '-d']);
    await sub.printed('SUBACK');
    for (const qos of [0, 1, 2]) {
      await run('mosquitto_pub', [...hostArgs(), '-V', version, '-t', `${topic}/q${qos}`, '-q', String(qos), '-m', `hello ${qos}`]).done;
    }
    const out = await sub.done;
    for (const qos of [0, 1, 2]) assert.match(out, new RegExp(`${topic}/q${qos} hello ${qos}`));
  });
}

test('a retained message from mosquitto_pub reaches a later mosquitto_sub', async () => {
  const topic = unique('interop/retained');
  await run('mosquitto_pub', [...hostArgs(), '-t', topic, '-m', 'kept', '-r', '-q', '1']).done;
  const out = await run('mosquitto_sub', [...hostArgs(), '-t', topic, '-C', '1', '-v']).done;
  assert.equal(out.trim(), `${topic} kept`);
});

test('v5 user properties from mosquitto_pub reach an MQTT.js subscriber unchanged', async () => {
  const topic = unique('interop/props');
  const client = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(client);
  await client.subscribeAsync(topic, { qos: 1 });
  await run('mosquitto_pub', [...hostArgs(), '-V', '5', '-t', topic, '-m', 'x', '-q', '1', '-D', 'publish', 'user-property', 'site', 'north', '-D', 'publish', 'content-type', 'text/plain']).done;
  const received = (await inbox.untilTopic(topic)).at(-1)!;
  assert.deepEqual({ ...received.packet.properties?.userProperties }, { site: 'north' });
  assert.equal(received.packet.properties?.contentType, 'text/plain');
  await end(client);
});

test('the will of a mosquitto_sub killed with SIGKILL is published', async () => {
  const willTopic = unique('interop/will');
  const watcher = await connect(server.url, { protocolVersion: 4 });
  const inbox = new Inbox(watcher);
  await watcher.subscribeAsync(willTopic, { qos: 1 });
  const doomed = run('mosquitto_sub', [...hostArgs(), '-t', unique('interop/any'), '-d', '--will-topic', willTopic, '--will-payload', 'gone', '--will-qos', '1']);
  await doomed.printed('SUBACK');
  doomed.child.kill('SIGKILL');
  await once(doomed.child, 'close');
  const will = (await inbox.untilTopic(willTopic)).at(-1)!;
  assert.equal(will.payload.toString(), 'gone');
  await end(watcher);
});

// A Paho client (Python) exchanging QoS 2 messages with itself, and with MQTT.js, per version.
const PAHO_SCRIPT = String.raw`
import sys, threading
import paho.mqtt.client as mqtt
port, version, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
proto = {"311": mqtt.MQTTv311, "5": mqtt.MQTTv5}[version]
got = threading.Event()
got_other = threading.Event()
subscribed = threading.Event()
received = []
c = mqtt.Client(client_id="paho-" + topic.replace("/", "-"), protocol=proto)
c.on_subscribe = lambda *a: subscribed.set()
def on_message(client, userdata, msg):
    received.append((msg.topic, msg.payload.decode(), msg.qos))
    (got if len(received) == 1 else got_other).set()
c.on_message = on_message
c.connect("127.0.0.1", port)
c.loop_start()
c.subscribe(topic, qos=2)
assert subscribed.wait(10), "no SUBACK"
print("SUBSCRIBED", flush=True)
info = c.publish(topic, "from paho", qos=2)
info.wait_for_publish(10)
assert got.wait(10), "own message not received"
print("RECEIVED", received[0][0], received[0][1], received[0][2], flush=True)
assert got_other.wait(10), "MQTT.js message not received"
print("RECEIVED", received[1][0], received[1][1], received[1][2], flush=True)
c.loop_stop()
c.disconnect()
`;

for (const [label, version, mqttjsVersion] of [['v3.1.1', '311', 4], ['v5', '5', 5]] as const) {
  test(`a Paho client exchanges QoS 2 messages with itself and with MQTT.js (${label})`, async () => {
    const topic = unique(`interop/paho/${version}`);
    const paho = run(PYTHON, ['-c', PAHO_SCRIPT, String(server.port), version, topic]);
    await paho.printed(`RECEIVED ${topic} from paho 2`);
    const watcher = await connect(server.url, { protocolVersion: mqttjsVersion });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync(topic, { qos: 2 });
    await watcher.publishAsync(topic, 'from mqtt.js', { qos: 2 });
    const own = (await inbox.untilTopic(topic)).at(-1)!;
    assert.equal(own.payload.toString(), 'from mqtt.js');
    await paho.printed(`RECEIVED ${topic} from mqtt.js 2`);
    await paho.done;
    await end(watcher);
  });
}
