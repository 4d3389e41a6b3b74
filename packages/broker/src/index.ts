export * from './options.ts';
export * from './actions.ts';
export * from './channel.ts';
export * from './broker.ts';
export * from './router.ts';
export * from './cluster.ts';
export type { BrokerCluster } from './cluster-node.ts';
export { SHARED_STRATEGIES, type SharedStrategy } from './shared-strategy.ts';
export { encodeWithin } from './fit-packet.ts';
