/**
 * node-plan: what a `weft run` node will be, computed from its inputs alone (no I/O), so that
 * every rule of flanneld's device choice can be tested without a kernel:
 *
 *   flags + network config + external interface  -> planNode:       backend, device, VNI, port, MTU
 *   network config + public IP + VTEP MAC            -> leaseAttrs:     what our lease publishes
 *   plan + flags + lease subnet + VTEP MAC + peers -> dataplaneConfig: the DataplaneNode's NodeConfig
 *
 * The MTU is flannel's `MTU()`: the underlay MTU (vxlan `Backend.MTU` when set, else the
 * interface's) minus the encapsulation overhead of src/encap/constants.ts; host-gw adds nothing.
 */
import { ConfigError } from '../errors';
import type { Ipv4Net, LeaseAttrs, NetworkConfig, WeftFlags } from '../control';
import { u32ToIpv4, vxlanLeaseData } from '../control';
import type { NodeConfig } from '../dataplane/node';
import { DEFAULT_SRC_PORT_RANGE, defaultSrcPort, parseSrcPortRange } from '../dataplane/src-port';
import { UDP_OVERHEAD, VXLAN_OVERHEAD } from '../encap/constants';
import type { RouteSync } from '../io/route-sync';
import { macToBuffer } from '../net/addr';
import type { Backend } from '../route/peer';
import type { PeerSpec } from '../route/route-table';
import { hostGwLeaseAttrs } from './host-gw';

/** MIN_OVERLAY_MTU is the smallest overlay MTU weft accepts (IPv4's minimum datagram size). */
export const MIN_OVERLAY_MTU = 68;

/** PLACEHOLDER_VTEP_MAC stands in for the VTEP MAC of a udp node (flannel-UDP carries no L2). */
const PLACEHOLDER_VTEP_MAC = [2, 0, 0, 0, 0, 1];

/** NodePlan is the device side of a node, decided before anything is opened or written. */
export interface NodePlan {
  backend: Backend | 'host-gw';
  /** `flannel.<VNI>` (vxlan), `flannel0` (udp), or the external interface (host-gw: no device). */
  dev: string;
  /** VXLAN Network Identifier; 0 for the other backends. */
  vni: number;
  /** The backend's UDP port; 0 for host-gw. */
  port: number;
  /** Encapsulation overhead on an IPv4 underlay: VXLAN_OVERHEAD, UDP_OVERHEAD or 0 (host-gw). */
  overhead: number;
  /** The underlay MTU the overlay MTU is computed from (vxlan `Backend.MTU` wins). */
  underlayMtu: number;
  /** Overlay MTU: of the device, and in subnet.env. */
  mtu: number;
}

/** PlanIface is the part of the external interface the plan reads. */
export interface PlanIface {
  name: string;
  mtu: number;
}

/**
 * planNode computes the NodePlan; throws ConfigError when the MTU left for the overlay is below
 * MIN_OVERLAY_MTU (naming `Backend.MTU` when that set it, else `--iface`).
 */
export function planNode(config: NetworkConfig, ext: PlanIface): NodePlan {
  const be = config.backend;
  let plan: NodePlan;
  if (be.type === 'vxlan') {
    const underlayMtu = be.mtu ?? ext.mtu;
    plan = {
      backend: 'vxlan',
      dev: `flannel.${be.vni}`,
      vni: be.vni,
      port: be.port,
      overhead: VXLAN_OVERHEAD,
      underlayMtu,
      mtu: underlayMtu - VXLAN_OVERHEAD,
    };
  } else if (be.type === 'udp') {
    plan = {
      backend: 'udp',
      dev: 'flannel0',
      vni: 0,
      port: be.port,
      overhead: UDP_OVERHEAD,
      underlayMtu: ext.mtu,
      mtu: ext.mtu - UDP_OVERHEAD,
    };
  } else {
    plan = {
      backend: 'host-gw',
      dev: ext.name,
      vni: 0,
      port: 0,
      overhead: 0,
      underlayMtu: ext.mtu,
      mtu: ext.mtu,
    };
  }
  if (plan.mtu < MIN_OVERLAY_MTU) {
    throw new ConfigError(
      be.type === 'vxlan' && be.mtu !== null ? 'Backend.MTU' : '--iface',
      `leaves an overlay MTU below ${MIN_OVERLAY_MTU}`,
      `overlay MTU ${plan.mtu}`,
    );
  }
  return plan;
}

