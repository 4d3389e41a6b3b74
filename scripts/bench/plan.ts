// What bench:compare runs: each row is one roost-bench scenario with its options, the
// brokers it applies to, and the figure that goes in the table (with the figure its ratio is
// taken against: Mosquitto's, or for the TLS and WebSocket fan-in Roost's own over plain TCP).
import type { Transport } from './brokers.ts';

export type Better = 'higher' | 'lower';

export interface PlannedRun {
  id: string;
  title: string;
  scenario: string;
  args: string[];
  /** single: each single-node broker; cluster: publishers on one node, subscribers on the other. */
  brokers: 'single' | 'cluster' | 'all' | 'roost' | 'roost-cluster' | 'subscribe';
  /**
   * Run on a broker process of its own, started for it (and a 2 s settle) and stopped after:
   * memory then grows from what a node holds at rest, not from a heap earlier runs enlarged.
   */
  fresh?: boolean;
  /** A fresh row measured on this many processes, one after another: the median (scripts/bench/fresh-repeats.ts). */
  repeats?: number;
  /** Publishers on the cluster's first node, subscribers on its second. */
  acrossNodes?: boolean;
  /** Shown in the flat-cost table, not in a section of its own. */
  flat?: boolean;
  metric: string;
  unit: string;
  better: Better;
  /** The run whose figure is the denominator (default this run's own). */
  baseline?: string;
  /**
   * The broker of that run whose figure is the denominator (default mosquitto). Roost: the row
   * runs in interleaved pairs with that run on Roost (scripts/bench/pairs.ts).
   */
  baselineBroker?: string;
  /**
   * Every connection over TLS or WebSocket: run on the brokers that have such a listener, on
   * a process started with it (Roost tls and ws, Mosquitto tls, Aedes ws).
   */
  transport?: Transport;
  /**
   * With the run's password file and ACL file (issue #11): on a broker process started with
   * them (Roost and Mosquitto), every bench client logging in as the bench user.
   */
  secured?: boolean;
  /** Extra columns shown in the table. */
  columns: string[];
  /** Not run again: the figures come from that run's results. */
  reuse?: string;
}

export const FLOOD_SECONDS = 5;

/** How long a broker process started for one row settles before it is measured. */
export const FRESH_SETTLE_MS = 2_000;

