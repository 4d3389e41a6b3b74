import { hostname } from 'node:os';
import { DEFAULT_CONNECT_CONCURRENCY, SHARED_STRATEGIES, defaultLimits } from '@roost/broker';

export type SettingKind =
  | { type: 'int'; min: number; max: number }
  | { type: 'string' }
  | { type: 'url'; protocols: string[] }
  | { type: 'enum'; values: readonly string[] }
  /** `name=value,name=value`, each value one of `values`. */
  | { type: 'map'; values: readonly string[] };

export interface Setting {
  /** Key in the Config object. */
  key: string;
  env: string;
  /** CLI flag without the leading dashes. */
  flag: string;
  kind: SettingKind;
  /** Default as text, or undefined when unset means something (e.g. embedded mode). */
  default: string | undefined;
  description: string;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const UINT32 = 0xffffffff;

function setting(key: string, env: string, kind: SettingKind, def: string | number | undefined, description: string): Setting {
  const flag = env.replace(/^ROOST_/, '').toLowerCase().replace(/_/g, '-');
  return { key, env, flag, kind, default: def === undefined ? undefined : String(def), description };
}

/** Every setting, in the order `--help` and docs/configuration.md list them. */
export const SETTINGS: readonly Setting[] = [
  setting('mqttPort', 'ROOST_MQTT_PORT', { type: 'int', min: 0, max: 65535 }, 1883, 'MQTT TCP listener port; 0 picks a free one (logged)'),
  setting('host', 'ROOST_HOST', { type: 'string' }, '0.0.0.0', 'address the listeners bind to'),
  setting('tlsPort', 'ROOST_TLS_PORT', { type: 'int', min: 0, max: 65535 }, 8883, 'MQTT over TLS listener port; on when ROOST_TLS_CERT_FILE and ROOST_TLS_KEY_FILE are set'),
  setting('tlsCertFile', 'ROOST_TLS_CERT_FILE', { type: 'string' }, undefined, 'PEM certificate (chain) of the TLS and WSS listeners; reloaded when the file changes'),
  setting('tlsKeyFile', 'ROOST_TLS_KEY_FILE', { type: 'string' }, undefined, 'PEM private key of that certificate; reloaded with it'),
  setting('tlsCaFile', 'ROOST_TLS_CA_FILE', { type: 'string' }, undefined, 'PEM CA bundle that client certificates are verified against'),
  setting('tlsClientCert', 'ROOST_TLS_CLIENT_CERT', { type: 'enum', values: ['none', 'request', 'require'] }, 'none', 'client certificates: none; request (optional, a bad one is refused); require (refused at the handshake without a valid one)'),
  setting('tlsMinVersion', 'ROOST_TLS_MIN_VERSION', { type: 'enum', values: ['TLSv1.2', 'TLSv1.3'] }, 'TLSv1.2', 'oldest TLS version a client may use'),
  setting('tlsCiphers', 'ROOST_TLS_CIPHERS', { type: 'string' }, undefined, "OpenSSL cipher list for TLS 1.2; unset keeps Node's default"),
  setting('wsPort', 'ROOST_WS_PORT', { type: 'int', min: 0, max: 65535 }, undefined, 'MQTT over WebSocket listener port; unset: off'),
  setting('wssPort', 'ROOST_WSS_PORT', { type: 'int', min: 0, max: 65535 }, undefined, 'MQTT over secure WebSocket port, with the ROOST_TLS_* certificate; unset: off'),
  setting('wsPath', 'ROOST_WS_PATH', { type: 'string' }, '/mqtt', 'HTTP path of the WebSocket listeners; other paths are refused'),
  setting('proxyProtocol', 'ROOST_PROXY_PROTOCOL', { type: 'string' }, undefined, 'listeners whose connections must open with a PROXY protocol v1/v2 header, comma-separated: mqtt, tls, ws, wss; unset: none'),
  setting('maxConnections', 'ROOST_MAX_CONNECTIONS', { type: 'int', min: 1, max: 100_000_000 }, undefined, 'open connections per node; more get CONNACK 0x97 (v5) / 3 (v3) and are closed; unset: no limit'),
  setting('passwordFile', 'ROOST_PASSWORD_FILE', { type: 'string' }, undefined, "users and password hashes in Mosquitto's format (mosquitto_passwd); reloaded when the file changes; unset: no password check"),
  setting('aclFile', 'ROOST_ACL_FILE', { type: 'string' }, undefined, "topic rules in Mosquitto's acl_file format; what no rule allows is refused; reloaded when the file changes; unset: every topic allowed"),
  setting('aclDenyAction', 'ROOST_ACL_DENY_ACTION', { type: 'enum', values: ['ignore', 'disconnect'] }, defaultLimits.aclDenyAction, 'a PUBLISH the ACL refuses: ignore (acknowledged, v5 with 0x87, and dropped) or disconnect (v5: DISCONNECT 0x87)'),
  setting('authBanAfter', 'ROOST_AUTH_BAN_AFTER', { type: 'int', min: 0, max: 1_000_000 }, 10, 'failed logins from one address (IPv6: one /64) within ROOST_AUTH_BAN_SECONDS that ban it (CONNACK 0x8A / 5); 0 turns bans off'),
  setting('authBanSeconds', 'ROOST_AUTH_BAN_SECONDS', { type: 'int', min: 1, max: 86_400 }, 60, 'the window failed logins are counted in, and how long a ban lasts, seconds'),
  setting('allowAnonymous', 'ROOST_ALLOW_ANONYMOUS', { type: 'enum', values: ['true', 'false'] }, undefined, 'whether clients without a user name may connect; unset: true without an authentication provider, false with one'),
  setting('tlsIdentity', 'ROOST_TLS_IDENTITY', { type: 'enum', values: ['cn', 'san'] }, undefined, "the verified client certificate's CN or first SAN is the user name (Mosquitto's use_identity_as_username); clients without one are refused; unset: off"),
  setting('redisUsers', 'ROOST_REDIS_USERS', { type: 'enum', values: ['true', 'false'] }, 'false', 'users and password hashes in Redis (npx roost users), changed at run time on every node; needs ROOST_REDIS_URL'),
  setting('redisAcl', 'ROOST_REDIS_ACL', { type: 'enum', values: ['true', 'false'] }, 'false', "per-user ACL rules in Redis (npx roost acl), applied live on every node, before ROOST_ACL_FILE's; needs ROOST_REDIS_URL"),
  setting('jwtKeyFile', 'ROOST_JWT_KEY_FILE', { type: 'string' }, undefined, 'JWT as the password: a PEM public key (RS256, ES256) or an HS256 secret; reloaded when the file changes; unset: no JWT'),
  setting('jwtJwksFile', 'ROOST_JWT_JWKS_FILE', { type: 'string' }, undefined, 'JWT as the password: a JWKS file (RS256, ES256, HS256 keys picked by kid), instead of ROOST_JWT_KEY_FILE'),
  setting('jwtUsernameClaim', 'ROOST_JWT_USERNAME_CLAIM', { type: 'string' }, 'sub', 'the token claim that must equal the CONNECT user name'),
  setting('jwtClientIdClaim', 'ROOST_JWT_CLIENTID_CLAIM', { type: 'string' }, undefined, 'a token claim that must equal the client id; unset: not checked'),
  setting('jwtAclClaim', 'ROOST_JWT_ACL_CLAIM', { type: 'string' }, 'acl', "the token claim holding the client's ACL ({read, write, readwrite, deny: [filters]}); absent in a token: the ACL sources apply"),
  setting('jwtLeeway', 'ROOST_JWT_LEEWAY', { type: 'int', min: 0, max: 3600 }, 30, 'seconds of clock skew allowed on exp and nbf'),
  setting('authHttpUrl', 'ROOST_AUTH_HTTP_URL', { type: 'url', protocols: ['http:', 'https:'] }, undefined, 'an HTTP service asked at each CONNECT (JSON POST), answering allow, deny or ignore; unset: off'),
  setting('authHttpTimeout', 'ROOST_AUTH_HTTP_TIMEOUT', { type: 'int', min: 1, max: 60_000 }, 2000, 'milliseconds the HTTP service has to answer; then the client gets 0x88 Server Unavailable'),
  setting('authHttpCacheSeconds', 'ROOST_AUTH_HTTP_CACHE_SECONDS', { type: 'int', min: 0, max: 86_400 }, 30, "seconds the HTTP service's verdict for the same credentials is reused; 0: asked every time"),
  setting('httpPort', 'ROOST_HTTP_PORT', { type: 'int', min: 0, max: 65535 }, 8080, 'HTTP port for /healthz, /readyz and /metrics; 0 turns it off'),
  setting('adminToken', 'ROOST_ADMIN_TOKEN', { type: 'string' }, undefined, 'bearer token of the operations API (/api/v1 on the HTTP port), at least 16 characters; unset: the API is off'),
  setting('nodeId', 'ROOST_NODE_ID', { type: 'string' }, hostname(), "this node's name in logs and in the cluster"),
  setting('redisUrl', 'ROOST_REDIS_URL', { type: 'url', protocols: ['redis:', 'rediss:'] }, undefined, 'Redis for cluster mode; unset runs one node on in-memory state'),
  setting('redisPrefix', 'ROOST_REDIS_PREFIX', { type: 'string' }, 'roost:', 'prefix of every Redis key, so several clusters can share one Redis'),
  setting('clusterPort', 'ROOST_CLUSTER_PORT', { type: 'int', min: 0, max: 65535 }, 7946, 'gRPC port for the other nodes (cluster mode); 0 picks a free one'),
  setting('clusterAdvertise', 'ROOST_CLUSTER_ADVERTISE', { type: 'string' }, undefined, 'host:port the other nodes reach this one on; unset: ROOST_HOST (or the hostname when 0.0.0.0) and the bound port'),
  setting('sharedStrategy', 'ROOST_SHARED_STRATEGY', { type: 'enum', values: SHARED_STRATEGIES }, 'round_robin', 'how a shared subscription picks the node of the member that gets a message'),
  setting('sharedGroupStrategies', 'ROOST_SHARED_GROUP_STRATEGIES', { type: 'map', values: SHARED_STRATEGIES }, undefined, 'per share name, overriding ROOST_SHARED_STRATEGY: group=strategy,group=strategy'),
  setting('drainDelay', 'ROOST_DRAIN_DELAY', { type: 'int', min: 0, max: 3600 }, 0, 'seconds after SIGTERM during which /readyz answers 503 while the node still serves everything, so load balancers stop sending clients'),
  setting('drainRate', 'ROOST_DRAIN_RATE', { type: 'int', min: 0, max: 1_000_000 }, 0, 'clients disconnected per second after ROOST_DRAIN_DELAY; 0: all at once'),
  setting('drainServerReference', 'ROOST_DRAIN_SERVER_REFERENCE', { type: 'string' }, undefined, 'sent to v5 clients on drain as the Server Reference of DISCONNECT 0x9C (use another server); unset: DISCONNECT 0x8B (server shutting down)'),
  setting('connectConcurrency', 'ROOST_CONNECT_CONCURRENCY', { type: 'int', min: 1, max: 100_000 }, DEFAULT_CONNECT_CONCURRENCY, 'CONNECTs a cluster node resolves at once (their Redis round trips); more wait their turn, so a connect storm holds less memory'),
  setting('nodeTimeout', 'ROOST_NODE_TIMEOUT', { type: 'int', min: 300, max: 600_000 }, 5000, 'milliseconds without a heartbeat after which a node is dead (heartbeats every third of it)'),
  setting('logLevel', 'ROOST_LOG_LEVEL', { type: 'enum', values: LOG_LEVELS }, 'info', 'log level (JSON logs on stdout)'),
  setting('sysInterval', 'ROOST_SYS_INTERVAL', { type: 'int', min: 0, max: 86400 }, 10, 'seconds between $SYS/broker publications; 0 turns them off'),
  setting('maxQueuedMessages', 'ROOST_MAX_QUEUED_MESSAGES', { type: 'int', min: 0, max: 10_000_000 }, defaultLimits.maxQueuedMessages, 'QoS 1/2 messages queued per session before the overflow policy applies'),
  setting('queueOverflow', 'ROOST_QUEUE_OVERFLOW', { type: 'enum', values: ['drop-oldest', 'drop-newest'] }, defaultLimits.queueOverflow, 'which message a full session queue drops'),
  setting('maxInflight', 'ROOST_MAX_INFLIGHT', { type: 'int', min: 1, max: 65535 }, defaultLimits.maxInflight, 'unacknowledged QoS 1/2 messages per client (v5: also bounded by its Receive Maximum)'),
  setting('receiveMaximum', 'ROOST_RECEIVE_MAXIMUM', { type: 'int', min: 1, max: 65535 }, defaultLimits.receiveMaximum, 'unreleased inbound QoS 2 messages a v5 client may have (Receive Maximum)'),
  setting('maxPacketSize', 'ROOST_MAX_PACKET_SIZE', { type: 'int', min: 64, max: 268435460 }, defaultLimits.maxPacketSize, 'largest packet accepted from a client, bytes'),
  setting('topicAliasMaximum', 'ROOST_TOPIC_ALIAS_MAXIMUM', { type: 'int', min: 0, max: 65535 }, defaultLimits.topicAliasMaximum, 'topic aliases a v5 client may use towards the broker'),
  setting('serverKeepAlive', 'ROOST_SERVER_KEEP_ALIVE', { type: 'int', min: 0, max: 65535 }, undefined, "keep alive imposed on v5 clients, seconds; unset honours the client's"),
  setting('maxSessionExpiry', 'ROOST_MAX_SESSION_EXPIRY', { type: 'int', min: 0, max: UINT32 }, defaultLimits.maxSessionExpiry, 'upper bound on a session expiry interval, seconds'),
  setting('connectTimeout', 'ROOST_CONNECT_TIMEOUT', { type: 'int', min: 1, max: 3600 }, defaultLimits.connectTimeout, 'seconds a new connection has to send CONNECT'),
  setting('maxKeepAlive', 'ROOST_MAX_KEEPALIVE', { type: 'int', min: 1, max: 65535 }, undefined, 'largest keep alive a client may use, seconds (0 counts as larger): v5 is told this one as Server Keep Alive, v3 is refused (CONNACK 2); unset: any'),
  setting('maxSubscriptions', 'ROOST_MAX_SUBSCRIPTIONS', { type: 'int', min: 1, max: 100_000_000 }, defaultLimits.maxSubscriptions, 'subscriptions one session may hold; more get SUBACK 0x97 (v5) / 0x80 (v3)'),
  setting('maxTopicLength', 'ROOST_MAX_TOPIC_LENGTH', { type: 'int', min: 1, max: 65535 }, defaultLimits.maxTopicLength, 'longest topic name or filter, UTF-8 bytes; longer: PUBACK/PUBREC or DISCONNECT 0x90, SUBACK 0x8F (v3: close, SUBACK 0x80)'),
  setting('maxTopicLevels', 'ROOST_MAX_TOPIC_LEVELS', { type: 'int', min: 1, max: 65535 }, defaultLimits.maxTopicLevels, 'most levels in a topic name or filter; more: answered as for ROOST_MAX_TOPIC_LENGTH'),
  setting('maxPublishRate', 'ROOST_MAX_PUBLISH_RATE', { type: 'int', min: 1, max: 100_000_000 }, undefined, 'PUBLISHes per second per client; faster clients are read more slowly; unset: no limit'),
  setting('maxPublishBytesRate', 'ROOST_MAX_PUBLISH_BYTES_RATE', { type: 'int', min: 1, max: 100_000_000_000 }, undefined, 'PUBLISH bytes per second per client; faster clients are read more slowly; unset: no limit'),
  setting('publishBurstSeconds', 'ROOST_PUBLISH_BURST_SECONDS', { type: 'int', min: 1, max: 3600 }, defaultLimits.publishBurstSeconds, 'seconds of either publish rate a client may send at once'),
  setting('publishThrottleSeconds', 'ROOST_PUBLISH_THROTTLE_SECONDS', { type: 'int', min: 0, max: 86_400 }, defaultLimits.publishThrottleSeconds, 'seconds a client may stay over its publish rate before it is disconnected (v5: 0x96); 0: never'),
  setting('maxConnectRate', 'ROOST_MAX_CONNECT_RATE', { type: 'int', min: 1, max: 1_000_000 }, undefined, 'new connections per second from one address (IPv6: one /64); more get CONNACK 0x9F (v5) / 3 (v3); unset: no limit'),
];
