export * from './config.ts';
export * from './settings.ts';
export * from './run.ts';
export * from './http-server.ts';
export * from './logger.ts';
