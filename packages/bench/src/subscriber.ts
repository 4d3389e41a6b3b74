// A subscribing connection: counts deliveries by source worker, records latency from the
// payload's send time, and answers QoS 1/2 with acks batched per socket read.
import type { Packet } from 'mqtt-packet';
import type { BenchConnection } from './client.ts';
import { ackTemplate, acksFor } from './packets.ts';
import { clockMs, payloadSentMs, payloadSource, PROBE_SOURCE } from './payload.ts';

const PUBACK = ackTemplate('puback');
const PUBREC = ackTemplate('pubrec');
const PUBCOMP = ackTemplate('pubcomp');

export interface DeliverySink {
  /** A bench message from worker `source`, sent at `sentMs`, arrived at `nowMs`. */
  delivered(source: number, sentMs: number, nowMs: number): void;
  /** This subscriber saw its first probe: the route to it works. */
  probeSeen(): void;
  error(error: Error): void;
  /** Called once per socket read after its deliveries (flush batched reports). */
  readDone(): void;
}

export class Subscriber {
  readonly conn: BenchConnection;
  delivered = 0;
  private probed = false;
  private readonly pubacks: number[] = [];
  private readonly pubrecs: number[] = [];
  private readonly pubcomps: number[] = [];

  constructor(conn: BenchConnection, sink: DeliverySink) {
    this.conn = conn;
    conn.onReadDone = () => {
      this.flush(PUBACK, this.pubacks);
      this.flush(PUBREC, this.pubrecs);
      this.flush(PUBCOMP, this.pubcomps);
      sink.readDone();
    };
    conn.setHandler((packet) => this.onPacket(packet, sink));
  }

  private onPacket(packet: Packet, sink: DeliverySink): void {
    if (packet.cmd === 'pubrel') {
      this.pubcomps.push(packet.messageId ?? 0);
      return;
    }
    if (packet.cmd !== 'publish') {
      sink.error(new Error(`subscriber ${this.conn.clientId}: unexpected ${packet.cmd}`));
      return;
    }
    if (packet.qos === 1) this.pubacks.push(packet.messageId!);
    else if (packet.qos === 2) this.pubrecs.push(packet.messageId!);
    const payload = packet.payload as Buffer;
    const source = payloadSource(payload);
    if (source === PROBE_SOURCE) {
      if (!this.probed) {
        this.probed = true;
        sink.probeSeen();
      }
    } else if (source >= 0) {
      this.delivered++;
      sink.delivered(source, payloadSentMs(payload), clockMs());
    }
  }

  private flush(template: Buffer, ids: number[]): void {
    if (ids.length === 0) return;
    this.conn.write(acksFor(template, ids));
    ids.length = 0;
  }
}
