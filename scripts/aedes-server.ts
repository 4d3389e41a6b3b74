// Aedes for bench:compare: in memory, or (AEDES_REDIS_URL set) its Redis cluster mode with
// aedes-persistence-redis and mqemitter-redis, so several processes form one broker; with
// AEDES_WS_PORT also MQTT over WebSocket on /mqtt (the ws library, as Aedes' docs show it).
// Prints one JSON line once it listens: {"msg":"aedes listening","port":...,"pid":...}.
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';

const require = createRequire(import.meta.url);
const port = Number(process.env.AEDES_PORT ?? 0);
const redisUrl = process.env.AEDES_REDIS_URL;

type Factory = (options: Record<string, unknown>) => unknown;
let options = {};
if (redisUrl) {
  const { hostname, port: redisPort } = new URL(redisUrl);
  // Neither package ships type declarations; both export a factory function.
  const persistence = (require('aedes-persistence-redis') as Factory)({ host: hostname, port: Number(redisPort), maxSessionDelivery: 1_000_000 });
  // Host and port rather than connectionString: then the options reach ioredis, and without
  // its ready check, whose INFO can race mqemitter-redis's SUBSCRIBE on the sub connection
  // ("Connection in subscriber mode") and kill the process at start.
  const mq = (require('mqemitter-redis') as Factory)({ host: hostname, port: Number(redisPort), enableReadyCheck: false });
  options = { persistence, mq };
}
const broker = await Aedes.createBroker(options);
const server = createServer(broker.handle);
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ msg: 'aedes listening', port: typeof address === 'object' && address ? address.port : port, pid: process.pid })}\n`);
});
const wsPort = process.env.AEDES_WS_PORT;
const http = createHttpServer();
if (wsPort) {
  const websockets = new WebSocketServer({ server: http, path: '/mqtt', perMessageDeflate: false, handleProtocols: (offered: Set<string>) => (offered.has('mqtt') ? 'mqtt' : false) });
  websockets.on('connection', (socket, req) => broker.handle(createWebSocketStream(socket), req));
  http.listen(Number(wsPort), '127.0.0.1');
}
const stop = () => {
  http.close();
  server.close(() => broker.close(() => process.exit(0)));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
