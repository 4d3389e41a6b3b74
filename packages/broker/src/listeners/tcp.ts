import type { ListenerKind } from './spec.ts';

/** Plain MQTT over TCP: the socket is the stream. */
export function tcpKind(): ListenerKind {
  return {
    upgrade: (socket, info, ready) => ready(socket, info),
    close() {},
  };
}
