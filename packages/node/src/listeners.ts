import type { ListenerSpec } from '@roost/broker';
import type { Config } from './config.ts';

/** The node's listeners from its settings: MQTT always, TLS with a certificate, WebSocket when given a port. */
export function listenerSpecs(config: Config): ListenerSpec[] {
  const { host, tls } = config;
  const proxy = (name: string) => config.proxyProtocol.has(name);
  const specs: ListenerSpec[] = [{ name: 'mqtt', kind: 'tcp', host, port: config.mqttPort, proxyProtocol: proxy('mqtt') }];
  if (tls) specs.push({ name: 'tls', kind: 'tls', host, port: config.tlsPort, proxyProtocol: proxy('tls'), tls });
  if (config.wsPort !== undefined) specs.push({ name: 'ws', kind: 'ws', host, port: config.wsPort, proxyProtocol: proxy('ws'), path: config.wsPath });
  if (config.wssPort !== undefined && tls) specs.push({ name: 'wss', kind: 'wss', host, port: config.wssPort, proxyProtocol: proxy('wss'), path: config.wsPath, tls });
  return specs;
}
