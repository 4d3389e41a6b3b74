// The targets of issue #11 in docs/benchmarks.md: what a password file and an ACL of 100
// rules cost Roost against itself without them, and password logins against Mosquitto with
// the same file, each from one bench:compare run's results (the ACL rows from its interleaved pairs).
import type { Results } from './report.ts';
import { againstPlainRoost, figure, fmt, ratio, x3, type TargetRow } from './targets.ts';

function row(target: string, value: number | undefined, ok: (v: number) => boolean, show: (v: number) => string, bound: string): TargetRow {
  const met = value === undefined ? undefined : ok(value);
  return { target, measured: value === undefined ? 'not measured' : `${show(value)}${met === false ? `; ${bound}` : ''}`, met };
}

export function issue11Targets(results: Results): TargetRow[] {
  const get = (id: string, broker: string, key: string) => figure(results[id]?.[broker], key);
  const fanIn = againstPlainRoost(results, 'acl-fan-in', 'fan-in', 'msg/s');
  const fanOut = againstPlainRoost(results, 'acl-fan-out', 'fan-out', 'deliveries/s');
  const logins = (broker: string) => get('auth-connect', broker, 'connect_ms');
  return [
    row('fan-in QoS 0 with a password file and an ACL of 100 rules >= 0.9x Roost without them', fanIn.value, (v) => v >= 0.9, fanIn.show, 'see docs/security.md, Cost'),
    row('fan-out QoS 0 with a password file and an ACL of 100 rules >= 0.9x Roost without them', fanOut.value, (v) => v >= 0.9, fanOut.show, 'see docs/security.md, Cost'),
    row(
      '10k password-file logins <= 1.5x Mosquitto\'s time (the same mosquitto_passwd file)',
      ratio(logins('roost'), logins('mosquitto')),
      (v) => v <= 1.5,
      (v) => `${x3(v)} (${fmt(logins('roost'))} ms vs ${fmt(logins('mosquitto'))} ms)`,
      'PBKDF2 on libuv\'s thread pool and the CONNECT path, on 2 cores shared with the bench client; see docs/security.md, Cost',
    ),
  ];
}
