/**
 * egress-rig: the offload egress (OffloadEgress, stages 2-4) over in-memory parts, as the egress
 * tests and bench/egress-lanes.ts drive it: one VXLAN peer at 192.0.2.2, a GSO sender that counts
 * messages and datagrams instead of sending, and UDP flows chosen so that each hashes to its own
 * `--src-port flow` lane. Nothing here allocates per packet, so a test can measure the egress's
 * own allocation through it.
 */
import { EgressStages } from '../dataplane/egress';
import { OffloadEgress, type VnetTun } from '../dataplane/egress-offload';
import { makeVxlanConfig, newDropCounters } from '../encap';
import { flowSourcePort } from '../encap/flow-hash';
import { newIoCounters } from '../io/counters';
import type { PacketBatch } from '../io/packet-batch';
import { macToBuffer } from '../net/addr';
import { ChannelTun } from './channel-tun';
import { ipv4, udp } from './packets';
import { peerSpec, routerFor } from './routes';

/** The rig's flows: UDP from 10.244.0.5 to FLOW_DST port 5001, 36 bytes of payload. */
export const FLOW_DST = '10.244.1.7';

/** flowPacket is one datagram (IPv4, no virtio-net header) of the flow from source port `sport`. */
export function flowPacket(sport: number): Buffer {
  return ipv4('10.244.0.5', FLOW_DST, 17, udp(sport, 5001, Buffer.alloc(36, 1)));
}

/**
 * flowsOnDistinctLanes returns `count` source ports from 4000 up whose flows hash to `count`
 * different lanes of `lanes` (a power of two), in the order found.
 */
export function flowsOnDistinctLanes(count: number, lanes = 16): number[] {
  const sports: number[] = [];
  const seen = new Set<number>();
  for (let sport = 4000; sports.length < count && sport < 65536; sport++) {
    const p = flowPacket(sport);
    const lane = flowSourcePort(p, 0, p.length, 0, lanes - 1);
    if (seen.has(lane)) continue;
    seen.add(lane);
    sports.push(sport);
  }
  if (sports.length < count) throw new RangeError(`no ${count} flows on distinct lanes of ${lanes}`);
  return sports;
}

/** CountingSink is a GSO sender that counts messages and datagrams without building anything. */
export class CountingSink {
  readonly counters = newIoCounters();
  messages = 0;
  datagrams = 0;
  resetMtuSplit(): void {}
  onceWritable(): void {}
  sendBatchGso(b: PacketBatch, from = 0): number {
    for (let i = from; i < b.count;) {
      const m = b.gsoSizes[i]! > 0 && b.trains[i]! >= 2 ? b.trains[i]! : 1;
      this.messages++;
      this.datagrams += m;
      i += m;
    }
    return b.count;
  }
}

/** EgressRig is an OffloadEgress wired to one peer and a CountingSink. */
export interface EgressRig {
  readonly egress: OffloadEgress;
  readonly stages: EgressStages;
  readonly sink: CountingSink;
}

/**
 * rigStages is the rig's EgressStages: `subnet` (default 10.244.1.0/24) routed to the VXLAN peer
 * at 192.0.2.2 (path MTU 1450, port 8472) with `lanes` source-port lanes (0: a fixed port).
 */
export function rigStages(o: { lanes: number; subnet?: string }): EgressStages {
  return new EgressStages(
    new ChannelTun(),
    routerFor([peerSpec(o.subnet ?? '10.244.1.0/24', '192.0.2.2')]),
    {
      backend: 'vxlan',
      vxlan: makeVxlanConfig({ localMac: macToBuffer('0e:00:00:00:00:01') }),
      port: 8472,
      pathMtu: 1450,
      lanes: o.lanes,
    },
    newDropCounters(),
  );
}

/**
 * egressRig builds an OffloadEgress reading `tun` over rigStages(`o`), 32 read slots, 22 bytes
 * of prefix.
 */
export function egressRig(tun: VnetTun, o: { lanes: number; subnet?: string }): EgressRig {
  const stages = rigStages(o);
  const sink = new CountingSink();
  const egress = new OffloadEgress(tun, sink, stages, { prefix: 22, readSlots: 32 });
  return { egress, stages, sink };
}
