export * from './fifo.ts';
export * from './session.ts';
export * from './session-store.ts';
export * from './memory-session-store.ts';
export * from './retained-store.ts';
export * from './memory-retained-store.ts';
