import { ReasonCode } from './reason-codes.ts';

/** A client broke the protocol: the connection is closed, on v5 after a DISCONNECT with `reasonCode`. */
export class ProtocolError extends Error {
  override readonly name: string = 'ProtocolError';
  readonly reasonCode: ReasonCode;
  constructor(reasonCode: ReasonCode, message: string) {
    super(message);
    this.reasonCode = reasonCode;
  }
}

/** The codec refused the bytes; always MalformedPacket on the wire. */
export class MalformedPacketError extends ProtocolError {
  override readonly name = 'MalformedPacketError';
  constructor(message: string) {
    super(ReasonCode.MalformedPacket, message);
  }
}

/** A configuration value is missing or wrong; `setting` names it for the operator. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.setting = setting;
  }
}

/** A backing store (Redis, later) cannot be reached. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** A cluster peer could not take a message: unreachable past the retry budget, or its buffer is full. */
export class PeerUnavailableError extends Error {
  override readonly name = 'PeerUnavailableError';
  readonly nodeId: string;
  constructor(nodeId: string, message: string) {
    super(`${nodeId}: ${message}`);
    this.nodeId = nodeId;
  }
}
