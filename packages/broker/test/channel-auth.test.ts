// MQTT 5 enhanced authentication in the channel, without sockets: the AUTH state machine of
// CONNECT's exchange and of re-authentication, fed with the Authenticator's decisions by hand.
// The method's own state (SCRAM's) is the provider's: here an exchange is an opaque object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IAuthPacket, IConnackPacket, IConnectPacket, Packet } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import { Session } from '@roost/session';
import {
  AuthChain,
  Channel,
  ClientPermissions,
  defaultLimits,
  type Action,
  type AuthDecision,
  type AuthOutcome,
  type AuthProvider,
  type ConnectionInfo,
} from '@roost/broker';

const METHOD = 'SCRAM-SHA-256';
const NOBODY_CALLS = { next: () => Promise.reject(new Error('the channel never calls the exchange')) };

function channel(clock = { now: 1_000_000 }): Channel {
  return new Channel({ limits: { ...defaultLimits, connectTimeout: 10 }, now: () => clock.now, assignClientId: () => 'assigned-1' });
}

function connectPacket(properties: IConnectPacket['properties'] = { authenticationMethod: METHOD, authenticationData: Buffer.from('client-first') }): IConnectPacket {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c1', clean: true, keepalive: 30, properties };
}

function auth(reasonCode: number, data?: string, method: string | undefined = METHOD): IAuthPacket {
  const properties: NonNullable<IAuthPacket['properties']> = {};
  if (method !== undefined) properties.authenticationMethod = method;
  if (data !== undefined) properties.authenticationData = Buffer.from(data);
  return { cmd: 'auth', reasonCode, properties };
}

function accept(username = 'user', data?: string): AuthDecision {
  return { outcome: 'accept', permissions: new ClientPermissions({ clientId: 'c1', username, provider: 'scram' }), data: data === undefined ? undefined : Buffer.from(data) };
}

function proceed(data: string): AuthDecision {
  return { outcome: 'continue', data: Buffer.from(data), exchange: NOBODY_CALLS };
}

function deny(reasonCode: ReasonCode = ReasonCode.NotAuthorized): AuthDecision {
  return { outcome: 'deny', reasonCode, reason: 'SCRAM authentication failed' };
}

function sent(actions: Action[]): Packet[] {
  return actions.flatMap((a) => (a.type === 'send' ? [a.packet] : []));
}

function only<T extends Packet>(actions: Action[], cmd: T['cmd']): T {
  const packets = sent(actions);
  assert.equal(packets.length, 1, JSON.stringify(actions));
  assert.equal(packets[0]!.cmd, cmd);
  return packets[0] as T;
}

function closeOf(actions: Action[]) {
  const close = actions.find((a) => a.type === 'close');
  assert.ok(close && close.type === 'close', `expected a close in ${JSON.stringify(actions.map((a) => a.type))}`);
  return close;
}

/** CONNECT with the method, the server's challenge sent: the channel waits for the client's AUTH. */
function challenged(ch: Channel): void {
  ch.handle(connectPacket());
  only<IAuthPacket>(ch.authenticated(proceed('server-first')), 'auth');
  assert.equal(ch.state, 'authenticating');
}

/** Through CONNECT's whole exchange to CONNACK. */
function connected(ch: Channel): IConnackPacket {
  challenged(ch);
  assert.deepEqual(ch.handle(auth(ReasonCode.ContinueAuthentication, 'client-final')).map((a) => a.type), ['continue-authentication']);
  const attach = ch.authenticated(accept('user', 'server-final'));
  assert.equal(attach[0]?.type, 'attach');
  return only<IConnackPacket>(ch.attached(new Session('c1', 0), false), 'connack');
}

test('[MQTT-4.12.0-1] CONNECT with a method goes to the Authenticator with its method and data; a refusal 0x8C closes', () => {
  const ch = channel();
  const [action] = ch.handle(connectPacket({ authenticationMethod: 'GS2-KRB5', authenticationData: Buffer.from('token') }));
  assert.ok(action?.type === 'authenticate');
  assert.equal(action.credentials.method, 'GS2-KRB5');
  assert.equal(action.credentials.data?.toString(), 'token');
  const actions = ch.authenticated(deny(ReasonCode.BadAuthenticationMethod));
  assert.equal(only<IConnackPacket>(actions, 'connack').reasonCode, ReasonCode.BadAuthenticationMethod);
  closeOf(actions);
});

