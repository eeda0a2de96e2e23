/**
 * port-probe: is anything listening on a peer's overlay UDP port? One 8-byte datagram of zeros to
 * `PublicIP:port` (a VXLAN header with the I flag clear, or a flannel-UDP packet too short to be
 * IP: every VXLAN and flannel receiver discards it, a weft peer counts it as a drop) while a raw
 * ICMP socket waits for the peer's port unreachable (RFC 792 type 3 code 3) quoting that datagram.
 * An answer proves the path to the peer works and that nothing listens on the port there; silence
 * means the datagram was taken (a listener) or dropped on the way (a firewall): it tells the two
 * failure cases of an overlay echo apart.
 */
import dgram from 'node:dgram';
import { IPV4_MIN_HEADER_SIZE, IP_PROTO_ICMP, IP_PROTO_UDP } from '../wire/ipv4';
import { ICMPV4_DEST_UNREACHABLE, ICMPV4_HEADER_SIZE } from '../wire/icmpv4';
import { u32ToIpv4 } from '../control';

/** ICMP destination unreachable code for "port unreachable" (RFC 792). */
const CODE_PORT_UNREACHABLE = 3;
/** Offset of the destination port in a UDP header (RFC 768). */
const UDP_OFF_DST_PORT = 2;

/** PortProbeResult: `refused` (port unreachable came back), `silent`, or a local `error`. */
export type PortProbeResult = { kind: 'refused' } | { kind: 'silent' } | { kind: 'error'; message: string };

/**
 * isPortUnreachableFor reads a received IPv4+ICMP packet and tells whether it is a port
 * unreachable quoting a UDP datagram to `dst:port`.
 */
export function isPortUnreachableFor(b: Buffer, dst: string, port: number): boolean {
  if (b.length < IPV4_MIN_HEADER_SIZE || b[0]! >> 4 !== 4 || b[9] !== IP_PROTO_ICMP) return false;
  const ihl = (b[0]! & 0x0f) * 4;
  if (b.length < ihl + ICMPV4_HEADER_SIZE + IPV4_MIN_HEADER_SIZE) return false;
  if (b[ihl] !== ICMPV4_DEST_UNREACHABLE || b[ihl + 1] !== CODE_PORT_UNREACHABLE) return false;
  const q = ihl + ICMPV4_HEADER_SIZE;
  const qihl = (b[q]! & 0x0f) * 4;
  if (b[q + 9] !== IP_PROTO_UDP || b.length < q + qihl + 4) return false;
  return u32ToIpv4(b.readUInt32BE(q + 16)) === dst && b.readUInt16BE(q + qihl + UDP_OFF_DST_PORT) === port;
}

interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', fn: (err: Error) => void): void;
  close(): void;
}

/** probeUdpPort sends the datagram and waits `timeoutMs` for the port unreachable. */
export async function probeUdpPort(dst: string, port: number, timeoutMs: number): Promise<PortProbeResult> {
  let raw: RawSocket;
  try {
    const mod = require('raw-socket') as { createSocket(o: { protocol: number }): RawSocket };
    raw = mod.createSocket({ protocol: IP_PROTO_ICMP });
  } catch (e) {
    return { kind: 'error', message: `raw ICMP socket: ${(e as Error).message} (needs CAP_NET_RAW)` };
  }
  const sock = dgram.createSocket('udp4');
  try {
    return await new Promise<PortProbeResult>((resolve) => {
      const timer = setTimeout(() => resolve({ kind: 'silent' }), timeoutMs);
      raw.on('message', (buf) => {
        if (isPortUnreachableFor(buf, dst, port)) {
          clearTimeout(timer);
          resolve({ kind: 'refused' });
        }
      });
      raw.on('error', () => {});
      // A connected socket's later ECONNREFUSED is the same answer, seen through the socket.
      sock.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(e.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'error', message: e.message });
      });
      sock.send(Buffer.alloc(8), port, dst, (err) => {
        if (err) {
          clearTimeout(timer);
          resolve({ kind: 'error', message: err.message });
        }
      });
    });
  } finally {
    sock.close();
    raw.close();
  }
}
