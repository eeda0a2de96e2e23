/**
 * report: turns a path-MTU search result plus what the kernel says about the local devices into
 * the `weft mtu-probe` verdict: overlay path MTU, the underlay MTU it implies, and warnings where
 * a device MTU does not match what the path carries.
 *
 * Overheads (dataplane.md §1.4): VXLAN over IPv4 adds 50 bytes to an inner IP packet (outer IPv4
 * 20 + UDP 8 + VXLAN 8 + inner Ethernet 14); flannel-UDP adds 28 (outer IPv4 20 + UDP 8).
 */
import type { Backend } from '../route/peer';
import type { LimitKind, SearchResult } from './search';

/** OVERHEAD is the bytes each backend adds to an inner IP packet over an IPv4 underlay. */
export const OVERHEAD: Record<Backend, number> = { vxlan: 50, udp: 28 };

/** ProbeContext is what is known about the local side when reporting. */
export interface ProbeContext {
  peer: string;
  backend: Backend;
  /** The overlay device towards the peer and its MTU. */
  dev?: { name: string; mtu: number; kind: string };
  /** The overlay device's lower (underlay) device, when the kernel knows it (kernel VXLAN). */
  lower?: { name: string; mtu: number };
  /** A path MTU the kernel had cached for the peer after probing. */
  cachedMtu?: number;
}

/** MtuReport is the verdict, in data (for --json) and as lines. */
export interface MtuReport {
  peer: string;
  backend: Backend;
  ok: boolean;
  overlayPathMtu: number;
  impliedUnderlayMtu: number;
  limit: LimitKind;
  device?: string;
  deviceMtu?: number;
  lowerDevice?: string;
  lowerDeviceMtu?: number;
  probes: number;
  warnings: string[];
  lines: string[];
}

const LIMIT_TEXT: Record<LimitKind, string> = {
  'local-device': 'the local device MTU (the kernel refused larger probes with EMSGSIZE)',
  'path-mtu-cache': 'a path MTU the kernel has cached for this peer (EMSGSIZE; see `ip route get PEER`)',
  'frag-needed': 'an ICMP "fragmentation needed" from a hop on the path',
  'silent-drop': 'larger probes got no reply (dropped on the path: an MTU blackhole, or loss)',
  'tunnel-fragmentation': 'the tunnel device: larger packets only crossed as outer IP fragments',
  none: 'nothing: every size up to --max passed',
};

/** buildReport derives the verdict and warnings from a search result and the local context. */
export function buildReport(r: SearchResult, c: ProbeContext, max: number): MtuReport {
  const overhead = OVERHEAD[c.backend];
  const lines: string[] = [];
  const warnings: string[] = [];
  const rep: MtuReport = {
    peer: c.peer,
    backend: c.backend,
    ok: r.pathMtu > 0,
    overlayPathMtu: r.pathMtu,
    impliedUnderlayMtu: r.pathMtu > 0 ? r.pathMtu + overhead : 0,
    limit: r.limit,
    probes: r.probes,
    warnings,
    lines,
  };
  if (c.dev) {
    rep.device = c.dev.name;
    rep.deviceMtu = c.dev.mtu;
  }
  if (c.lower) {
    rep.lowerDevice = c.lower.name;
    rep.lowerDeviceMtu = c.lower.mtu;
  }
  const via = c.dev ? ` via ${c.dev.name} (${c.dev.kind || 'device'}, mtu ${c.dev.mtu})` : '';
  const lower = c.lower ? `, underlay device ${c.lower.name} mtu ${c.lower.mtu}` : '';
  lines.push(`peer ${c.peer}${via}${lower}, backend ${c.backend} (+${overhead} bytes)`);
  if (!rep.ok) {
    lines.push(`no path MTU: ${r.failure ?? 'no probe got a reply'}`);
    return rep;
  }
  lines.push(`overlay path MTU: ${r.pathMtu}${r.atMax ? ` (or more: --max ${max} passed)` : ''}`);
  lines.push(
    `implied underlay MTU: ${rep.impliedUnderlayMtu} (${r.pathMtu} + ${overhead} ${c.backend === 'vxlan' ? 'VXLAN over IPv4' : 'flannel-UDP'})`,
  );
  lines.push(
    `limited by: ${LIMIT_TEXT[r.limit]}${r.reportedMtu !== undefined ? `; next-hop MTU ${r.reportedMtu} reported by ${r.reportedBy}` : ''}`,
  );
  if (r.tunnelFragmentation) {
    warnings.push(
      `probes larger than ${r.pathMtu} bytes crossed only as fragmented outer packets: the kernel VXLAN ` +
        `driver (outer DF clear) fragments them and records path MTU ${c.cachedMtu ?? r.pathMtu} for ${c.peer}; ` +
        `fragmentation costs throughput, and a receiver or middlebox that drops fragments turns this into a blackhole`,
    );
  }
  if (c.dev && c.dev.mtu > r.pathMtu && !r.atMax) {
    warnings.push(
      `${c.dev.name} MTU ${c.dev.mtu} is larger than the path MTU ${r.pathMtu}: packets of ${r.pathMtu + 1}..${c.dev.mtu} ` +
        `bytes are fragmented or dropped (TCP stalls after the handshake, small pings work). ` +
        `Set it to ${r.pathMtu} (underlay MTU ${rep.impliedUnderlayMtu} - ${overhead}): for flannel or weft run, ` +
        `set net-conf.json Backend.MTU (the underlay MTU) to ${rep.impliedUnderlayMtu}; for weft link, --mtu ${r.pathMtu}`,
    );
  }
  if (c.dev && c.lower && c.lower.mtu - overhead > c.dev.mtu) {
    warnings.push(
      `${c.dev.name} MTU ${c.dev.mtu} is smaller than its underlay allows (${c.lower.name} mtu ${c.lower.mtu} - ${overhead} = ` +
        `${c.lower.mtu - overhead}): wasted capacity, every packet carries less than it could`,
    );
  } else if (c.dev && r.atMax && r.pathMtu === c.dev.mtu && r.limit === 'none' && !c.lower) {
    lines.push(
      `note: the probe cannot exceed ${c.dev.name}'s MTU ${c.dev.mtu}; the path may carry more (wasted capacity if so)`,
    );
  }
  if (c.dev && c.lower && c.lower.mtu - overhead < c.dev.mtu) {
    warnings.push(
      `${c.dev.name} MTU ${c.dev.mtu} exceeds its underlay device: ${c.lower.name} mtu ${c.lower.mtu} - ${overhead} = ${c.lower.mtu - overhead}`,
    );
  }
  for (const w of warnings) lines.push(`WARNING: ${w}`);
  return rep;
}