test('[MQTT-4.12.0-1] the chain refuses a method no provider offers with Bad authentication method, without asking any', async () => {
  let asked = 0;
  const password: AuthProvider = { name: 'password-file', authenticate: async () => (asked++, { outcome: 'accept' }) };
  const outcomes: AuthOutcome[] = [];
  const chain = new AuthChain({ providers: [password], allowAnonymous: true }, (_c, outcome) => outcomes.push(outcome));
  const info: ConnectionInfo = { listener: 'mqtt', remoteAddress: '127.0.0.1', remotePort: 1, tls: undefined };
  const decision = await chain.authenticate({ clientId: 'c1', username: 'u', password: Buffer.from('p'), info, method: 'SCRAM-SHA-1' });
  assert.equal(decision.outcome === 'deny' && decision.reasonCode, ReasonCode.BadAuthenticationMethod);
  assert.equal(asked, 0);
  assert.deepEqual(outcomes, [{ provider: 'none', result: 'bad-method', reasonCode: ReasonCode.BadAuthenticationMethod }]);
});

test("the chain follows a provider's exchange: its later answer is recorded and accepted with the provider's data", async () => {
  const scram: AuthProvider = {
    name: 'scram',
    methods: [METHOD],
    authenticate: async () => ({
      outcome: 'continue',
      data: Buffer.from('server-first'),
      exchange: { next: async (data) => (data?.toString() === 'right' ? { outcome: 'accept', username: 'user', data: Buffer.from('v=') } : { outcome: 'deny', reasonCode: ReasonCode.NotAuthorized, reason: 'failed', detail: 'wrong proof' }) },
    }),
  };
  const logged: string[] = [];
  const chain = new AuthChain({ providers: [scram], allowAnonymous: false }, (_c, outcome, reason) => logged.push(`${outcome.provider}/${outcome.result}/${reason}`));
  const info: ConnectionInfo = { listener: 'mqtt', remoteAddress: '127.0.0.1', remotePort: 1, tls: undefined };
  for (const [answer, expected] of [['right', 'scram/accepted/'], ['wrong', 'scram/not-authorized/wrong proof']] as const) {
    const first = await chain.authenticate({ clientId: 'c1', username: undefined, password: undefined, info, method: METHOD });
    assert.ok(first.outcome === 'continue');
    const last = await first.exchange.next(Buffer.from(answer));
    if (answer === 'right') {
      assert.ok(last.outcome === 'accept');
      assert.equal(last.permissions.identity.username, 'user');
      assert.equal(last.data?.toString(), 'v=');
    } else {
      assert.deepEqual(last, { outcome: 'deny', reasonCode: ReasonCode.NotAuthorized, reason: 'failed' }, 'the detail stays in the log');
    }
    assert.equal(logged.at(-1), expected);
  }
});

test('[MQTT-4.12.0-2] a continue decision sends AUTH 0x18 with the method and the data, then waits for the client', () => {
  const ch = channel();
  ch.handle(connectPacket());
  const packet = only<IAuthPacket>(ch.authenticated(proceed('server-first')), 'auth');
  assert.equal(packet.reasonCode, ReasonCode.ContinueAuthentication);
  assert.equal(packet.properties?.authenticationMethod, METHOD);
  assert.equal(packet.properties?.authenticationData?.toString(), 'server-first');
  assert.equal(ch.state, 'authenticating');
});

test('[MQTT-4.12.0-3] the client answering a challenge with a code other than 0x18 is refused with CONNACK 0x82', () => {
  const ch = channel();
  challenged(ch);
  const actions = ch.handle(auth(ReasonCode.ReAuthenticate, 'client-final'));
  assert.equal(only<IConnackPacket>(actions, 'connack').reasonCode, ReasonCode.ProtocolError);
  closeOf(actions);
});

