/**
 * kernel-flannel: a kernel VXLAN VTEP set up exactly as flannel's vxlan backend does it
 * (reference/anchors.md scenario A), the peer every weft lab compares with or talks to.
 */
import type { Netns } from './netns';

/** KernelFlannelOptions describes one flannel-style kernel VXLAN VTEP. */
export interface KernelFlannelOptions {
  /** Device name; flannel uses `flannel.<VNI>`, unique per namespace so `flannel.1` is fine. */
  dev?: string;
  vni?: number;
  port?: number;
  /** Underlay address and device (the VTEP's `local` and `dev`). */
  local: string;
  underlayDev: string;
  /** The node's lease subnet, e.g. `10.244.0.0/24`; `<net>.0/32` goes on the device, `<net>.1/32` on lo. */
  subnet: string;
  underlayMtu: number;
  /** VXLAN Remote Checksum Offload both ways (`remcsumtx remcsumrx`; flannel never sets it). */
  remcsum?: boolean;
}

/** KernelVtep is a configured kernel VTEP: its device, MAC and the addresses it got. */
export interface KernelVtep {
  dev: string;
  mac: string;
  /** `<subnet>.0`, the device address (source of host-originated overlay traffic). */
  vtepIp: string;
  /** `<subnet>.1` on lo, standing in for a pod / cni0 address. */
  podIp: string;
}

function netPrefix3(subnet: string): string {
  const m = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(subnet);
  if (!m) throw new Error(`harness supports /24 subnets like 10.244.0.0/24, got ${subnet}`);
  return m[1]!;
}

/**
 * setupKernelFlannel creates a kernel VXLAN VTEP exactly as flannel does (vxlan id 1, dstport 8472,
 * nolearning, MTU underlay - 50, `<subnet>.0/32` on the device) and `<subnet>.1/32` on lo; with
 * `remcsum`, plus VXLAN RCO both ways.
 */
export function setupKernelFlannel(ns: Netns, o: KernelFlannelOptions): KernelVtep {
  const dev = o.dev ?? 'flannel.1';
  const p = netPrefix3(o.subnet);
  ns.ip(
    'link', 'add', dev, 'type', 'vxlan', 'id', String(o.vni ?? 1), 'dstport', String(o.port ?? 8472),
    'local', o.local, 'dev', o.underlayDev, 'nolearning', ...(o.remcsum === true ? ['remcsumtx', 'remcsumrx'] : []),
  ); // prettier-ignore
  ns.ip('link', 'set', dev, 'mtu', String(o.underlayMtu - 50), 'up');
  ns.ip('addr', 'add', `${p}.0/32`, 'dev', dev);
  ns.ip('addr', 'add', `${p}.1/32`, 'dev', 'lo');
  return { dev, mac: ns.linkMac(dev), vtepIp: `${p}.0`, podIp: `${p}.1` };
}

/**
 * addKernelFlannelPeer installs flannel's per-lease state for a remote node, in flannel's order
 * (neighbour, FDB, then route, so the kernel never ARPs): `<peer>.0 lladdr MAC permanent`,
 * `bridge fdb append MAC dst PUBLIC_IP`, `route SUBNET via <peer>.0 onlink`.
 */
export function addKernelFlannelPeer(
  ns: Netns,
  vtep: KernelVtep,
  peer: { subnet: string; mac: string; publicIp: string },
): void {
  const gw = `${netPrefix3(peer.subnet)}.0`;
  ns.ip('neigh', 'add', gw, 'lladdr', peer.mac, 'dev', vtep.dev, 'nud', 'permanent');
  ns.exec('bridge', ['fdb', 'append', peer.mac, 'dev', vtep.dev, 'dst', peer.publicIp]);
  ns.ip('route', 'add', peer.subnet, 'via', gw, 'dev', vtep.dev, 'onlink');
}
