// The targets of issue #11 in docs/benchmarks.md: what a password file and an ACL of 100
// rules cost Roost against itself without them, and password logins against Mosquitto with
// the same file, each from one bench:compare run's results.
import type { Results } from './report.ts';
import { figure, fmt, ratio, type TargetRow } from './targets.ts';

// Three places, as for issue #10: 0.897x shown as 0.90x would read as a met 0.9x bound.
const x3 = (v: number) => `${v.toFixed(3)}x`;

function row(target: string, value: number | undefined, ok: (v: number) => boolean, show: (v: number) => string, bound: string): TargetRow {
  const met = value === undefined ? undefined : ok(value);
  return { target, measured: value === undefined ? 'not measured' : `${show(value)}${met === false ? `; ${bound}` : ''}`, met };
}

export function issue11Targets(results: Results): TargetRow[] {
  const get = (id: string, broker: string, key: string) => figure(results[id]?.[broker], key);
  const keeps = (id: string, plain: string) => ratio(get(id, 'roost', 'rate'), get(plain, 'roost', 'rate'));
  const rates = (id: string, plain: string) => (v: number) => `${x3(v)} (${fmt(get(id, 'roost', 'rate'))} vs ${fmt(get(plain, 'roost', 'rate'))} /s)`;
  const logins = (broker: string) => get('auth-connect', broker, 'connect_ms');
  return [
    row('fan-in QoS 0 with a password file and an ACL of 100 rules >= 0.9x Roost without them', keeps('acl-fan-in', 'fan-in'), (v) => v >= 0.9, rates('acl-fan-in', 'fan-in'), 'see docs/security.md, Cost'),
    row('fan-out QoS 0 with a password file and an ACL of 100 rules >= 0.9x Roost without them', keeps('acl-fan-out', 'fan-out'), (v) => v >= 0.9, rates('acl-fan-out', 'fan-out'), 'see docs/security.md, Cost'),
    row(
      '10k password-file logins <= 1.5x Mosquitto\'s time (the same mosquitto_passwd file)',
      ratio(logins('roost'), logins('mosquitto')),
      (v) => v <= 1.5,
      (v) => `${x3(v)} (${fmt(logins('roost'))} ms vs ${fmt(logins('mosquitto'))} ms)`,
      'PBKDF2 on libuv\'s thread pool and the CONNECT path, on 2 cores shared with the bench client; see docs/security.md, Cost',
    ),
  ];
}
