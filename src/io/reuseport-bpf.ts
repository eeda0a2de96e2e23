/**
 * reuseport-bpf: the classic BPF program weft attaches to its SO_REUSEPORT group of UDP sockets
 * (`--workers` > 1) so that the kernel hands each datagram to the socket of worker
 * `outer UDP source port mod workers`.
 *
 * Why the source port: a VXLAN sender keeps one source port per inner flow (RFC 7348 §5; the
 * kernel's VXLAN hashes the flow into its port range, and each weft worker sends from its own
 * port, chosen so that port mod workers = its index). Keying on it keeps every flow on one
 * worker (no reordering within a flow) and lines a weft worker up with the same-index worker of
 * a weft peer. The kernel's default reuseport hash would also be stable per flow, but with only
 * one or two source ports per peer it could put every flow on one socket.
 *
 * The kernel runs the program with the packet data at the UDP payload (net/core/sock_reuseport.c
 * `run_bpf_filter` pulls the UDP header), so the header is reached through SKF_NET_OFF, relative
 * to the outer IPv4 header; its IHL gives the UDP offset. A result >= the number of sockets in
 * the group (a worker gone) makes the kernel fall back to its hash, so nothing is dropped.
 *
 * The addon only passes these bytes to setsockopt(SO_ATTACH_REUSEPORT_CBPF): the program is
 * protocol knowledge and lives here. Layout: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k }
 * in host byte order (<linux/filter.h>).
 */
import { endianness } from 'node:os';

/** SOCK_FILTER_SIZE is sizeof(struct sock_filter). */
export const SOCK_FILTER_SIZE = 8;

// <linux/bpf_common.h> classes, sizes, modes and operations; <linux/filter.h> SKF_NET_OFF.
const BPF_LD = 0x00;
const BPF_LDX = 0x01;
const BPF_ALU = 0x04;
const BPF_RET = 0x06;
const BPF_H = 0x08;
const BPF_B = 0x10;
const BPF_IND = 0x40;
const BPF_MSH = 0xa0;
const BPF_MOD = 0x90;
const BPF_K = 0x00;
const BPF_A = 0x10;
const SKF_NET_OFF = -0x100000;

/** BpfInsn is one classic BPF instruction. */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** encodeBpf lays `prog` out as struct sock_filter[] in host byte order. */
export function encodeBpf(prog: readonly BpfInsn[]): Buffer {
  const out = Buffer.alloc(prog.length * SOCK_FILTER_SIZE);
  const le = endianness() === 'LE';
  prog.forEach((insn, i) => {
    const o = i * SOCK_FILTER_SIZE;
    if (le) out.writeUInt16LE(insn.code, o);
    else out.writeUInt16BE(insn.code, o);
    out[o + 2] = insn.jt;
    out[o + 3] = insn.jf;
    if (le) out.writeUInt32LE(insn.k >>> 0, o + 4);
    else out.writeUInt32BE(insn.k >>> 0, o + 4);
  });
  return out;
}

/**
 * sourcePortModuloProgram returns the program `return udp.source_port % n` for an IPv4 UDP
 * reuseport group of `n` sockets (1 <= n <= 65535).
 */
export function sourcePortModuloProgram(n: number): BpfInsn[] {
  if (!Number.isInteger(n) || n < 1 || n > 0xffff)
    throw new RangeError(`socket count must be 1..65535: ${n}`);
  return [
    // X = 4 * (IPv4 byte 0 & 0xf): the outer IPv4 header length.
    { code: BPF_LDX | BPF_B | BPF_MSH, jt: 0, jf: 0, k: SKF_NET_OFF },
    // A = the 16-bit word at X from the IPv4 header: the UDP source port.
    { code: BPF_LD | BPF_H | BPF_IND, jt: 0, jf: 0, k: SKF_NET_OFF },
    { code: BPF_ALU | BPF_MOD | BPF_K, jt: 0, jf: 0, k: n },
    { code: BPF_RET | BPF_A, jt: 0, jf: 0, k: 0 },
  ];
}
