/**
 * yield-budget: the forwarding loops hand their CPU over after every budget of packets
 * (src/dataplane/yield-budget.ts), so that a reader on the same CPU drains its socket between
 * bursts. In-memory fakes only: the yield is a counting function.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newDropCounters } from '../../src/encap/drop-reason';
import { PacketBatch } from '../../src/io/packet-batch';
import { SocketRecvLoop } from '../../src/dataplane/socket-recv-loop';
import { TunSendLoop } from '../../src/dataplane/tun-send-loop';
import {
  YIELD_BUDGET,
  YIELD_BUDGET_ENV,
  YieldBudget,
  defaultYieldBudget,
  parseYieldBudget,
} from '../../src/dataplane/yield-budget';
import { ConfigError } from '../../src/errors';
import { IngressStages } from '../../src/dataplane/ingress';
import { OffloadIngress } from '../../src/dataplane/ingress-offload';
import { makeVxlanConfig, newAnomalyCounters, VXLAN_ENCAP_SIZE } from '../../src/encap';
import type { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import { IoCounter, newIoCounters } from '../../src/io/counters';
import type { Tun } from '../../src/io/tun';
import { ipv4ToU32 } from '../../src/net/addr';
import { L4_KINDS, writeL4Packet } from '../../src/testing/packets';
import { peerSpec, routerFor } from '../../src/testing/routes';
import { fillIpv4Checksum } from '../../src/wire/ipv4';
import { loadBinding } from '../../src/io/binding';

/** SendLoop reads a scripted sequence of batch sizes and records when the loop yielded. */
class SendLoop extends TunSendLoop {
  readonly log: string[] = [];
  constructor(
    private readonly reads: number[],
    readSlots: number,
  ) {
    const batch = new PacketBatch(4, 256);
    super(
      { onReadable: () => {} },
      { onceWritable: () => {}, counters: newIoCounters() },
      newDropCounters(),
      batch,
      readSlots,
    );
    this.out = batch;
  }
  private readonly out: PacketBatch;
  protected readTun(): number {
    const n = this.reads.shift() ?? 0;
    if (n > 0) this.log.push(`read ${n}`);
    return n;
  }
  protected runStages(n: number): void {
    this.out.count = n;
  }
  protected sendRaw(): number {
    this.log.push('send');
    return this.out.count;
  }
}

/** RecvLoop receives a scripted sequence of batch sizes and records deliveries. */
class RecvLoop extends SocketRecvLoop {
  readonly log: string[] = [];
  constructor(
    private readonly receives: number[],
    shortRead: number,
  ) {
    super({ onReadable: () => {}, counters: newIoCounters() }, newDropCounters(), shortRead);
  }
  protected receive(): number {
    return this.receives.shift() ?? 0;
  }
  protected deliver(n: number): number {
    this.log.push(`deliver ${n}`);
    return n;
  }
}

describe('yield budget', () => {
  it('parses WEFT_YIELD_BUDGET: unset is the default, 0 disables, anything else is refused by name', () => {
    assert.equal(parseYieldBudget(undefined), YIELD_BUDGET);
    assert.equal(parseYieldBudget(' '), YIELD_BUDGET);
    assert.equal(parseYieldBudget('0'), 0);
    assert.equal(parseYieldBudget('64'), 64);
    for (const bad of ['-1', '1.5', 'x', '2000000', '0x10']) {
      assert.throws(
        () => parseYieldBudget(bad),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.code === 'WEFT_ERR_CONFIG' &&
          e.message.includes(YIELD_BUDGET_ENV) &&
          e.message.includes('integer'),
        bad,
      );
    }
    assert.throws(() => defaultYieldBudget({ [YIELD_BUDGET_ENV]: 'many' }), ConfigError);
    assert.equal(defaultYieldBudget({ [YIELD_BUDGET_ENV]: '32' }).budget, 32);
  });

  it('yields once per budget of packets, whatever the batch sizes', () => {
    let yields = 0;
    const b = new YieldBudget(() => yields++, 100);
    for (const n of [40, 40]) b.spend(n);
    assert.equal(yields, 0, '80 packets: under the budget');
    b.spend(20);
    assert.equal(yields, 1, 'exactly 100 packets: one yield');
    b.spend(250);
    assert.equal(yields, 2, 'a batch larger than the budget still yields once, then refills');
    for (let i = 0; i < 99; i++) b.spend(1);
    assert.equal(yields, 2);
    b.spend(1);
    assert.equal(yields, 3);
    assert.equal(b.yields, 3);
  });

  it('never yields with budget 0 or without a yield function', () => {
    let yields = 0;
    const off = new YieldBudget(() => yields++, 0);
    for (let i = 0; i < 1000; i++) off.spend(64);
    assert.equal(yields, 0);
    const none = new YieldBudget(null, 1);
    for (let i = 0; i < 10; i++) none.spend(64);
    assert.equal(none.yields, 0);
  });

  it('the TUN -> socket loop yields after sending each budget, not before', () => {
    // Eight full reads of 32 in one wakeup: 256 packets, budget 100 -> yields after the 4th and 7th sends.
    const loop = new SendLoop([32, 32, 32, 32, 32, 32, 32, 32, 5], 32);
    loop.cpuYield = new YieldBudget(() => loop.log.push('yield'), 100);
    loop.drain();
    const sends = loop.log.filter((x) => x === 'send').length;
    assert.equal(sends, 8, 'MAX_BATCHES_PER_WAKEUP batches in one wakeup');
    assert.equal(loop.cpuYield.yields, 2);
    const firstYield = loop.log.indexOf('yield');
    assert.equal(loop.log.slice(0, firstYield).filter((x) => x === 'send').length, 4);
    assert.equal(loop.log[firstYield - 1], 'send', 'the yield comes after the packets left');
    // The next wakeup carries the count on: 5 more packets do not reach the next budget.
    loop.drain();
    assert.equal(loop.cpuYield.yields, 2);
  });

  it('the socket -> TUN loop yields after delivering each budget', () => {
    const loop = new RecvLoop([64, 64, 64, 10], 64);
    loop.cpuYield = new YieldBudget(() => loop.log.push('yield'), 128);
    loop.drain();
    assert.deepEqual(loop.log, ['deliver 64', 'deliver 64', 'yield', 'deliver 64', 'deliver 10']);
  });

  it('the addon yields the calling thread (sched_yield) and returns nothing', () => {
    const y = loadBinding().threadYield;
    assert.equal(typeof y, 'function', 'threadYield missing: rebuild the addon (npm run build:native)');
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) assert.equal(y!(), undefined);
    assert.ok(process.hrtime.bigint() - t0 < 1_000_000_000n, '1000 yields took over a second');
    const d = defaultYieldBudget({});
    assert.equal(d.budget, YIELD_BUDGET);
    d.spend(YIELD_BUDGET);
    assert.equal(d.yields, 1, 'the default budget yields through the addon');
  });

  it('loops get the default budget from the environment', () => {
    const loop = new RecvLoop([], 1);
    assert.equal(loop.cpuYield.budget, parseYieldBudget(process.env[YIELD_BUDGET_ENV]));
  });
});

