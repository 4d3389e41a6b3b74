// The socket fuzz test's inputs, many more of them, straight into the protocol state machine:
// no sockets, so thousands of runs take seconds. Whatever the codec decodes, the channel must
// answer with actions, never throw, and every packet it would send must encode, decode again,
// and fit the client's Maximum Packet Size [MQTT-3.1.2-24]. The socket test found an empty
// SUBACK this way only after many CI runs; here it takes a fraction of a second.
//
// FUZZ_RUNS and FUZZ_SEED override the run count and seed, to replay a reported failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generate, parser as createParser, type IConnectPacket, type Packet } from 'mqtt-packet';
import { Session } from '@roost/session';
import { Channel, ClientPermissions, defaultLimits, encodeWithin, type Action } from '@roost/broker';
import { anyPacket, connectPacket, encode, mutate, mutation, noise, versions, type Version } from '../helpers/mqtt-arbitraries.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

interface Case {
  version: Version;
  /** A valid CONNECT handled first; without one, `bytes` start with their own (mutated) CONNECT. */
  connect: IConnectPacket | undefined;
  bytes: Buffer;
}

const cases: fc.Arbitrary<Case> = versions.chain((version) =>
  fc.oneof(
    fc.tuple(connectPacket(version), noise).map(([connect, bytes]) => ({ version, connect, bytes })),
    fc
      .tuple(connectPacket(version), fc.array(anyPacket(version), { maxLength: 8 }), fc.array(mutation, { maxLength: 6 }))
      .map(([connect, packets, mutations]) => ({ version, connect, bytes: mutate(Buffer.concat(packets.map((p) => encode(p, version))), mutations) })),
    fc
      .tuple(connectPacket(version), fc.array(anyPacket(version), { maxLength: 8 }), fc.array(mutation, { minLength: 1, maxLength: 4 }))
      .map(([connect, packets, mutations]) => ({
        version,
        connect: undefined,
        bytes: mutate(Buffer.concat([connect, ...packets].map((p) => encode(p, version))), mutations),
      })),
  ),
);

/** Everything the codec makes of `bytes`, stopping at its first error as a connection would. */
function decodeAll(bytes: Buffer, version: Version): Packet[] {
  const packets: Packet[] = [];
  const decoder = createParser({ protocolVersion: version });
  let failed = false;
  decoder.on('packet', (packet: Packet) => failed || packets.push(packet));
  decoder.on('error', () => (failed = true));
  decoder.parse(bytes);
  return packets;
}

/**
 * The bytes a `send` action puts on the wire: its pre-encoding, or the connection's encoding
 * within the client's limit (undefined: it cannot fit, and the connection closes instead).
 */
function wireBytes(action: Extract<Action, { type: 'send' }>, version: Version, maximumPacketSize: number | undefined): Buffer | undefined {
  if (action.data) return action.data;
  try {
    if (maximumPacketSize !== undefined) return encodeWithin(action.packet, version, maximumPacketSize);
    return generate(action.packet, { protocolVersion: version });
  } catch (error) {
    assert.fail(`the codec cannot encode a ${action.packet.cmd} the channel sends: ${(error as Error).message} in ${JSON.stringify(action.packet)}`);
  }
}

/**
 * Each packet sent decodes to one server-to-client packet within the client's maximum size.
 * False when one could not fit: the connection closes there.
 */
function checkSent(actions: Action[], version: Version, maximumPacketSize: number | undefined): boolean {
  for (const action of actions) {
    if (action.type !== 'send') continue;
    const bytes = wireBytes(action, version, maximumPacketSize);
    if (bytes === undefined) return false;
    const decoded = decodeAll(bytes, version);
    assert.equal(decoded.length, 1, `a ${action.packet.cmd} did not decode again: ${bytes.toString('hex')}`);
    assert.equal(decoded[0]!.cmd, action.packet.cmd);
    if (maximumPacketSize !== undefined) {
      assert.ok(bytes.length <= maximumPacketSize, `a ${bytes.length}-byte ${action.packet.cmd} to a client whose maximum is ${maximumPacketSize}`);
    }
  }
  return true;
}

function run({ version, connect, bytes }: Case): void {
  const ch = new Channel({ limits: defaultLimits, now: () => 1_000_000, assignClientId: () => 'assigned' });
  let maximumPacketSize: number | undefined;
  const packets = decodeAll(bytes, version);
  if (connect) packets.unshift(connect);
  for (const packet of packets) {
    if (ch.state === 'closed') break;
    // The client's limit binds from its CONNECT on; what answers the CONNECT is bound by it too.
    if (packet.cmd === 'connect' && ch.state === 'awaiting-connect' && packet.protocolVersion === 5) {
      // 0 and a repeat (decoded as an array) are protocol errors, refused by CONNACK: no limit.
      const limit: unknown = packet.properties?.maximumPacketSize;
      maximumPacketSize = typeof limit === 'number' && limit > 0 ? limit : undefined;
    }
    const actions = ch.handle(packet);
    if (!checkSent(actions, version, maximumPacketSize)) return;
    const authenticate = actions.find((a) => a.type === 'authenticate');
    const accepted = authenticate ? ch.authenticated({ outcome: 'accept', permissions: new ClientPermissions({ clientId: ch.clientId, username: undefined, provider: 'none' }) }) : [];
    if (!checkSent(accepted, version, maximumPacketSize)) return;
    const attach = accepted.find((a) => a.type === 'attach');
    if (attach?.type === 'attach') {
      if (!checkSent(ch.attached(new Session(attach.request.clientId, attach.request.sessionExpiry), false), version, maximumPacketSize)) return;
    }
    // The client's own messages come back to it, as to a subscriber of everything.
    for (const action of actions) {
      if (action.type !== 'publish') continue;
      const { message } = action;
      if (!checkSent(ch.deliver({ message, qos: message.qos, retain: message.retain, subscriptionIds: [1, 7] }), version, maximumPacketSize)) return;
    }
  }
}

test(`decoded fuzz input (${RUNS} runs) gets actions from the channel, never a throw, and only encodable packets`, () => {
  fc.assert(fc.property(cases, run), { numRuns: RUNS, seed: SEED });
});
