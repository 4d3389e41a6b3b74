export { GrpcClusterTransport, type GrpcClusterTransportOptions } from './transport.ts';
export type { TransportStats } from './stats.ts';
