import { parseArgs } from 'node:util';
import { ConfigError } from '@roost/protocol';
import type { AclDenyAction, AuthBanPolicy, BrokerLimits, QueueOverflowPolicy, SharedStrategy, TlsSettings } from '@roost/broker';
import { authSettings, hasProvider, type AuthSettings } from './auth-settings.ts';
import { SETTINGS, type Setting } from './settings.ts';
import { unknownVariables } from './unknown-variables.ts';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface Config {
  mqttPort: number;
  host: string;
  /** Certificate and policy of the TLS and WSS listeners; undefined when no certificate is set. */
  tls: TlsSettings | undefined;
  tlsPort: number;
  /** Undefined: that listener is off. */
  wsPort: number | undefined;
  wssPort: number | undefined;
  wsPath: string;
  /** Names of the listeners that require a PROXY header (ROOST_PROXY_PROTOCOL). */
  proxyProtocol: ReadonlySet<string>;
  maxConnections: number | undefined;
  maxConnectRate: number | undefined;
  /** Undefined: ROOST_AUTH_BAN_AFTER=0. */
  authBan: AuthBanPolicy | undefined;
  /** ROOST_PASSWORD_FILE; undefined: no provider. */
  passwordFile: string | undefined;
  aclFile: string | undefined;
  /** The other providers' settings (JWT, HTTP, certificate identity, Redis). */
  auth: AuthSettings;
  /** Whether clients without a user name get in; defaults to true only when no provider is configured. */
  allowAnonymous: boolean;
  /** Problems worth a warning at start that do not stop it (an unknown ROOST_* variable). */
  warnings: string[];
  httpPort: number;
  /** ROOST_ADMIN_TOKEN; undefined: the operations API is off. Never logged. */
  adminToken: string | undefined;
  nodeId: string;
  redisUrl: string | undefined;
  redisPrefix: string;
  clusterPort: number;
  clusterAdvertise: string | undefined;
  sharedStrategy: SharedStrategy;
  sharedGroupStrategies: Map<string, SharedStrategy>;
  nodeTimeout: number;
  connectConcurrency: number;
  /** What SIGTERM does: ROOST_DRAIN_DELAY, ROOST_DRAIN_RATE, ROOST_DRAIN_SERVER_REFERENCE. */
  drain: { delaySeconds: number; ratePerSecond: number; serverReference: string | undefined };
  logLevel: LogLevel;
  sysInterval: number;
  limits: BrokerLimits;
  help: boolean;
}

