import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';

/**
 * Bare sockets for feeding a broker arbitrary bytes (the fuzzer, byte-at-a-time feeds).
 * Unlike RawClient nothing here decodes: the bytes need not be MQTT at all.
 */

export async function openSocket(port: number): Promise<Socket> {
  const socket = netConnect({ port, host: '127.0.0.1' });
  // The broker may reset the connection mid-write; that ends the feed, it is not a test error.
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.setNoDelay(true);
  return socket;
}

/** `bytes` cut into consecutive pieces of the given sizes (cycled), the last one shorter. */
export function splitBytes(bytes: Uint8Array, sizes: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  const all = Buffer.from(bytes);
  let offset = 0;
  for (let i = 0; offset < all.length; i++) {
    const size = Math.max(1, sizes.length === 0 ? all.length : sizes[i % sizes.length]!);
    pieces.push(all.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

/**
 * Writes each piece separately, waiting for the socket to hand it to the kernel before the
 * next, so the broker tends to see the pieces as separate reads. Stops when the peer closes.
 */
export async function writePieces(socket: Socket, pieces: readonly Buffer[]): Promise<void> {
  for (const piece of pieces) {
    if (socket.destroyed || !socket.writable) return;
    await new Promise<void>((resolve) => socket.write(piece, () => resolve()));
  }
}

/** Resolves when the socket has closed, or after `ms` if it stays open; returns whether it closed. */
export async function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return true;
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      socket.off('close', onClose);
      resolve(false);
    }, ms);
    function onClose() {
      clearTimeout(timer);
      resolve(true);
    }
    socket.once('close', onClose);
  });
}

/** Destroys the socket and waits for its `close`, so no run leaks a connection into the next. */
export async function destroySocket(socket: Socket): Promise<void> {
  if (socket.closed) return;
  const closed = once(socket, 'close');
  socket.destroy();
  await closed;
}

/** Resolves at the first bytes from the peer, at its close, or after `ms`: whichever is first. */
export async function repliedWithin(socket: Socket, ms: number): Promise<void> {
  if (socket.destroyed) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      socket.off('data', done);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.once('data', done);
    socket.once('close', done);
  });
}
