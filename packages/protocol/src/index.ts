export * from './reason-codes.ts';
export * from './errors.ts';
export * from './message.ts';