/**
 * Reads every setting from CLI flags, then ROOST_* variables, then defaults. Throws a
 * ConfigError naming the setting on the first bad value, so the operator sees one line.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const flags = parseFlags(argv);
  const values = new Map<string, string | number | Map<string, string> | undefined>();
  for (const s of SETTINGS) {
    const raw = flags[s.flag] ?? env[s.env] ?? s.default;
    values.set(s.key, raw === undefined || raw === '' ? undefined : parseValue(s, raw, flags[s.flag] !== undefined));
  }
  const get = <T>(key: string) => values.get(key) as T;
  const limits: BrokerLimits = {
    maxQueuedMessages: get('maxQueuedMessages'),
    queueOverflow: get<QueueOverflowPolicy>('queueOverflow'),
    maxInflight: get('maxInflight'),
    receiveMaximum: get('receiveMaximum'),
    maxPacketSize: get('maxPacketSize'),
    topicAliasMaximum: get('topicAliasMaximum'),
    maxSessionExpiry: get('maxSessionExpiry'),
    connectTimeout: get('connectTimeout'),
    publishBurstSeconds: get('publishBurstSeconds'),
    publishThrottleSeconds: get('publishThrottleSeconds'),
    aclDenyAction: get<AclDenyAction>('aclDenyAction'),
  };
  for (const key of ['maxKeepAlive', 'maxSubscriptions', 'maxTopicLength', 'maxTopicLevels', 'maxPublishRate', 'maxPublishBytesRate'] as const) {
    const value = get<number | undefined>(key);
    if (value !== undefined) limits[key] = value;
  }
  const authBanAfter = get<number>('authBanAfter');
  const serverKeepAlive = get<number | undefined>('serverKeepAlive');
  if (serverKeepAlive !== undefined) limits.serverKeepAlive = serverKeepAlive;
  const tls = tlsSettings(get);
  const wssPort = get<number | undefined>('wssPort');
  if (wssPort !== undefined && !tls) throw new ConfigError('ROOST_WSS_PORT', 'needs ROOST_TLS_CERT_FILE and ROOST_TLS_KEY_FILE');
  const wsPath = get<string>('wsPath');
  if (!wsPath.startsWith('/')) throw new ConfigError('ROOST_WS_PATH', `must start with / (got ${JSON.stringify(wsPath)})`);
  const proxyProtocol = proxyListeners(get<string | undefined>('proxyProtocol'));
  const warnings = unknownVariables(env, SETTINGS.map((s) => s.env));
  const adminToken = get<string | undefined>('adminToken');
  // The value itself stays out of the message: errors are printed.
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) throw new ConfigError('ROOST_ADMIN_TOKEN', `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
  const on = { mqtt: true, tls: tls !== undefined, ws: get('wsPort') !== undefined, wss: wssPort !== undefined };
  for (const name of proxyProtocol) if (!on[name as keyof typeof on]) warnings.push(`ROOST_PROXY_PROTOCOL names the ${name} listener, which is off`);
  const passwordFile = get<string | undefined>('passwordFile');
  const auth = authSettings(get, get('redisUrl') !== undefined);
  const anyProvider = passwordFile !== undefined || hasProvider(auth);
  const allowAnonymousSetting = get<string | undefined>('allowAnonymous');
  const allowAnonymous = allowAnonymousSetting === undefined ? !anyProvider : allowAnonymousSetting === 'true';
  if (!allowAnonymous && !anyProvider) warnings.push('ROOST_ALLOW_ANONYMOUS=false without an authentication provider: every client is refused');
  return {
    mqttPort: get('mqttPort'),
    host: get('host'),
    tls,
    tlsPort: get('tlsPort'),
    wsPort: get('wsPort'),
    wssPort,
    wsPath,
    proxyProtocol,
    maxConnections: get('maxConnections'),
    maxConnectRate: get('maxConnectRate'),
    authBan: authBanAfter === 0 ? undefined : { after: authBanAfter, seconds: get('authBanSeconds') },
    passwordFile,
    aclFile: get('aclFile'),
    auth,
    allowAnonymous,
    warnings,
    httpPort: get('httpPort'),
    adminToken,
    nodeId: get('nodeId'),
    redisUrl: get('redisUrl'),
    redisPrefix: get('redisPrefix'),
    clusterPort: get('clusterPort'),
    clusterAdvertise: get('clusterAdvertise'),
    sharedStrategy: get<SharedStrategy>('sharedStrategy'),
    sharedGroupStrategies: get<Map<string, SharedStrategy> | undefined>('sharedGroupStrategies') ?? new Map(),
    nodeTimeout: get('nodeTimeout'),
    connectConcurrency: get('connectConcurrency'),
    drain: { delaySeconds: get('drainDelay'), ratePerSecond: get('drainRate'), serverReference: get('drainServerReference') },
    logLevel: get<LogLevel>('logLevel'),
    sysInterval: get('sysInterval'),
    limits,
    help: flags.help === 'true',
  };
}

const LISTENER_NAMES = ['mqtt', 'tls', 'ws', 'wss'];
const MIN_ADMIN_TOKEN_LENGTH = 16;

/** ROOST_PROXY_PROTOCOL: listener names, comma-separated; a name that is no listener is an error, not ignored. */
function proxyListeners(raw: string | undefined): ReadonlySet<string> {
  const names = (raw ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = names.find((name) => !LISTENER_NAMES.includes(name));
  if (unknown !== undefined) throw new ConfigError('ROOST_PROXY_PROTOCOL', `names listeners among ${LISTENER_NAMES.join(', ')} (got ${JSON.stringify(unknown)})`);
  return new Set(names);
}

/** The TLS settings when a certificate and key are both set; one without the other is an error. */
function tlsSettings(get: <T>(key: string) => T): TlsSettings | undefined {
  const certFile = get<string | undefined>('tlsCertFile');
  const keyFile = get<string | undefined>('tlsKeyFile');
  const caFile = get<string | undefined>('tlsCaFile');
  const clientCert = get<TlsSettings['clientCert']>('tlsClientCert');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) throw new ConfigError('ROOST_TLS_CERT_FILE', 'must be set with ROOST_TLS_KEY_FILE');
  if (keyFile === undefined) throw new ConfigError('ROOST_TLS_KEY_FILE', 'must be set with ROOST_TLS_CERT_FILE');
  if (clientCert !== 'none' && caFile === undefined) throw new ConfigError('ROOST_TLS_CLIENT_CERT', `${clientCert} needs ROOST_TLS_CA_FILE to verify certificates against`);
  const settings: TlsSettings = { certFile, keyFile, clientCert, minVersion: get<TlsSettings['minVersion']>('tlsMinVersion') };
  if (caFile !== undefined) settings.caFile = caFile;
  const ciphers = get<string | undefined>('tlsCiphers');
  if (ciphers !== undefined) settings.ciphers = ciphers;
  return settings;
}

