// fast-check arbitraries for MQTT packets and byte-level mutations of them, shared by the
// socket fuzz test and the channel property test.
import fc from 'fast-check';
import { generate, type IConnectPacket, type IPublishPacket, type ISubscribePacket, type Packet } from 'mqtt-packet';

export type Version = 4 | 5;

// --- Valid packets, built by the codec ----------------------------------------------------

export const topicNames = fc.constantFrom('a', 'a/b', 'fuzz/t', 'fuzz/t/deep', '$SYS/x', 'é/ü', ' ', '/');
export const topicFilters = fc.constantFrom('a', 'a/b', 'fuzz/#', 'fuzz/+', '#', '+/+', '$share/g/fuzz/t', '$SYS/#', 'a/#/b', '');
export const packetId = fc.integer({ min: 1, max: 0xffff });
export const smallBytes = fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b));
export const clientIds = fc.constantFrom('fuzz-a', 'fuzz-b', '', 'fuzz-c');

export function connectPacket(version: Version): fc.Arbitrary<IConnectPacket> {
  return fc
    .record({
      clientId: clientIds,
      clean: fc.boolean(),
      keepalive: fc.constantFrom(0, 1, 60),
      will: fc.option(fc.record({ topic: topicNames, payload: smallBytes, qos: fc.constantFrom(0, 1, 2), retain: fc.boolean() }), { nil: undefined }),
      username: fc.option(fc.constantFrom('user', ''), { nil: undefined }),
      password: fc.option(smallBytes, { nil: undefined }),
      sessionExpiryInterval: fc.option(fc.constantFrom(0, 1, 3600, 0xffffffff), { nil: undefined }),
      receiveMaximum: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      maximumPacketSize: fc.option(fc.integer({ min: 128, max: 2048 }), { nil: undefined }),
      topicAliasMaximum: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
      requestProblemInformation: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map(({ sessionExpiryInterval, receiveMaximum, maximumPacketSize, topicAliasMaximum, requestProblemInformation, ...fields }) => {
      const packet: IConnectPacket = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, ...fields };
      if (packet.will === undefined) delete packet.will;
      if (packet.username === undefined) delete packet.username;
      if (packet.password === undefined || (version < 5 && packet.username === undefined)) delete packet.password;
      if (version === 5) {
        const properties = { sessionExpiryInterval, receiveMaximum, maximumPacketSize, topicAliasMaximum, requestProblemInformation };
        packet.properties = Object.fromEntries(Object.entries(properties).filter(([, value]) => value !== undefined));
      }
      return packet;
    });
}

export function publishPacket(version: Version): fc.Arbitrary<IPublishPacket> {
  return fc
    .record({
      topic: topicNames,
      payload: smallBytes,
      qos: fc.constantFrom(0, 1, 2),
      retain: fc.boolean(),
      dup: fc.boolean(),
      messageId: packetId,
      topicAlias: fc.option(fc.integer({ min: 1, max: 70 }), { nil: undefined }),
      messageExpiryInterval: fc.option(fc.constantFrom(0, 1, 60), { nil: undefined }),
      payloadFormatIndicator: fc.option(fc.boolean(), { nil: undefined }),
      responseTopic: fc.option(topicNames, { nil: undefined }),
      correlationData: fc.option(smallBytes, { nil: undefined }),
      user: fc.option(fc.constantFrom('k', 'trace'), { nil: undefined }),
    })
    .map(({ qos, messageId, topicAlias, messageExpiryInterval, payloadFormatIndicator, responseTopic, correlationData, user, ...fields }) => {
      const packet: IPublishPacket = { cmd: 'publish', qos: qos as 0 | 1 | 2, ...fields };
      if (qos > 0) packet.messageId = messageId;
      if (version === 5) {
        packet.properties = {};
        if (topicAlias !== undefined) packet.properties.topicAlias = topicAlias;
        if (messageExpiryInterval !== undefined) packet.properties.messageExpiryInterval = messageExpiryInterval;
        if (payloadFormatIndicator !== undefined) packet.properties.payloadFormatIndicator = payloadFormatIndicator;
        if (responseTopic !== undefined) packet.properties.responseTopic = responseTopic;
        if (correlationData !== undefined) packet.properties.correlationData = correlationData;
        if (user !== undefined) packet.properties.userProperties = { [user]: ['1', '2'] };
      }
      return packet;
    });
}

export function subscribePacket(version: Version): fc.Arbitrary<ISubscribePacket> {
  const subscription = fc.record({
    topic: topicFilters,
    qos: fc.constantFrom(0, 1, 2),
    nl: fc.boolean(),
    rap: fc.boolean(),
    rh: fc.constantFrom(0, 1, 2),
  });
  return fc
    .record({ messageId: packetId, subscriptions: fc.array(subscription, { minLength: 1, maxLength: 3 }), id: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }) })
    .map(({ messageId, subscriptions, id }) => {
      const packet: ISubscribePacket = {
        cmd: 'subscribe',
        messageId,
        subscriptions: subscriptions.map((s) => (version === 5 ? { ...s, qos: s.qos as 0 | 1 | 2, rh: s.rh as 0 | 1 | 2 } : { topic: s.topic, qos: s.qos as 0 | 1 | 2 })),
      };
      if (version === 5 && id !== undefined) packet.properties = { subscriptionIdentifier: id };
      return packet;
    });
}