/** DataplaneInputs are what the dataplane's config needs beyond the plan. */
export interface DataplaneInputs {
  flags: Pick<WeftFlags, 'io' | 'srcPort' | 'srcPortRange' | 'vxlanRco' | 'workers' | 'extra' | 'explicit'>;
  /** The address the UDP socket binds (the external interface's). */
  local: string;
  /** Our lease's subnet: the TUN gets `<subnet>.0/32`, as flannel.1 does. */
  subnet: Ipv4Net;
  /** Our VTEP MAC (vxlan); null for udp. */
  vtepMac: string | null;
  peers: PeerSpec[];
  routes: RouteSync;
}

/**
 * dataplaneConfig is the DataplaneNode config of a vxlan or udp plan: flannel-UDP keeps its fixed
 * source port (`--src-port flow` applies to vxlan only), and forwarding runs off the main thread,
 * so the control plane's work and GC pauses never stall a packet. Throws ConfigError for a bad
 * `--src-port-range` or a host-gw plan (which has no dataplane).
 */
export function dataplaneConfig(plan: NodePlan, x: DataplaneInputs): NodeConfig {
  if (plan.backend === 'host-gw')
    throw new ConfigError('Backend.Type', 'host-gw has no dataplane', plan.backend);
  const f = x.flags;
  const range = parseSrcPortRange(f.srcPortRange ?? DEFAULT_SRC_PORT_RANGE);
  return {
    backend: plan.backend,
    dev: plan.dev,
    local: x.local,
    address: `${u32ToIpv4(x.subnet.ip)}/32`,
    vni: plan.vni,
    port: plan.port,
    vtepMac: x.vtepMac ? macToBuffer(x.vtepMac) : Buffer.from(PLACEHOLDER_VTEP_MAC),
    mtu: plan.mtu,
    io: f.io,
    peers: x.peers,
    flowCounters: f.extra.debug === true,
    // Not given: flow for vxlan over --io batch (as kernel VXLAN), else fixed.
    srcPort:
      f.explicit.has('src-port') && plan.backend === 'vxlan' ? f.srcPort : defaultSrcPort(plan.backend, f.io),
    srcPortMin: range.min,
    srcPortMax: range.max,
    vxlanRco: plan.backend === 'vxlan' && f.vxlanRco === true,
    workers: f.workers ?? 1,
    forwardOffMain: true,
    routes: x.routes,
  };
}

/**
 * leaseAttrs is what our lease publishes, in flannel's JSON: vxlan adds `{"VNI", "VtepMAC"}` as
 * BackendData, udp has no backend type or data, host-gw its own type (host-gw.ts).
 */
export function leaseAttrs(config: NetworkConfig, publicIp: string, vtepMac: string | null): LeaseAttrs {
  const be = config.backend;
  if (be.type === 'host-gw') return hostGwLeaseAttrs(publicIp);
  if (be.type === 'vxlan') {
    if (vtepMac === null) throw new ConfigError('VtepMAC', 'a vxlan lease needs a VTEP MAC', publicIp);
    return {
      publicIp,
      publicIpv6: null,
      backendType: 'vxlan',
      backendData: vxlanLeaseData(be.vni, vtepMac),
      backendV6Data: null,
    };
  }
  return { publicIp, publicIpv6: null, backendType: '', backendData: null, backendV6Data: null };
}
