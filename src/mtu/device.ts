/**
 * device: what the local kernel says about the way to a peer, for `weft mtu-probe`'s diagnosis.
 *
 * Read with iproute2's JSON output (`ip -j`), which is stable across versions:
 *   - `ip -j route get PEER`: the device towards the peer and any cached path MTU
 *     (a route exception, `metrics: [{mtu: N}]`, left by PMTU discovery or by the VXLAN driver);
 *   - `ip -j -d link show DEV`: device MTU and kind; for a kernel VXLAN device also the VNI, port
 *     and lower (underlay) device, whose MTU bounds what the overlay can carry.
 * Any of these may fail (no iproute2, device in another namespace); the probe then reports less.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** RouteInfo is the part of `ip route get` the probe uses. */
export interface RouteInfo {
  dev: string;
  gateway?: string;
  prefsrc?: string;
  /** Cached path MTU of a route exception, if the kernel has one for this destination. */
  cachedMtu?: number;
}

/** LinkInfo is the part of `ip -d link show` the probe uses. */
export interface LinkInfo {
  name: string;
  mtu: number;
  /** linkinfo.info_kind (`vxlan`, `tun`, `veth`, ...), or `''` for a plain device. */
  kind: string;
  /** For VXLAN: VNI, UDP port, lower device name. */
  vxlan?: { vni: number; port: number; lower?: string };
}

function ipJson(args: string[], netns?: string): unknown {
  const cmd = netns ? ['-n', netns, '-j', ...args] : ['-j', ...args];
  const out = execFileSync('ip', cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  return JSON.parse(out || '[]') as unknown;
}

/** routeGet returns the route the kernel would use to `dst`, or undefined if there is none. */
export function routeGet(dst: string): RouteInfo | undefined {
  try {
    const r = (ipJson(['route', 'get', dst]) as Array<Record<string, unknown>>)[0];
    if (!r || typeof r.dev !== 'string') return undefined;
    const info: RouteInfo = { dev: r.dev };
    if (typeof r.gateway === 'string') info.gateway = r.gateway;
    if (typeof r.prefsrc === 'string') info.prefsrc = r.prefsrc;
    const metrics = r.metrics as Array<Record<string, unknown>> | undefined;
    const mtu = metrics?.find((m) => typeof m.mtu === 'number')?.mtu;
    if (typeof mtu === 'number') info.cachedMtu = mtu;
    return info;
  } catch {
    return undefined;
  }
}

/** linkInfo reads a device's MTU and kind (`ip -j -d link show`, falling back to /sys/class/net). */
export function linkInfo(dev: string): LinkInfo | undefined {
  try {
    const l = (ipJson(['-d', 'link', 'show', 'dev', dev]) as Array<Record<string, unknown>>)[0];
    if (!l || typeof l.mtu !== 'number') throw new Error('no link');
    const li = l.linkinfo as { info_kind?: string; info_data?: Record<string, unknown> } | undefined;
    const info: LinkInfo = { name: dev, mtu: l.mtu, kind: li?.info_kind ?? '' };
    if (info.kind === 'vxlan' && li?.info_data) {
      const d = li.info_data;
      info.vxlan = { vni: Number(d.id ?? 0), port: Number(d.port ?? 8472) };
      if (typeof d.link === 'string') info.vxlan.lower = d.link;
    }
    return info;
  } catch {
    try {
      const mtu = Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8').trim());
      return Number.isFinite(mtu) ? { name: dev, mtu, kind: '' } : undefined;
    } catch {
      return undefined;
    }
  }
}
