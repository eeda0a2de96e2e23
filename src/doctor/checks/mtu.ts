/**
 * mtu check: the overlay device MTU, FLANNEL_MTU in subnet.env and cni0's MTU against the underlay
 * interface. Every overlay packet grows by 50 bytes (vxlan: outer IPv4 20 + UDP 8 + VXLAN 8 + inner
 * Ethernet 14) or 28 (udp), so the device may carry at most underlay - overhead; flannel derives
 * both the device MTU and FLANNEL_MTU that way (Backend.MTU, when set, stands for the underlay).
 * Pods get FLANNEL_MTU when they are created, so a stale value outlives a fixed device.
 */
import { VXLAN_MTU_OVERHEAD, UDP_MTU_OVERHEAD, backendMtu } from '../../control';
import { Finding, note, ok, problem, skipped } from '../finding';
import type { NodeView } from '../node-view';

const RESTART_PODS =
  'pods created before the fix keep their old eth0 MTU: restart them after the node is fixed';

/** checkMtu compares device, subnet.env and bridge MTUs with the underlay. */
export function checkMtu(v: NodeView): Finding[] {
  if (!v.config) return [skipped('mtu', 'no network config, so no backend to size the MTU for')];
  if (!v.ext) return [skipped('mtu', `no external interface: ${v.extError ?? 'unknown'}`)];
  const be = v.config.backend;
  const under = v.ext.mtu;
  const overhead = be.type === 'vxlan' ? VXLAN_MTU_OVERHEAD : be.type === 'udp' ? UDP_MTU_OVERHEAD : 0;
  const want = backendMtu(v.config, under);
  const limit = under - overhead;
  const out: Finding[] = [];
  const setting =
    be.type === 'vxlan'
      ? 'set net-conf.json Backend.MTU to the underlay path MTU (the device gets that minus 50), or point --iface at the right interface'
      : 'point --iface at the right interface (the udp backend always uses its MTU minus 28)';

  if (be.type === 'vxlan' && be.mtu !== null && be.mtu > under) {
    out.push(
      problem(
        'mtu',
        `Backend.MTU ${be.mtu} is larger than ${v.ext.name}'s MTU ${under}`,
        `Backend.MTU stands for the underlay MTU; the overlay gets ${be.mtu} - 50 = ${want}, so packets of ${limit + 1}..${want} bytes are fragmented on the underlay or dropped (ping works, TCP stalls after the handshake)`,
        `set Backend.MTU to at most ${under} (or remove it to use ${v.ext.name}'s MTU) on every node, restart, then restart the pods`,
      ),
    );
  }

  if (v.dev && v.devLink) {
    const d = v.devLink;
    if (d.mtu > limit) {
      out.push(
        problem(
          'mtu',
          `${d.name} MTU ${d.mtu} is larger than ${v.ext.name} MTU ${under} - ${overhead} = ${limit}`,
          `packets of ${limit + 1}..${d.mtu} bytes grow past the underlay MTU once encapsulated: the kernel fragments the outer packet (a blackhole wherever fragments are dropped) or weft drops them as too_big; small pings work, TCP stalls at the first full segment. The underlay MTU was probably lowered after ${d.name} was created`,
          `restart the node's flanneld or weft run so it recreates ${d.name} at ${limit}; ${setting}; ${RESTART_PODS}. \`weft mtu-probe <peer subnet>.0\` measures the real path`,
        ),
      );
    } else if (d.mtu < want) {
      out.push(
        note(
          'mtu',
          `${d.name} MTU ${d.mtu} is below the ${want} the config implies (${v.ext.name} MTU ${under})`,
          'nothing breaks, but every packet carries less than the path allows (wasted capacity)',
          `restart the node to resize ${d.name}, or ${setting}`,
        ),
      );
    } else {
      out.push(ok('mtu', `${d.name} MTU ${d.mtu} = ${v.ext.name} MTU ${under} - ${overhead}`));
    }
    if (d.vxlan?.lower && d.vxlan.lower !== v.ext.name) {
      out.push(
        problem(
          'mtu',
          `${d.name} is bound to ${d.vxlan.lower}, but the flags select ${v.ext.name}`,
          'the device was created with another interface (an older --iface, or another node configuration); its MTU and source address follow that interface',
          `give doctor the node's own flags (--iface ...), or delete ${d.name} and restart the node so it is created on the right interface`,
        ),
      );
    }
  } else if (v.dev) {
    out.push(
      problem(
        'mtu',
        `the overlay device ${v.dev} does not exist`,
        'without it nothing is encapsulated: the node is not running, or it failed to start',
        'start (or restart) flanneld / weft run on this node and read its log',
      ),
    );
  }

  const env = v.subnetEnv;
  if (env?.mtu != null) {
    const devMtu = v.devLink?.mtu ?? want;
    if (env.mtu > Math.min(limit, devMtu) && be.type !== 'host-gw') {
      out.push(
        problem(
          'mtu',
          `FLANNEL_MTU=${env.mtu} in ${v.flags.subnetFile} is larger than the overlay carries (${Math.min(limit, devMtu)})`,
          'the CNI plugin gives new pods this MTU, so their full-size packets are fragmented or dropped',
          `restart the node so it rewrites subnet.env with ${want}; ${RESTART_PODS}`,
        ),
      );
    } else if (be.type === 'host-gw' && env.mtu > under) {
      out.push(
        problem(
          'mtu',
          `FLANNEL_MTU=${env.mtu} is larger than ${v.ext.name} MTU ${under}`,
          'host-gw adds no header, so pods must not exceed the interface MTU',
          `restart the node so it rewrites subnet.env with ${under}; ${RESTART_PODS}`,
        ),
      );
    } else if (env.mtu !== want) {
      out.push(
        note(
          'mtu',
          `FLANNEL_MTU=${env.mtu} differs from the ${want} the config implies`,
          'pods get a smaller MTU than the path allows',
          `restart the node so it rewrites subnet.env; ${RESTART_PODS}`,
        ),
      );
    } else {
      out.push(ok('mtu', `FLANNEL_MTU=${env.mtu} matches`));
    }
  }

  const cni0 = v.links?.find((l) => l.name === 'cni0');
  if (cni0 && env?.mtu != null && cni0.mtu > env.mtu) {
    out.push(
      problem(
        'mtu',
        `cni0 MTU ${cni0.mtu} is larger than FLANNEL_MTU=${env.mtu}`,
        'the bridge (and the pods on it) were set up with a larger MTU than the overlay carries',
        `drain the node, \`ip link delete cni0\`, and restart the pods so the CNI plugin recreates it at ${env.mtu}`,
      ),
    );
  }
  return out;
}
