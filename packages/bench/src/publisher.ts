// A publishing connection: copies its pre-encoded PUBLISH into one buffer per batch, patching
// the payload header and (QoS>0) the packet id, and tracks the QoS 1/2 handshakes.
import type { Packet } from 'mqtt-packet';
import type { BenchConnection } from './client.ts';
import { ackTemplate, acksFor, type PublishTemplate, type QoS } from './packets.ts';
import { clockMs, stampPayload } from './payload.ts';

const BATCH_BYTES = 64 * 1024;
const AWAITING_ACK = 1; // PUBACK (QoS 1) or PUBREC (QoS 2)
const AWAITING_COMP = 2;
const PUBREL = ackTemplate('pubrel');

export class Publisher {
  readonly conn: BenchConnection;
  private readonly templates: readonly PublishTemplate[];
  private readonly qos: QoS;
  /** Messages written (probes excluded). */
  published = 0;
  /** QoS>0 publishes not yet completed (PUBACK, or PUBCOMP at QoS 2). */
  outstanding = 0;
  /** False while the socket's buffer is over its high-water mark. */
  writable = true;
  private seq = 0;
  private nextId = 1;
  private readonly state: Uint8Array;
  private readonly releases: number[] = [];
  private readonly maxBatch: number;
  private readonly templateBytes: number;

  /** `templates` are used in turn (one topic each, for the retained scenario; usually one). */
  constructor(conn: BenchConnection, templates: readonly PublishTemplate[], qos: QoS, onProgress: () => void, onError: (error: Error) => void) {
    this.conn = conn;
    this.templates = templates;
    this.qos = qos;
    this.state = new Uint8Array(qos > 0 ? 65536 : 0);
    this.templateBytes = this.maxTemplateBytes();
    this.maxBatch = Math.max(1, Math.floor(BATCH_BYTES / this.templateBytes));
    conn.socket.on('drain', () => {
      this.writable = true;
      onProgress();
    });
    conn.onReadDone = () => {
      if (this.releases.length > 0) {
        this.conn.write(acksFor(PUBREL, this.releases));
        this.releases.length = 0;
      }
      onProgress();
    };
    conn.setHandler((packet) => {
      if (this.onAck(packet)) return;
      onError(new Error(`publisher ${conn.clientId}: unexpected ${packet.cmd}`));
    });
  }

  /**
   * Writes up to `n` messages stamped with `source` in one socket write; returns how many
   * (fewer when packet ids run out). Probes (`counted` false) leave `published` alone.
   */
  publish(n: number, source: number, counted = true): number {
    n = Math.min(n, this.maxBatch);
    const single = this.templates.length === 1 ? this.templates[0]! : undefined;
    const out = Buffer.allocUnsafe(n * (this.templateBytes));
    const now = clockMs();
    let written = 0;
    let at = 0;
    for (; written < n; written++) {
      const { bytes, payloadOffset, packetIdOffset, stamped } = single ?? this.templates[this.seq % this.templates.length]!;
      if (this.qos > 0) {
        const id = this.nextId;
        if (this.state[id] !== 0) break; // this id is still in flight: wait for its ack
        this.state[id] = AWAITING_ACK;
        this.nextId = id === 65535 ? 1 : id + 1;
        this.outstanding++;
        bytes.copy(out, at);
        out.writeUInt16BE(id, at + packetIdOffset);
      } else {
        bytes.copy(out, at);
      }
      if (stamped) stampPayload(out, at + payloadOffset, now, source, this.seq);
      this.seq++;
      at += bytes.length;
    }
    if (written === 0) return 0;
    if (!this.conn.write(at === out.length ? out : out.subarray(0, at))) this.writable = false;
    if (counted) this.published += written;
    return written;
  }

  private maxTemplateBytes(): number {
    let max = 0;
    for (const t of this.templates) max = Math.max(max, t.bytes.length);
    return max;
  }

  private onAck(packet: Packet): boolean {
    switch (packet.cmd) {
      case 'puback':
        return this.complete(packet.messageId ?? 0, AWAITING_ACK);
      case 'pubrec':
        if (this.state[packet.messageId ?? 0] !== AWAITING_ACK) return false;
        this.state[packet.messageId!] = AWAITING_COMP;
        this.releases.push(packet.messageId!);
        return true;
      case 'pubcomp':
        return this.complete(packet.messageId ?? 0, AWAITING_COMP);
      default:
        return false;
    }
  }

  private complete(id: number, expected: number): boolean {
    if (this.state[id] !== expected) return false;
    this.state[id] = 0;
    this.outstanding--;
    return true;
  }
}
