/**
 * icmp-prober: sends DF-set ICMP echoes (RFC 792) of a chosen size over a raw socket (the
 * `raw-socket` npm package) and reports each one's outcome for the path-MTU search.
 *
 * The socket gets IP_MTU_DISCOVER = IP_PMTUDISC_DO (ip(7)), so the kernel sets DF on every probe
 * and refuses (EMSGSIZE) to send one larger than the device MTU or a cached path MTU instead of
 * fragmenting it. A raw IPv4 socket receives whole IP packets, header included; replies are
 * matched on identifier and sequence, and "fragmentation needed" errors on the echo they quote.
 */
import { SystemError } from '../errors';
import {
  ICMPV4_CODE_FRAG_NEEDED,
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV4_HEADER_SIZE,
  encodeIcmpv4,
} from '../wire/icmpv4';
import { IPV4_MIN_HEADER_SIZE, IP_PROTO_ICMP } from '../wire/ipv4';
import type { ProbeOutcome } from './search';

/** IP_MTU_DISCOVER is the ip(7) socket option number (linux/in.h). */
export const IP_MTU_DISCOVER = 10;
/** IP_PMTUDISC_DO makes the kernel set DF and never fragment locally (linux/in.h). */
export const IP_PMTUDISC_DO = 2;
/** PROBE_OVERHEAD is the IPv4 + ICMP echo header bytes around a probe's payload. */
export const PROBE_OVERHEAD = IPV4_MIN_HEADER_SIZE + ICMPV4_HEADER_SIZE;

interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', fn: (err: Error) => void): void;
  send(
    buf: Buffer,
    off: number,
    len: number,
    addr: string,
    cb: (err: Error | null, bytes: number) => void,
  ): void;
  setOption(level: number, option: number, value: number): void;
  close(): void;
}

interface RawModule {
  createSocket(o: { protocol: number; bufferSize?: number }): RawSocket;
  SocketLevel: { IPPROTO_IP: number };
}

/**
 * buildEchoRequest writes an ICMP echo request of `ipSize - 28` bytes (so the IP packet is
 * `ipSize` bytes) with `id`/`seq` into a new buffer, checksum filled in.
 */
export function buildEchoRequest(ipSize: number, id: number, seq: number): Buffer {
  const len = ipSize - IPV4_MIN_HEADER_SIZE;
  // A recognisable, non-constant pattern: a hop that corrupts or truncates it shows in a capture.
  const data = Buffer.alloc(len - ICMPV4_HEADER_SIZE);
  for (let i = 0; i < data.length; i++) data[i] = (ICMPV4_HEADER_SIZE + i) & 0xff;
  const b = Buffer.alloc(len);
  encodeIcmpv4(b, 0, {
    type: ICMPV4_ECHO_REQUEST,
    code: 0,
    rest: (((id & 0xffff) << 16) | (seq & 0xffff)) >>> 0,
    data,
  });
  return b;
}

/** IcmpEvent is a received ICMP message relevant to a probe. */
export type IcmpEvent =
  | { kind: 'reply'; id: number; seq: number; from: string }
  | { kind: 'frag-needed'; id: number; seq: number; mtu: number; from: string }
  | { kind: 'unreachable'; id: number; seq: number; code: number; from: string };