test('[MQTT-4.12.0-5] an AUTH with another method during the exchange is refused; the accepting CONNACK repeats the method and carries the data', () => {
  const ch = channel();
  challenged(ch);
  assert.equal(only<IConnackPacket>(ch.handle(auth(ReasonCode.ContinueAuthentication, 'x', 'SCRAM-SHA-512')), 'connack').reasonCode, ReasonCode.ProtocolError);
  assert.equal(ch.state, 'closed');

  const connack = connected(channel());
  assert.equal(connack.reasonCode, ReasonCode.Success);
  assert.equal(connack.properties?.authenticationMethod, METHOD);
  assert.equal(connack.properties?.authenticationData?.toString(), 'server-final');
});

test('[MQTT-3.1.2-30] a PUBLISH or SUBSCRIBE before the exchange ends is a protocol error answered by CONNACK', () => {
  for (const packet of [
    { cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
    { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0 }] },
  ] as Packet[]) {
    const ch = channel();
    challenged(ch);
    const actions = ch.handle(packet);
    assert.equal(only<IConnackPacket>(actions, 'connack').reasonCode, ReasonCode.ProtocolError);
    assert.ok(!actions.some((a) => a.type === 'publish' || a.type === 'subscribe'));
  }
});

test('[MQTT-4.12.0-4] a refusal after the challenge is a CONNACK with its code, then the close', () => {
  const ch = channel();
  challenged(ch);
  ch.handle(auth(ReasonCode.ContinueAuthentication, 'client-final'));
  const actions = ch.authenticated(deny());
  const connack = only<IConnackPacket>(actions, 'connack');
  assert.equal(connack.reasonCode, ReasonCode.NotAuthorized);
  assert.equal(connack.properties?.authenticationMethod, undefined);
  closeOf(actions);
});

test('[MQTT-4.12.0-6] without a method in CONNECT no AUTH is sent and CONNACK names no method', () => {
  const ch = channel();
  ch.handle(connectPacket({}));
  const refused = ch.authenticated(proceed('unasked'));
  assert.equal(only<IConnackPacket>(refused, 'connack').reasonCode, ReasonCode.ImplementationSpecificError);

  const plain = channel();
  plain.handle(connectPacket({}));
  plain.authenticated(accept('user', 'ignored'));
  const connack = only<IConnackPacket>(plain.attached(new Session('c1', 0), false), 'connack');
  assert.equal(connack.properties?.authenticationMethod, undefined);
  assert.equal(connack.properties?.authenticationData, undefined);
});

test('§3.1.2.11.10 Authentication Data without an Authentication Method is a protocol error', () => {
  const actions = channel().handle(connectPacket({ authenticationData: Buffer.from('x') }));
  assert.equal(only<IConnackPacket>(actions, 'connack').reasonCode, ReasonCode.ProtocolError);
});

test('[MQTT-4.12.1-1] re-authentication: AUTH 0x19 asks the Authenticator again while packets keep flowing; success is AUTH 0x00 with the data', () => {
  const ch = channel();
  connected(ch);
  const before = ch.permissions;
  const [start] = ch.handle(auth(ReasonCode.ReAuthenticate, 'client-first-2'));
  assert.ok(start?.type === 'authenticate');
  assert.equal(start.credentials.reauthentication, true);
  assert.equal(start.credentials.username, 'user');
  assert.equal(start.credentials.data?.toString(), 'client-first-2');
  // Under the permissions of the first authentication meanwhile [§4.12.1].
  assert.equal(ch.handle({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false })[0]?.type, 'publish');
  const challenge = only<IAuthPacket>(ch.authenticated(proceed('server-first-2')), 'auth');
  assert.equal(challenge.reasonCode, ReasonCode.ContinueAuthentication);
  assert.deepEqual(ch.handle(auth(ReasonCode.ContinueAuthentication, 'client-final-2')).map((a) => a.type), ['continue-authentication']);
  const done = only<IAuthPacket>(ch.authenticated(accept('user', 'server-final-2')), 'auth');
  assert.equal(done.reasonCode, ReasonCode.Success);
  assert.equal(done.properties?.authenticationMethod, METHOD);
  assert.equal(done.properties?.authenticationData?.toString(), 'server-final-2');
  assert.notEqual(ch.permissions, before, 'the new decision’s permissions apply');
  assert.equal(ch.state, 'connected');
  // A second re-authentication may follow.
  assert.equal(ch.handle(auth(ReasonCode.ReAuthenticate, 'again'))[0]?.type, 'authenticate');
});

