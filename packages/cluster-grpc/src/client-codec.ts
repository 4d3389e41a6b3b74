// ClientView ↔ cluster.v1 ClientDescription, for the operations API's calls between nodes.
// Absent connection fields stay absent; the holder's node id is the caller's to add.
import type { ClientView, SubscriptionView } from '@roost/broker';
import type { ProtocolVersion, QoS } from '@roost/protocol';
import { WireFormatError } from './codec.ts';
import type { WireClientDescription, WireClientSubscription } from './proto.ts';

const OPTIONAL_FIELDS = ['listener', 'address', 'username', 'keepAlive', 'connectedAt', 'disconnectedAt'] as const;

export function encodeClient(view: ClientView): WireClientDescription {
  const wire: WireClientDescription = {
    clientId: view.clientId,
    connected: view.connected,
    sessionExpiry: view.sessionExpiry,
    queueLength: view.queueLength,
    inflight: view.inflight,
    subscriptions: (view.subscriptions ?? []).map(encodeSubscription),
  };
  if (view.protocolVersion !== undefined) wire.protocolVersion = view.protocolVersion;
  for (const field of OPTIONAL_FIELDS) if (view[field] !== undefined) (wire as unknown as Record<string, unknown>)[field] = view[field];
  return wire;
}

/** `withSubscriptions`: whether the request asked for them (an empty list then means none). */
export function decodeClient(wire: WireClientDescription, withSubscriptions: boolean): ClientView {
  const view: ClientView = {
    clientId: wire.clientId,
    node: undefined,
    connected: wire.connected,
    sessionExpiry: wire.sessionExpiry,
    queueLength: wire.queueLength,
    inflight: wire.inflight,
  };
  if (wire.protocolVersion !== undefined) view.protocolVersion = protocolVersion(wire.protocolVersion);
  for (const field of OPTIONAL_FIELDS) if (wire[field] !== undefined) (view as unknown as Record<string, unknown>)[field] = wire[field];
  if (withSubscriptions) view.subscriptions = wire.subscriptions.map(decodeSubscription);
  return view;
}

function encodeSubscription(subscription: SubscriptionView): WireClientSubscription {
  const { filter, qos, noLocal, retainAsPublished, retainHandling, subscriptionId } = subscription;
  return subscriptionId === undefined ? { filter, qos, noLocal, retainAsPublished, retainHandling } : { filter, qos, noLocal, retainAsPublished, retainHandling, subscriptionId };
}

function decodeSubscription(wire: WireClientSubscription): SubscriptionView {
  if (wire.qos > 2 || wire.retainHandling > 2) throw new WireFormatError(`subscription ${wire.filter}: qos ${wire.qos}, retain handling ${wire.retainHandling}`);
  const view: SubscriptionView = {
    filter: wire.filter,
    qos: wire.qos as QoS,
    noLocal: wire.noLocal,
    retainAsPublished: wire.retainAsPublished,
    retainHandling: wire.retainHandling as 0 | 1 | 2,
  };
  if (wire.subscriptionId !== undefined) view.subscriptionId = wire.subscriptionId;
  return view;
}

function protocolVersion(value: number): ProtocolVersion {
  if (value !== 3 && value !== 4 && value !== 5) throw new WireFormatError(`protocol version ${value}`);
  return value;
}
