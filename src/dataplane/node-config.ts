/**
 * node-config: what a DataplaneNode is built from (the flags of `weft link`, or the daemon's node
 * plan), the fakes unit tests run it over, and the underlay lookup of `--local`.
 */
import { ConfigError } from '../errors';
import * as netdev from '../io/netdev';
import type { IoMode, PacketIo } from '../io/packet-io';
import type { RouteSync } from '../io/route-sync';
import type { Backend } from '../route/peer';
import type { PeerSpec } from '../route/route-table';
import type { TunDevice } from '../io/tun-device';
import type { SrcPortMode } from './src-port';

/** NodeConfig is everything a DataplaneNode needs (the flags of `weft link`). */
export interface NodeConfig {
  /** Encapsulation: 'vxlan' (RFC 7348, flannel's vxlan backend) or 'udp' (flannel-UDP). */
  backend: Backend;
  /** TUN device name (<= 15 chars). */
  dev: string;
  /** Underlay IPv4 address to bind; its interface's MTU is the underlay MTU. */
  local: string;
  /** Overlay address of the TUN, `a.b.c.d/len`. */
  address: string;
  /** VXLAN Network Identifier (flannel: 1). */
  vni: number;
  /** UDP port, ours and every peer's (8472 VXLAN, 8285 flannel-UDP). */
  port: number;
  /** Our VTEP MAC (6 bytes): inner Ethernet source, and the destination we accept. */
  vtepMac: Buffer;
  /** TUN MTU; default underlay MTU - 50 (VXLAN) or - 28 (flannel-UDP). */
  mtu?: number | undefined;
  /** UDP I/O implementation. */
  io: IoMode;
  /** Initial peers; `backend` of each must match ours to be used. */
  peers: PeerSpec[];
  /** Packets per batch in each direction (default 64). */
  batchSize?: number;
  /** Socket buffer sizes in bytes (default 4 MiB each). */
  socketBufferSize?: number;
  /** TUN TSO + UDP GSO/GRO + TCP coalescing (batch I/O only; default true). */
  offload?: boolean;
  /** Per-flow packet/byte counters in both directions (`--debug`; default false). */
  flowCounters?: boolean;
  /** Outer UDP source port: 'fixed' (bound port, default) or 'flow' (hash of the inner flow; VXLAN only). */
  srcPort?: SrcPortMode;
  /** Inclusive source port range for 'flow' (default 49152-65535). */
  srcPortMin?: number;
  srcPortMax?: number;
  /** VXLAN Remote Checksum Offload, both directions (`--vxlan-rco`; default false; VXLAN only). */
  vxlanRco?: boolean;
  /**
   * Forwarding workers (default 1): the TUN is opened multi-queue with one queue per worker, the
   * first on the main thread and the others on worker threads (`--workers`).
   */
  workers?: number;
  /**
   * Forward on worker threads only, queue 0 included (kernel devices and `io` 'batch'; ignored
   * otherwise; default false). The main thread then keeps the control plane, metrics and HTTP,
   * and none of its work or GC pauses stalls a packet; counters arrive as snapshots (see
   * `refreshStats`). `weft run` sets it.
   */
  forwardOffMain?: boolean;
  /**
   * Kernel route programmer shared with the caller (the daemon checks lease routes against the
   * whole cluster Network with it); default a private one. The TUN routes are its group `tun`.
   */
  routes?: RouteSync;
}

/** NodeDeps replace the kernel objects in unit tests: no netdev calls are made when given. */
export interface NodeDeps {
  tun: TunDevice;
  io: PacketIo;
  /** Underlay MTU to assume (default 1500). */
  underlayMtu?: number;
}

/**
 * underlayMtuOf returns the MTU of the interface that has IPv4 address `local`; throws ConfigError
 * naming `--local` when no interface has it.
 */
export async function underlayMtuOf(local: string): Promise<number> {
  return (await underlayOf(local)).mtu;
}

/**
 * underlayOf returns the name and MTU of the interface that has IPv4 address `local`; throws
 * ConfigError naming `--local` when no interface has it.
 */
export async function underlayOf(local: string): Promise<{ name: string; mtu: number }> {
  const out = await netdev.ip(['-j', '-4', 'addr', 'show']);
  const links = JSON.parse(out) as Array<{
    ifname: string;
    mtu: number;
    addr_info?: Array<{ local?: string }>;
  }>;
  for (const l of links) {
    if ((l.addr_info ?? []).some((a) => a.local === local)) return { name: l.ifname, mtu: l.mtu };
  }
  throw new ConfigError('--local', 'must be an IPv4 address of a local interface', local);
}