export const PLAN: PlannedRun[] = [
  { id: 'fan-in', title: 'Fan-in QoS 0 (10 publishers -> 1 wildcard subscriber)', scenario: 'fan-in', args: [], brokers: 'single', metric: 'rate', unit: 'msg/s', better: 'higher', columns: ['p50_ms', 'p99_ms', 'lost'] },
  { id: 'fan-out', title: 'Fan-out QoS 0 (1 publisher -> 100 subscribers)', scenario: 'fan-out', args: [], brokers: 'single', metric: 'rate', unit: 'deliveries/s', better: 'higher', columns: ['p50_ms', 'p99_ms', 'lost'] },
  { id: 'qos1', title: 'QoS 1 throughput (1 publisher -> 1 subscriber, window 1000)', scenario: 'qos1', args: [], brokers: 'single', metric: 'rate', unit: 'msg/s', better: 'higher', columns: ['p50_ms', 'p99_ms', 'lost'] },
  { id: 'qos2', title: 'QoS 2 throughput (1 publisher -> 1 subscriber, window 1000)', scenario: 'qos2', args: [], brokers: 'single', metric: 'rate', unit: 'msg/s', better: 'higher', columns: ['p50_ms', 'p99_ms', 'lost'] },
  { id: 'latency', title: 'Latency at 1000 msg/s (QoS 0, p50)', scenario: 'latency', args: ['--rate', '1000'], brokers: 'single', metric: 'p50_ms', unit: 'ms', better: 'lower', columns: ['p99_ms', 'p999_ms', 'max_ms'] },
  { id: 'idle', title: 'Idle connections on a fresh process (10000, 500 connects in flight; broker memory per connection; median of 3 processes)', scenario: 'idle', args: ['--count', '10000', '--window', '500'], brokers: 'all', fresh: true, repeats: 3, metric: 'bytes_per_connection', unit: 'bytes', better: 'lower', columns: ['bytes_per_connection_ps', 'bytes_per_connection_smaps', 'rss_before_bytes', 'rss_after_bytes', 'connected'] },
  { id: 'idle-connect', title: 'Idle connections on a fresh process: time to establish 10000 (500 in flight)', scenario: 'idle', args: [], brokers: 'single', metric: 'connect_ms', unit: 'ms', better: 'lower', reuse: 'idle', columns: ['rate', 'p50_ms', 'p99_ms'] },
  { id: 'idle-1k', title: 'Idle connections on a fresh node: 1000', scenario: 'idle', args: ['--count', '1000', '--window', '500'], brokers: 'roost', fresh: true, repeats: 3, flat: true, metric: 'bytes_per_connection', unit: 'bytes', better: 'lower', columns: [] },
  { id: 'idle-5k', title: 'Idle connections on a fresh node: 5000', scenario: 'idle', args: ['--count', '5000', '--window', '500'], brokers: 'roost', fresh: true, repeats: 3, flat: true, metric: 'bytes_per_connection', unit: 'bytes', better: 'lower', columns: [] },
  // 19000 sockets fit under the 20,000 file descriptors per process only in two bench workers;
  // four source addresses keep each well inside the ephemeral port range.
  { id: 'idle-19k', title: 'Idle connections on a fresh node: 19000', scenario: 'idle', args: ['--count', '19000', '--window', '500', '--workers', '2', '--source', '127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4', '--timeout', '120'], brokers: 'roost', fresh: true, flat: true, metric: 'bytes_per_connection', unit: 'bytes', better: 'lower', columns: [] },
  { id: 'cross-node', title: 'Cross-node fan-in QoS 0 (publishers on node 1, subscriber on node 2), vs Mosquitto single-node fan-in', scenario: 'cross-node', args: [], brokers: 'cluster', metric: 'rate', unit: 'msg/s', better: 'higher', baseline: 'fan-in', columns: ['p50_ms', 'p99_ms', 'lost', 'delivery_ratio'] },
  { id: 'cross-node-qos1', title: 'Cross-node QoS 1 (1 publisher on node 1, subscriber on node 2), vs Mosquitto single-node QoS 1', scenario: 'cross-node', args: ['--qos', '1', '--publishers', '1'], brokers: 'cluster', metric: 'rate', unit: 'msg/s', better: 'higher', baseline: 'qos1', columns: ['p50_ms', 'p99_ms', 'lost', 'delivery_ratio'] },
  { id: 'cross-node-latency', title: 'Cross-node latency at 1000 msg/s (QoS 0, publisher on node 1, subscriber on node 2), vs Mosquitto single-node latency', scenario: 'latency', args: ['--rate', '1000'], brokers: 'cluster', acrossNodes: true, metric: 'p50_ms', unit: 'ms', better: 'lower', baseline: 'latency', columns: ['p99_ms', 'p999_ms', 'max_ms'] },
  { id: 'subscribe', title: 'SUBSCRIBE latency, one at a time (a filter new to the broker; on a 3-node Roost cluster its route applied on every node first), vs Mosquitto', scenario: 'subscribe', args: ['--count', '300'], brokers: 'subscribe', metric: 'new_p50_ms', unit: 'ms', better: 'lower', columns: ['new_p99_ms', 'existing_p50_ms', 'existing_p99_ms'] },
  { id: 'retained', title: 'Retained lookup: wildcard subscribe over 10000 retained topics', scenario: 'retained', args: ['--count', '10000'], brokers: 'all', metric: 'lookup_ms', unit: 'ms', better: 'lower', columns: ['messages'] },
  { id: 'retained-100k', title: 'Retained lookup over 100000 retained topics, Roost cluster (target < 1 s)', scenario: 'retained', args: ['--count', '100000', '--timeout', '120'], brokers: 'roost-cluster', metric: 'lookup_ms', unit: 'ms', better: 'lower', columns: ['messages'] },
  { id: 'session', title: 'Session resume: reconnect and drain 5000 QoS 1 messages queued offline', scenario: 'session', args: ['--count', '5000'], brokers: 'all', metric: 'drain_ms', unit: 'ms', better: 'lower', columns: ['messages'] },
  // Issue #10: TLS and WebSocket, on broker processes with those listeners.
  { id: 'tls-connect', title: 'TLS connection set-up: 10000 TLS handshakes and CONNECTs (500 in flight), vs Mosquitto\'s TLS listener', scenario: 'idle', args: ['--count', '10000', '--window', '500', '--timeout', '180'], brokers: 'single', transport: 'tls', metric: 'connect_ms', unit: 'ms', better: 'lower', columns: ['rate', 'p50_ms', 'p99_ms'] },
  { id: 'tls-fan-in', title: 'TLS fan-in QoS 0 (10 publishers -> 1 wildcard subscriber, every connection over TLS), vs Roost\'s plain fan-in', scenario: 'fan-in', args: [], brokers: 'single', transport: 'tls', metric: 'rate', unit: 'msg/s', better: 'higher', baseline: 'fan-in', baselineBroker: 'roost', columns: ['p50_ms', 'p99_ms', 'lost', 'pair_ratio_min', 'pair_ratio_max', 'pairs', 'cpu_ratio_median'] },
  { id: 'ws-fan-in', title: 'WebSocket fan-in QoS 0 (10 publishers -> 1 wildcard subscriber, every connection over ws), vs Roost\'s plain fan-in', scenario: 'fan-in', args: [], brokers: 'single', transport: 'ws', metric: 'rate', unit: 'msg/s', better: 'higher', baseline: 'fan-in', baselineBroker: 'roost', columns: ['p50_ms', 'p99_ms', 'lost', 'pair_ratio_min', 'pair_ratio_max', 'pairs', 'cpu_ratio_median'] },
  // Issue #11: authentication and ACLs, on broker processes with the run's password and ACL files.
  { id: 'acl-fan-in', title: 'Fan-in QoS 0 with password login and an ACL of 100 rules (10 publishers -> 1 wildcard subscriber), vs Roost\'s fan-in without', scenario: 'fan-in', args: [], brokers: 'single', secured: true, metric: 'rate', unit: 'msg/s', better: 'higher', baseline: 'fan-in', baselineBroker: 'roost', columns: ['p50_ms', 'p99_ms', 'lost', 'pair_ratio_min', 'pair_ratio_max', 'pairs', 'cpu_ratio_median'] },
  { id: 'acl-fan-out', title: 'Fan-out QoS 0 with password login and an ACL of 100 rules (1 publisher -> 100 subscribers), vs Roost\'s fan-out without', scenario: 'fan-out', args: [], brokers: 'single', secured: true, metric: 'rate', unit: 'deliveries/s', better: 'higher', baseline: 'fan-out', baselineBroker: 'roost', columns: ['p50_ms', 'p99_ms', 'lost', 'pair_ratio_min', 'pair_ratio_max', 'pairs', 'cpu_ratio_median'] },
  { id: 'auth-connect', title: 'Password-file logins: 10000 CONNECTs with user name and password (500 in flight; PBKDF2-SHA512 as mosquitto_passwd writes it), vs Mosquitto with the same file', scenario: 'idle', args: ['--count', '10000', '--window', '500'], brokers: 'single', secured: true, metric: 'connect_ms', unit: 'ms', better: 'lower', columns: ['rate', 'p50_ms', 'p99_ms'] },
];
