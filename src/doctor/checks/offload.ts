/**
 * offload check: what checksum offload on this node means for captures and for peers. Nothing here
 * is a fault by itself; the findings explain what operators otherwise chase as corruption.
 *
 * With TX checksum offload the kernel leaves a packet's TCP/UDP checksum partial
 * (CHECKSUM_PARTIAL) for the device to finish. A NIC finishes it in hardware after the capture
 * point, so captures on the sending node show wrong checksums on outgoing frames. veth finishes
 * nothing: it hands the skb with its partial checksum to the other end, where a kernel receiver
 * trusts the skb's metadata, while a program reading the bytes (a TUN reader such as weft, a
 * capture) sees an unfinished checksum. A kernel VXLAN sender over veth thus delivers inner TCP/UDP
 * checksums that only its kernel peers would accept. The kernel VXLAN device itself had a bug
 * with offload and `--random-fully` masquerading (63-second delays, flannel PR #1282).
 */
import { Finding, note, ok, skipped } from '../finding';
import type { NodeView } from '../node-view';

/** checkOffload explains the checksum offload state of the underlay and a kernel VXLAN device. */
export function checkOffload(
  v: NodeView,
  underlay: Map<string, boolean> | null,
  vxlanDev: Map<string, boolean> | null,
): Finding[] {
  if (!v.ext) return [skipped('offload', 'no external interface')];
  const name = v.ext.name;
  const link = v.links?.find((l) => l.name === name);
  const out: Finding[] = [];
  const txOn = underlay?.get('tx-checksumming') ?? null;
  if (link?.kind === 'veth') {
    out.push(
      note(
        'offload',
        `${name} is a veth${txOn === null ? '' : ` with tx-checksumming ${txOn ? 'on' : 'off'}`}: checksums stay partial (CHECKSUM_PARTIAL) across it`,
        `nothing finishes a partial checksum on veth. Captures on either end (tcpdump -vv, weft capture, tshark) show "bad udp cksum" on outer UDP and wrong inner TCP/UDP checksums of frames this node sends: that is offload, not corruption; the receiving kernel accepts them by the skb's metadata. A kernel VXLAN node sending over veth hands its peer inner checksums that are still unfinished in the bytes: kernel peers accept them, a userspace receiver must complete them itself`,
        `to see final checksums in a capture, capture where a NIC has finished them (the far side of a physical link), or turn offload off for the capture only (ethtool -K ${name} tx off); no change is needed for traffic`,
      ),
    );
  } else if (txOn === true) {
    out.push(
      note(
        'offload',
        `${name} has tx-checksumming on: the NIC finishes TCP/UDP checksums after the capture point`,
        'a capture taken on this node shows wrong checksums on frames it sends; the same frames are correct on the wire and on the receiving node',
      ),
    );
  } else if (txOn === false) {
    out.push(ok('offload', `${name} has tx-checksumming off: captures here show final checksums`));
  } else {
    out.push(
      skipped('offload', `cannot read ${name}'s offloads (is ethtool installed? apt-get install ethtool)`),
    );
  }
  if (v.flavor === 'kernel-vxlan' && v.devLink) {
    const generic = vxlanDev?.get('tx-checksum-ip-generic') ?? vxlanDev?.get('tx-checksumming') ?? null;
    if (generic === true) {
      out.push(
        note(
          'offload',
          `${v.devLink.name} has tx-checksum-ip-generic on (the kernel default)`,
          `some kernels mis-checksum VXLAN packets that were SNATed with --random-fully, which shows as 63-second delays on connections to Services (flannel PR #1282, kubernetes issue #88986)`,
          `only if you see those delays: ethtool -K ${v.devLink.name} tx-checksum-ip-generic off`,
        ),
      );
    }
  }
  return out;
}
