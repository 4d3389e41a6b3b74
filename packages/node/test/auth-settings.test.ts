// The authentication settings: what turns anonymous access off by default, and the
// combinations refused before the node starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@roost/protocol';
import { loadConfig } from '@roost/node';

function settingOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.setting;
  }
  assert.fail('expected a ConfigError');
}

test('any provider makes anonymous clients refused unless ROOST_ALLOW_ANONYMOUS=true; none leaves them in', () => {
  assert.equal(loadConfig([], {}).allowAnonymous, true);
  for (const env of [
    { ROOST_JWT_KEY_FILE: '/k' },
    { ROOST_AUTH_HTTP_URL: 'http://127.0.0.1:1/auth' },
    { ROOST_TLS_IDENTITY: 'cn' },
    { ROOST_REDIS_URL: 'redis://127.0.0.1:1', ROOST_REDIS_USERS: 'true' },
  ]) {
    assert.equal(loadConfig([], env).allowAnonymous, false, JSON.stringify(env));
    assert.equal(loadConfig([], { ...env, ROOST_ALLOW_ANONYMOUS: 'true' }).allowAnonymous, true);
  }
  assert.equal(loadConfig([], { ROOST_REDIS_URL: 'redis://127.0.0.1:1', ROOST_REDIS_ACL: 'true' }).allowAnonymous, true, 'rules alone authenticate nobody');
});

test('settings that cannot work are refused, naming the setting', () => {
  assert.equal(settingOf(() => loadConfig([], { ROOST_REDIS_USERS: 'true' })), 'ROOST_REDIS_USERS');
  assert.equal(settingOf(() => loadConfig([], { ROOST_REDIS_ACL: 'true' })), 'ROOST_REDIS_ACL');
  assert.equal(settingOf(() => loadConfig([], { ROOST_JWT_KEY_FILE: '/a', ROOST_JWT_JWKS_FILE: '/b' })), 'ROOST_JWT_JWKS_FILE');
  assert.equal(settingOf(() => loadConfig([], { ROOST_TLS_IDENTITY: 'dn' })), 'ROOST_TLS_IDENTITY');
  assert.equal(settingOf(() => loadConfig([], { ROOST_AUTH_HTTP_URL: 'ftp://x/auth' })), 'ROOST_AUTH_HTTP_URL');
  assert.equal(settingOf(() => loadConfig([], { ROOST_AUTH_HTTP_TIMEOUT: '0' })), 'ROOST_AUTH_HTTP_TIMEOUT');
});

test('the JWT and HTTP settings reach the config with their defaults', () => {
  const config = loadConfig([], { ROOST_JWT_KEY_FILE: '/k', ROOST_AUTH_HTTP_URL: 'https://auth.example/mqtt' });
  assert.deepEqual(config.auth.jwt, { keyFile: '/k', jwksFile: undefined, usernameClaim: 'sub', clientIdClaim: undefined, aclClaim: 'acl', leewaySeconds: 30 });
  assert.deepEqual(config.auth.http, { url: 'https://auth.example/mqtt', timeoutMs: 2000, cacheTtlMs: 30_000 });
});
