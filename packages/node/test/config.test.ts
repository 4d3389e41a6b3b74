import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@roost/protocol';
import { defaultLimits } from '@roost/broker';
import { loadConfig, SETTINGS } from '@roost/node';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

test('defaults: port 1883 on all interfaces, embedded mode, the broker default limits', () => {
  const config = loadConfig([], {});
  assert.equal(config.mqttPort, 1883);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.redisUrl, undefined);
  assert.equal(config.logLevel, 'info');
  assert.deepEqual(config.limits, defaultLimits);
});

test('a bad ROOST_REDIS_URL is refused without echoing it: a URL may hold a password', () => {
  for (const raw of ['redis://:s3cret-pw@host:notaport', 'http://user:s3cret-pw@host:6379']) {
    const error = configError(() => loadConfig([], { ROOST_REDIS_URL: raw }));
    assert.match(error.message, /ROOST_REDIS_URL/);
    assert.doesNotMatch(error.message, /s3cret-pw/);
  }
});

test('a CLI flag beats the environment, which beats the default', () => {
  assert.equal(loadConfig([], { ROOST_MQTT_PORT: '1884' }).mqttPort, 1884);
  assert.equal(loadConfig(['--mqtt-port', '1885'], { ROOST_MQTT_PORT: '1884' }).mqttPort, 1885);
  assert.equal(loadConfig(['--max-inflight=7'], {}).limits.maxInflight, 7);
});

test('every setting has a ROOST_ variable and a matching flag', () => {
  for (const s of SETTINGS) {
    assert.match(s.env, /^ROOST_[A-Z_]+$/);
    assert.equal(`ROOST_${s.flag.toUpperCase().replace(/-/g, '_')}`, s.env);
  }
});

for (const [env, value] of [
  ['ROOST_MQTT_PORT', 'abc'],
  ['ROOST_MQTT_PORT', '70000'],
  ['ROOST_MQTT_PORT', '-1'],
  ['ROOST_MAX_INFLIGHT', '0'],
  ['ROOST_SYS_INTERVAL', '1.5'],
  ['ROOST_LOG_LEVEL', 'loud'],
  ['ROOST_QUEUE_OVERFLOW', 'drop-random'],
  ['ROOST_REDIS_URL', 'http://localhost:6379'],
  ['ROOST_REDIS_URL', 'not a url'],
  ['ROOST_SHARED_STRATEGY', 'fastest'],
  ['ROOST_SHARED_GROUP_STRATEGIES', 'g=fastest'],
  ['ROOST_SHARED_GROUP_STRATEGIES', 'g'],
  ['ROOST_SHARED_GROUP_STRATEGIES', 'g=local=x'],
  ['ROOST_NODE_TIMEOUT', '10'],
] as const) {
  test(`a bad ${env}=${JSON.stringify(value)} is a ConfigError naming it`, () => {
    const error = configError(() => loadConfig([], { [env]: value }));
    assert.equal(error.setting, env);
  });
}

test('a bad flag value names the flag; an unknown flag is refused', () => {
  assert.equal(configError(() => loadConfig(['--mqtt-port', 'x'], {})).setting, '--mqtt-port');
  configError(() => loadConfig(['--no-such-flag', '1'], {}));
});

test('ROOST_SHARED_GROUP_STRATEGIES maps share names to strategies', () => {
  const config = loadConfig([], { ROOST_SHARED_GROUP_STRATEGIES: 'alerts=local, jobs=hash_clientid' });
  assert.deepEqual([...config.sharedGroupStrategies], [['alerts', 'local'], ['jobs', 'hash_clientid']]);
  assert.equal(loadConfig([], {}).sharedGroupStrategies.size, 0);
});

test('ROOST_SERVER_KEEP_ALIVE unset honours the client; set, it is a limit', () => {
  assert.equal(loadConfig([], {}).limits.serverKeepAlive, undefined);
  assert.equal(loadConfig([], { ROOST_SERVER_KEEP_ALIVE: '30' }).limits.serverKeepAlive, 30);
});

test('the edge process exits 2 with one line naming a bad setting', async () => {
  const main = fileURLToPath(new URL('../../../services/edge/src/main.ts', import.meta.url));
  const child = spawn(process.execPath, [main], { env: { ...process.env, ROOST_MQTT_PORT: 'abc' } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 2);
  assert.equal(stderr.trim().split('\n').length, 1);
  assert.match(stderr, /^roost: ROOST_MQTT_PORT: must be an integer/);
});

test('docs/configuration.md lists every setting', async () => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  for (const s of SETTINGS) assert.ok(doc.includes(`\`${s.env}\``), `${s.env} is missing from docs/configuration.md`);
});

test('ROOST_PROXY_PROTOCOL names the listeners that require a PROXY header; another name is a ConfigError', () => {
  assert.deepEqual([...loadConfig([], {}).proxyProtocol], []);
  assert.deepEqual([...loadConfig([], { ROOST_PROXY_PROTOCOL: 'mqtt, ws' }).proxyProtocol].sort(), ['mqtt', 'ws']);
  assert.equal(configError(() => loadConfig([], { ROOST_PROXY_PROTOCOL: 'mqtt,https' })).message.includes('ROOST_PROXY_PROTOCOL'), true);
  const warned = loadConfig([], { ROOST_PROXY_PROTOCOL: 'tls' }).warnings;
  assert.ok(warned.some((w) => w.includes('tls listener, which is off')), JSON.stringify(warned));
});