test('[MQTT-4.12.1-1] a re-authentication with another method is DISCONNECT 0x82', () => {
  const ch = channel();
  connected(ch);
  const close = closeOf(ch.handle(auth(ReasonCode.ReAuthenticate, 'x', 'SCRAM-SHA-512')));
  assert.equal(close.reasonCode, ReasonCode.ProtocolError);
  assert.equal(close.notify, true);
});

test('[MQTT-4.12.1-2] a failed re-authentication is DISCONNECT 0x87 and the close; a refusal with a CONNACK-only code becomes 0x87 too', () => {
  for (const code of [ReasonCode.NotAuthorized, ReasonCode.BadUserNameOrPassword, ReasonCode.Banned]) {
    const ch = channel();
    connected(ch);
    ch.handle(auth(ReasonCode.ReAuthenticate, 'client-first-2'));
    const close = closeOf(ch.authenticated(deny(code)));
    assert.equal(close.reasonCode, ReasonCode.NotAuthorized);
    assert.equal(close.notify, true);
    assert.equal(ch.state, 'closed');
  }
});

test('a re-authentication that proves another user is DISCONNECT 0x87: the session stays its first identity’s', () => {
  const ch = channel();
  connected(ch);
  ch.handle(auth(ReasonCode.ReAuthenticate, 'client-first-2'));
  assert.equal(closeOf(ch.authenticated(accept('mallory'))).reasonCode, ReasonCode.NotAuthorized);
});

test('[MQTT-3.15.2-1] AUTH out of turn is a protocol error: 0x00 from the client, 0x18 with no challenge, 0x19 during a re-authentication', () => {
  const outOfTurn: Array<(ch: Channel) => Action[]> = [
    (ch) => ch.handle(auth(ReasonCode.Success)),
    (ch) => ch.handle(auth(ReasonCode.ContinueAuthentication, 'x')),
    (ch) => (ch.handle(auth(ReasonCode.ReAuthenticate, 'a')), ch.handle(auth(ReasonCode.ReAuthenticate, 'b'))),
    (ch) => (ch.handle(auth(ReasonCode.ReAuthenticate, 'a')), ch.handle(auth(ReasonCode.ContinueAuthentication, 'b'))),
  ];
  for (const step of outOfTurn) {
    const ch = channel();
    connected(ch);
    assert.equal(closeOf(step(ch)).reasonCode, ReasonCode.ProtocolError);
  }
});

test('an exchange not over within the CONNECT timeout is overdue, CONNECT’s (CONNACK 0x87) and a re-authentication’s (DISCONNECT 0x87)', () => {
  const clock = { now: 1_000_000 };
  const ch = channel(clock);
  challenged(ch);
  clock.now += 10_000;
  assert.equal(ch.authenticationOverdue(clock.now, 10_000), false);
  clock.now += 1;
  assert.equal(ch.authenticationOverdue(clock.now, 10_000), true);
  assert.equal(only<IConnackPacket>(ch.fail(ReasonCode.NotAuthorized, 'authentication not completed in time'), 'connack').reasonCode, ReasonCode.NotAuthorized);

  const re = channel(clock);
  connected(re);
  assert.equal(re.authenticationOverdue(clock.now + 60_000, 10_000), false, 'no exchange under way');
  re.handle(auth(ReasonCode.ReAuthenticate, 'client-first-2'));
  re.authenticated(proceed('server-first-2'));
  assert.equal(re.authenticationOverdue(clock.now + 10_001, 10_000), true);
  const close = closeOf(re.fail(ReasonCode.NotAuthorized, 'authentication not completed in time'));
  assert.equal(close.notify, true);
});

test('a DISCONNECT in the middle of the exchange closes cleanly, a session expiry on it included', () => {
  const ch = channel();
  challenged(ch);
  const close = closeOf(ch.handle({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } }));
  assert.equal(close.byClient, true);
});
