// The scenarios roost-bench runs, with what each measures (shown by --help).
export const SCENARIOS = {
  'fan-in': 'many publishers (--publishers, default 10) on topics of their own -> one subscriber on a # wildcard; QoS 0 by default',
  'fan-out': 'one publisher -> --subscribers (default 100) on one topic; the rate counts deliveries',
  qos1: 'QoS 1 throughput: publishers -> one subscriber, QoS 1 both ways, at most --window un-acked per publisher',
  qos2: 'QoS 2 throughput: as qos1 with the four-packet handshake',
  latency: 'one publisher and one subscriber in one worker at a fixed --rate (default 1000 msg/s): p50/p99/p99.9',
  idle: '--count connections (default 1000) opened --window at a time: connect time, and broker memory per connection with --pid or --http',
  'cross-node': 'fan-in across a cluster: publishers on --pub-url, the subscriber on --sub-url',
  retained: 'publish --count retained topics (default 1000), then time a wildcard subscribe until all arrive',
  session: 'persistent session: --count QoS 1 messages queued while offline (default 1000), then time reconnect-and-drain',
  subscribe: 'SUBSCRIBE -> SUBACK latency, one at a time: --count filters new to the broker (default 500), then as many of a filter it already routes',
} as const;

export type ScenarioName = keyof typeof SCENARIOS;

export function isScenario(name: string): name is ScenarioName {
  return Object.hasOwn(SCENARIOS, name);
}