/** parseIcmpPacket reads a received IPv4+ICMP packet; returns undefined for anything not about our echoes. */
export function parseIcmpPacket(b: Buffer, from: string): IcmpEvent | undefined {
  if (b.length < IPV4_MIN_HEADER_SIZE || b[0]! >> 4 !== 4 || b[9] !== IP_PROTO_ICMP) return undefined;
  const ihl = (b[0]! & 0x0f) * 4;
  if (b.length < ihl + ICMPV4_HEADER_SIZE) return undefined;
  const type = b[ihl]!;
  const code = b[ihl + 1]!;
  if (type === ICMPV4_ECHO_REPLY) {
    return { kind: 'reply', id: b.readUInt16BE(ihl + 4), seq: b.readUInt16BE(ihl + 6), from };
  }
  if (type === ICMPV4_DEST_UNREACHABLE) {
    // Quoted: the offending IP header + at least 8 bytes, i.e. our echo's type/code/csum/id/seq.
    const q = ihl + ICMPV4_HEADER_SIZE;
    if (b.length < q + IPV4_MIN_HEADER_SIZE) return undefined;
    const qihl = (b[q]! & 0x0f) * 4;
    if (b[q + 9] !== IP_PROTO_ICMP || b.length < q + qihl + 8 || b[q + qihl] !== ICMPV4_ECHO_REQUEST)
      return undefined;
    const id = b.readUInt16BE(q + qihl + 4);
    const seq = b.readUInt16BE(q + qihl + 6);
    if (code === ICMPV4_CODE_FRAG_NEEDED)
      return { kind: 'frag-needed', id, seq, mtu: b.readUInt16BE(ihl + 6), from };
    return { kind: 'unreachable', id, seq, code, from };
  }
  return undefined;
}

/** isEmsgsize recognises the send error raw-socket reports for EMSGSIZE (it passes strerror text). */
export function isEmsgsize(err: Error): boolean {
  return /EMSGSIZE|message too long/i.test(err.message);
}

/** IcmpProber sends DF-set echoes to one peer and resolves each probe's outcome. */
export class IcmpProber {
  private readonly sock: RawSocket;
  private readonly id: number;
  private seq = 0;
  private pending: { seq: number; resolve: (o: ProbeOutcome) => void; t0: number } | undefined;

  private constructor(
    private readonly peer: string,
    private readonly timeoutMs: number,
  ) {
    const raw = require('raw-socket') as RawModule;
    try {
      this.sock = raw.createSocket({ protocol: IP_PROTO_ICMP, bufferSize: 65536 });
      this.sock.setOption(raw.SocketLevel.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    } catch (err) {
      throw new SystemError('socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)', 'EPERM', (err as Error).message);
    }
    // Unique per process so concurrent probers (and ping) do not take each other's replies.
    this.id = (process.pid ^ 0x5746) & 0xffff;
    this.sock.on('message', (buf, from) => this.onMessage(buf, from));
    this.sock.on('error', () => {
      /* recv errors are not fatal for a probe: it times out */
    });
  }

  /** open creates the raw socket (needs CAP_NET_RAW) for probing `peer`. */
  static open(peer: string, timeoutMs: number): IcmpProber {
    return new IcmpProber(peer, timeoutMs);
  }

  private onMessage(buf: Buffer, from: string): void {
    const p = this.pending;
    if (!p) return;
    const ev = parseIcmpPacket(buf, from);
    if (!ev || ev.id !== this.id || ev.seq !== p.seq) return;
    if (ev.kind === 'reply') {
      if (from !== this.peer) return;
      p.resolve({ kind: 'reply', rttMs: Date.now() - p.t0 });
    } else if (ev.kind === 'frag-needed') {
      p.resolve({ kind: 'frag-needed', mtu: ev.mtu, from });
    } else {
      p.resolve({ kind: 'unreachable', code: ev.code, from });
    }
  }

  /** probe sends one echo whose IP packet is `size` bytes and waits for its outcome. */
  probe(size: number): Promise<ProbeOutcome> {
    this.seq = (this.seq + 1) & 0xffff;
    const seq = this.seq;
    const pkt = buildEchoRequest(size, this.id, seq);
    return new Promise<ProbeOutcome>((resolve) => {
      let settled = false;
      const timer = setTimeout(() => finish({ kind: 'timeout' }), this.timeoutMs);
      const finish = (o: ProbeOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pending = undefined;
        resolve(o);
      };
      this.pending = { seq, resolve: finish, t0: Date.now() };
      this.sock.send(pkt, 0, pkt.length, this.peer, (err) => {
        if (!err) return;
        if (isEmsgsize(err)) finish({ kind: 'emsgsize' });
        else finish({ kind: 'unreachable', code: -1, from: `local send error: ${err.message}` });
      });
    });
  }

  /** close releases the socket. */
  close(): void {
    this.sock.close();
  }
}