const MAC_LOCAL = Buffer.from('0e0000000b02', 'hex');
const MAC_PEER = Buffer.from('0e0000000a01', 'hex');
const PEER = ipv4ToU32('192.0.2.1');

/** vxlanFrames wraps `n` inner packets of one flow (TCP: consecutive sequence numbers; UDP: IDs counting up). */
function vxlanFrames(n: number, proto: 'tcp' | 'udp'): Buffer[] {
  const out: Buffer[] = [];
  const inner = Buffer.alloc(2000);
  for (let i = 0; i < n; i++) {
    const len = writeL4Packet(inner, 0, L4_KINDS[proto === 'tcp' ? 0 : 1]!, {
      payload: proto === 'tcp' ? 1000 : 36,
      partial: false,
      seq: 1000 + 1000 * i,
      seed: i,
    });
    if (proto === 'udp') {
      inner.writeUInt16BE(100 + i, 4);
      fillIpv4Checksum(inner, 0);
    }
    const f = Buffer.alloc(VXLAN_ENCAP_SIZE + len);
    f[0] = 0x08;
    f.writeUIntBE(1, 4, 3);
    MAC_LOCAL.copy(f, 8);
    MAC_PEER.copy(f, 14);
    f.writeUInt16BE(0x0800, 20);
    inner.copy(f, 22, 0, len);
    out.push(f);
  }
  return out;
}

/** offloadIngress is an OffloadIngress (GRO, TCP and UDP coalescing) over a socket fake that returns `frames` in one batch. */
function offloadIngress(frames: Buffer[]): { ingress: OffloadIngress; packets: () => number } {
  const counters = newIoCounters();
  const sock = {
    counters,
    recvBatchGro(batch: PacketBatch): number {
      let n = 0;
      for (const f of frames.splice(0)) {
        const at = batch.dataOffset(n);
        f.copy(batch.buffer, at);
        batch.offsets[n] = at;
        batch.lengths[n] = f.length;
        batch.addrs[n] = PEER;
        batch.ports[n] = 8472;
        counters[IoCounter.rxPackets]++;
        n++;
      }
      batch.count = n;
      return n;
    },
    onReadable(): void {},
  };
  const tun = {
    counters: newIoCounters(),
    writeBatch(batch: PacketBatch, start = 0, end = batch.count, status?: Uint8Array): number {
      let w = 0;
      for (let i = start; i < end;) {
        const next = Math.min(batch.packetEnd(i), end);
        status?.fill(1, i, next);
        w++;
        i = next;
      }
      return w;
    },
  };
  const router = routerFor([peerSpec('10.244.0.0/24', '192.0.2.1', 'vxlan', MAC_PEER)]);
  const cfg = { backend: 'vxlan' as const, vxlan: makeVxlanConfig({ vni: 1, localMac: MAC_LOCAL }) };
  const stages = new IngressStages(router, cfg, newDropCounters(), newAnomalyCounters());
  const ingress = new OffloadIngress(tun as unknown as Tun, sock as unknown as BatchUdpSocket, stages, {
    gro: true,
    coalesce: true,
    slots: 128,
    maxDatagram: 2000,
    mtu: 1450,
    uso: true,
  });
  return { ingress, packets: () => stages.packets };
}

describe('yield budget on the offload ingress', () => {
  it('charges each UDP datagram once and a coalesced TCP super-packet once', () => {
    for (const [frames, want] of [
      [vxlanFrames(40, 'udp'), 40],
      [vxlanFrames(20, 'tcp'), 1],
      [[...vxlanFrames(20, 'tcp'), ...vxlanFrames(30, 'udp')], 31],
    ] as const) {
      const { ingress, packets } = offloadIngress([...frames]);
      const spent: number[] = [];
      ingress.cpuYield = { spend: (n: number) => spent.push(n) } as unknown as YieldBudget;
      ingress.drain();
      assert.equal(packets(), frames.length, 'every datagram delivered');
      assert.deepEqual(spent, [want]);
    }
  });
});
