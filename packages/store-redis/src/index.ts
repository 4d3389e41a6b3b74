export { RedisSessionStore } from './redis-session-store.ts';
export { RedisRetainedStore } from './redis-retained-store.ts';
export { RedisRouteStore, type RouteStoreOptions } from './redis-route-store.ts';
export { RedisNodeRegistry, type NodeRegistryOptions } from './redis-node-registry.ts';
export { RedisSessionDirectory } from './redis-session-directory.ts';
export { RedisWillStore } from './redis-will-store.ts';
export { RedisSharedOwners } from './redis-shared-owners.ts';