function parseFlags(argv: string[]): Record<string, string | undefined> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const s of SETTINGS) options[s.flag] = { type: 'string' };
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    const out: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(values)) out[k] = typeof v === 'boolean' ? String(v) : (v as string | undefined);
    return out;
  } catch (error) {
    throw new ConfigError('command line', (error as Error).message);
  }
}

function parseValue(s: Setting, raw: string, fromFlag: boolean): string | number | Map<string, string> {
  const name = fromFlag ? `--${s.flag}` : s.env;
  const kind = s.kind;
  switch (kind.type) {
    case 'int': {
      const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
      if (!Number.isSafeInteger(n) || n < kind.min || n > kind.max) {
        throw new ConfigError(name, `must be an integer from ${kind.min} to ${kind.max} (got ${JSON.stringify(raw)})`);
      }
      return n;
    }
    case 'enum':
      if (!kind.values.includes(raw)) throw new ConfigError(name, `must be one of ${kind.values.join(', ')} (got ${JSON.stringify(raw)})`);
      return raw;
    case 'url': {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        // Not echoed: a URL may carry a password (redis://:secret@host), and this line reaches the logs.
        throw new ConfigError(name, `must be a URL like redis://host:6379 (the value given is not one; not shown, as it may hold a password)`);
      }
      if (!kind.protocols.includes(url.protocol)) throw new ConfigError(name, `must use ${kind.protocols.join(' or ')} (got ${url.protocol})`);
      return raw;
    }
    case 'string':
      return raw;
    case 'map': {
      const map = new Map<string, string>();
      for (const entry of raw.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
        const [key, value, ...rest] = entry.split('=').map((p) => p.trim());
        if (!key || value === undefined || rest.length > 0 || !kind.values.includes(value)) {
          throw new ConfigError(name, `must be name=value pairs separated by commas, each value one of ${kind.values.join(', ')} (got ${JSON.stringify(entry)})`);
        }
        map.set(key, value);
      }
      return map;
    }
  }
}

/** The `--help` text: one line per setting with its flag, variable and default. */
export function formatHelp(): string {
  const lines = ['Usage: roost [--flag value ...]   (every flag is also a ROOST_* environment variable)', ''];
  for (const s of SETTINGS) {
    lines.push(`  --${s.flag.padEnd(22)} ${s.env.padEnd(28)} default: ${s.default ?? '(unset)'}`);
    lines.push(`      ${s.description}`);
  }
  return lines.join('\n');
}
