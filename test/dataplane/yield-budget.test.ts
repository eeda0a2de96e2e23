/**
 * yield-budget: the forwarding loops hand their CPU over after every budget of packets
 * (src/dataplane/yield-budget.ts), so that a reader on the same CPU drains its socket between
 * bursts. In-memory fakes only: the yield is a counting function.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newDropCounters } from '../../src/encap/drop-reason';
import { newIoCounters } from '../../src/io/counters';
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
  protected deliver(n: number): void {
    this.log.push(`deliver ${n}`);
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
