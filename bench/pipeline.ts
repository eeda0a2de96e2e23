/**
 * pipeline: the plain dataplane directions (PlainEgress.drain: TUN read -> route -> VXLAN encap
 * -> send; PlainIngress.drain: receive -> source check -> VXLAN decap -> checksum check -> TUN
 * write; the stages are EgressStages / IngressStages, shared with the offload loops) run
 * end to end over the replay devices of src/testing, on the 10k-node cluster of packets.ts. One
 * `step()` is one wakeup of BATCH packets. bench/micro.ts times and allocation-checks these, and
 * test/dataplane/no-alloc.test.ts asserts from them that the dataplane allocates nothing per packet.
 */
import {
  makeVxlanConfig,
  newAnomalyCounters,
  newDropCounters,
  sumCounters,
  vxlanEncap,
  VXLAN_ENCAP_SIZE,
} from '../src/encap';
import { EgressStages } from '../src/dataplane/egress';
import { PlainEgress } from '../src/dataplane/egress-plain';
import { IngressStages } from '../src/dataplane/ingress';
import { PlainIngress } from '../src/dataplane/ingress-plain';
import { macToBuffer } from '../src/net/addr';
import { RouteTable } from '../src/route/route-table';
import { Router } from '../src/route/router';
import { ReplaySocket, ReplayTun } from '../src/testing/replay-devices';
import { BATCH, ROUTES, bigClusterPeers, hostInPeer, makeSlots } from './packets';

/** Pipeline is one direction ready to run: `step()` is one wakeup; `check()` throws if work went missing. */
export interface Pipeline {
  readonly name: string;
  readonly step: () => void;
  readonly check: () => void;
  /** Packets delivered so far (sent on the socket / written to the TUN). */
  readonly delivered: () => number;
}

const LOCAL_MAC = macToBuffer('0a:58:0a:f4:00:01');
const PEER_MAC = macToBuffer('0a:58:0a:f4:01:01');

/** buildPipelines returns the egress and ingress pipelines over one shared 10k-route table. */
export function buildPipelines(): { egress: Pipeline; ingress: Pipeline } {
  const cfg = makeVxlanConfig({ localMac: LOCAL_MAC, vni: 1 });
  const peers = bigClusterPeers();
  const table = RouteTable.build(peers);

  // Egress: BATCH inner packets to BATCH different peers, read from the TUN every wakeup.
  const slots = makeSlots((i) => hostInPeer((i * 37) % ROUTES, 2 + i));
  const inner: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) {
    const o = slots.offsets[i]!;
    inner.push(Uint8Array.prototype.slice.call(slots.buf, o, o + slots.lengths[i]!));
  }
  const eTun = new ReplayTun(inner, BATCH);
  const eSock = new ReplaySocket([], 0);
  const eDrops = newDropCounters();
  const egress = new EgressStages(
    eTun,
    new Router(table),
    { backend: 'vxlan', vxlan: cfg, port: 8472, pathMtu: 1450 },
    eDrops,
  );
  const egressLoop = new PlainEgress(eTun, eSock, egress, { batchSize: BATCH, maxPacket: 1450 });

  // Ingress: the same packets as VXLAN frames from peer 0's VTEP to us.
  const peerCfg = makeVxlanConfig({ localMac: PEER_MAC, vni: 1 });
  const frames: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) {
    const o = slots.offsets[i]!;
    const start = vxlanEncap(slots.buf, o, slots.lengths[i]!, LOCAL_MAC, peerCfg);
    frames.push(Uint8Array.prototype.slice.call(slots.buf, start, o + slots.lengths[i]!));
    if (frames[i]!.length !== slots.lengths[i]! + VXLAN_ENCAP_SIZE) throw new Error('frame length');
  }
  const iTun = new ReplayTun(inner, 0);
  const iSock = new ReplaySocket(frames, BATCH, peers[0]!.publicIpU32);
  const iDrops = newDropCounters();
  const ingress = new IngressStages(
    new Router(table),
    { backend: 'vxlan', vxlan: cfg },
    iDrops,
    newAnomalyCounters(),
  );
  const ingressLoop = new PlainIngress(iTun, iSock, ingress, {
    batchSize: BATCH,
    maxPacket: 1500,
    mtu: 1450,
  });

  const noDrops = (what: string, d: typeof eDrops) => (): void => {
    if (sumCounters(d) !== 0) throw new Error(`${what}: unexpected drops ${d.join(',')}`);
  };
  return {
    egress: {
      name: 'egress pipeline (PlainEgress.drain: replay TUN -> route -> VXLAN -> null socket)',
      step: () => {
        eTun.arm();
        egressLoop.drain();
      },
      check: () => {
        noDrops('egress', eDrops)();
        if (eSock.sent !== egress.packets || eSock.sent === 0) throw new Error(`egress sent ${eSock.sent}`);
      },
      delivered: () => eSock.sent,
    },
    ingress: {
      name: 'ingress pipeline (PlainIngress.drain: replay socket -> VXLAN decap -> null TUN)',
      step: () => {
        iSock.arm();
        ingressLoop.drain();
      },
      check: () => {
        noDrops('ingress', iDrops)();
        if (iTun.written !== ingress.packets || iTun.written === 0)
          throw new Error(`ingress wrote ${iTun.written}`);
      },
      delivered: () => iTun.written,
    },
  };
}
