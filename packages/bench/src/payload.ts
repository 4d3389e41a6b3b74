// The bench payload: a 16-byte header the subscriber reads back, then zero padding to the
// requested size. The send time is wall-clock milliseconds with sub-millisecond precision
// (performance.timeOrigin + performance.now()), so worker processes share one epoch.
import { performance } from 'node:perf_hooks';

export const PAYLOAD_HEADER_BYTES = 16;
/** Source id of a probe message: route warm-up, never counted. */
export const PROBE_SOURCE = 0xffff;

export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

export function emptyPayload(size: number): Buffer {
  return Buffer.alloc(Math.max(size, PAYLOAD_HEADER_BYTES));
}

/** Writes the header into a packet buffer whose payload starts at `offset`. */
export function stampPayload(packet: Buffer, offset: number, sentMs: number, source: number, seq: number): void {
  packet.writeDoubleLE(sentMs, offset);
  packet.writeUInt16LE(source, offset + 8);
  packet.writeUInt32LE(seq >>> 0, offset + 10);
}

/** Source of a received bench payload, or -1 if the payload is not one. */
export function payloadSource(payload: Buffer): number {
  return payload.length < PAYLOAD_HEADER_BYTES ? -1 : payload.readUInt16LE(8);
}

export function payloadSentMs(payload: Buffer): number {
  return payload.readDoubleLE(0);
}
