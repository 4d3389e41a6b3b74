import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** RFC 6455 close code for a data type the endpoint does not accept. */
const UNSUPPORTED_DATA = 1003;

/**
 * One WebSocket as the byte stream a Connection reads and writes. MQTT travels in binary
 * frames with no regard for packet boundaries (MQTT 5 §6): a frame's bytes are pushed as they
 * come, and the writes of one turn leave as one frame. A text frame closes the connection
 * [MQTT-6.0.0-1]. Backpressure is TCP's: a full read buffer pauses the WebSocket's socket, and
 * a write completes only once its frame is on the socket, so unsent data stays measured in
 * writableLength (which the QoS 0 backlog limit and the retained replay read).
 */
export class WebSocketStream extends Duplex {
  private readonly ws: WebSocket;

  constructor(ws: WebSocket) {
    super({ allowHalfOpen: false });
    this.ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        ws.close(UNSUPPORTED_DATA, 'MQTT needs binary frames');
        this.destroy();
        return;
      }
      if (!this.push(data)) ws.pause();
    });
    ws.once('close', () => this.destroy());
    ws.on('error', (error: Error) => this.destroy(error));
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.ws.send(chunk, { binary: true }, done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (error?: Error | null) => void): void {
    this.ws.send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), { binary: true }, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.ws.close(1000);
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.CLOSED) this.ws.terminate();
    done(error);
  }
}
