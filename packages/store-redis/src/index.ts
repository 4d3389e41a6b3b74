export { RedisSessionStore } from './redis-session-store.ts';
export { RedisRetainedStore } from './redis-retained-store.ts';