export function anyPacket(version: Version): fc.Arbitrary<Packet> {
  const ack = fc.record({ cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'), messageId: packetId }) as fc.Arbitrary<Packet>;
  const common: Array<fc.Arbitrary<Packet>> = [
    publishPacket(version),
    publishPacket(version),
    subscribePacket(version),
    fc.record({ cmd: fc.constant('unsubscribe' as const), messageId: packetId, unsubscriptions: fc.array(topicFilters, { minLength: 1, maxLength: 3 }) }),
    ack,
    fc.constant<Packet>({ cmd: 'pingreq' }),
    fc.constant<Packet>({ cmd: 'disconnect' }),
    connectPacket(version), // a second CONNECT
  ];
  if (version === 5) {
    common.push(
      fc.record({ cmd: fc.constant('disconnect' as const), reasonCode: fc.constantFrom(0, 4), properties: fc.record({ sessionExpiryInterval: fc.constantFrom(0, 10) }) }),
      fc.constant<Packet>({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'x' } }),
    );
  }
  return fc.oneof(...common);
}

/** The codec's encoding, or nothing when it refuses the combination (the fuzzer then sends less). */
export function encode(packet: Packet, version: Version): Buffer {
  try {
    return generate(packet, { protocolVersion: version });
  } catch {
    return Buffer.alloc(0);
  }
}

// --- Mutations ----------------------------------------------------------------------------

export type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'repeat'; at: number; length: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }) },
);

export function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(input);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const at = m.at % bytes.length;
    switch (m.kind) {
      case 'flip':
        bytes[at] = bytes[at]! ^ m.mask;
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]);
        break;
      case 'repeat':
        bytes = Buffer.concat([bytes.subarray(0, at + m.length), bytes.subarray(at)]);
        break;
      default:
        return assertNever(m);
    }
  }
  return bytes;
}

function assertNever(value: never): never {
  throw new Error(`unhandled mutation ${JSON.stringify(value)}`);
}

// --- Streams ------------------------------------------------------------------------------

export const versions = fc.constantFrom<Version>(4, 5);
export const noise = fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b));
export const pieces: fc.Arbitrary<number[]> = fc.oneof(
  fc.constant<number[]>([1]),
  fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
  fc.constant<number[]>([4096]),
);

export const validStream = (version: Version) =>
  fc.tuple(connectPacket(version), fc.array(anyPacket(version), { maxLength: 8 })).map(([connect, rest]) => ({
    connect,
    rest: Buffer.concat(rest.map((p) => encode(p, version))),
  }));
