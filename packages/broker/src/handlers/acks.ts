import type { IPubackPacket, IPubcompPacket, IPubrecPacket, IPubrelPacket } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';

type Ack = IPubackPacket | IPubrecPacket | IPubrelPacket | IPubcompPacket;

/**
 * A PUBACK, PUBREC, PUBREL or PUBCOMP for `version`. On v5 the reason code is always set:
 * mqtt-packet writes a missing one as a byte it then has to be, and some clients (Paho
 * Python 1.6) only accept the short, two-byte form of a successful ack, which mqtt-packet
 * writes for an explicit Success without properties.
 */
export function ack(version: number, cmd: Ack['cmd'], messageId: number, reasonCode: number = ReasonCode.Success): Ack {
  return (version === 5 ? { cmd, messageId, reasonCode } : { cmd, messageId }) as Ack;
}
