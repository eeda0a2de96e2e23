/**
 * Fuzz vxlanDecap with random and mutated frames: it must never throw, must agree with a slow
 * reference decoder built from the wire modules on every verdict and drop reason, and every
 * rejection must be counted exactly once (accepted + dropped == inputs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HEADROOM } from '../../src/encap/constants';
import { DropReason, newAnomalyCounters, newDropCounters, sumCounters } from '../../src/encap/drop-reason';
import { makeVxlanConfig, type VxlanConfig } from '../../src/encap/vxlan-config';
import { vxlanDecap } from '../../src/encap/vxlan-decap';
import { vxlanEncap } from '../../src/encap/vxlan-encap';
import { ethDstEquals, ethEtherType, ethSrcEquals } from '../../src/wire/ethernet';
import { isValidIpv4 } from '../../src/wire/ipv4';
import { isValidIpv6 } from '../../src/wire/ipv6';
import { isValidVxlan, vxlanHasRco, vxlanRcoOffset, vxlanRcoStart, vxlanVni } from '../../src/wire/vxlan';
import { CFG_A, CFG_B, MAC_B, SLOT } from '../encap/frames';
import { writeV4, writeV6 } from '../../src/testing/packets';
import { mulberry32, mutate } from './mutate';

/** reference is the slow, obviously-correct decap: returns a DropReason slot or -1 for accept. */
function reference(b: Buffer, off: number, len: number, cfg: VxlanConfig): number {
  if (len < 22) return DropReason.tooShort;
  if (!isValidVxlan(b, off, len)) return DropReason.badVxlanFlags;
  if (vxlanHasRco(b, off) && !cfg.rco) return DropReason.vxlanRcoDisabled;
  if (vxlanVni(b, off) !== cfg.vni) return DropReason.badVni;
  const eth = off + 8;
  if (!ethDstEquals(b, eth, cfg.localMac)) return DropReason.badInnerDstMac;
  if (ethSrcEquals(b, eth, cfg.localMac)) return DropReason.ownInnerSrcMac;
  const et = ethEtherType(b, eth);
  if (et !== 0x0800 && et !== 0x86dd) return DropReason.badEthertype;
  const ok = et === 0x0800 ? isValidIpv4(b, off + 22, len - 22) : isValidIpv6(b, off + 22, len - 22);
  if (!ok) return DropReason.badInnerIp;
  if (vxlanHasRco(b, off)) {
    // draft-herbert-vxlan-rco: start = inner Ethernet + IP header, offset = that protocol's field.
    const ip = off + 22;
    const v4 = et === 0x0800;
    const l4 = v4 ? (b[ip]! & 0x0f) * 4 : 40;
    const proto = v4 ? b[ip + 9] : b[ip + 6];
    const o = vxlanRcoOffset(b, off);
    const fits = vxlanRcoStart(b, off) === 14 + l4 && proto === (o === 6 ? 17 : 6) && l4 + o + 2 <= len - 22;
    if (!fits) return DropReason.badVxlanRco;
  }
  return -1;
}

/** Node B with `--vxlan-rco`: mutated frames that set the RCO flag reach its field checks. */
const CFG_B_RCO = makeVxlanConfig({ localMac: MAC_B, rco: true });

/** Fuzz state shared by the properties in this file. */
const drops = newDropCounters();
const anomalies = newAnomalyCounters();
let inputs = 0;
let accepted = 0;

function feed(b: Buffer, off: number, len: number, cfg: VxlanConfig): void {
  const before = sumCounters(drops);
  const want = reference(b, off, len, cfg);
  const wantSlotBefore = want >= 0 ? drops[want] : 0;
  const r = vxlanDecap(b, off, len, cfg, drops, anomalies);
  inputs++;
  if (r === -1) {
    if (want === -1)
      assert.fail(
        `decap dropped a frame the reference accepts: ${b.subarray(off, off + len).toString('hex')}`,
      );
    assert.equal(drops[want], wantSlotBefore + 1, 'the reference drop reason was counted');
  } else {
    accepted++;
    assert.equal(want, -1, `decap accepted a frame the reference drops (reason ${want})`);
    assert.equal(r, off + 22);
  }
  assert.equal(sumCounters(drops), before + (r === -1 ? 1 : 0), 'exactly one drop per rejection');
}

const MUTATIONS_PER_FRAME = 150;

test('fuzz vxlanDecap: mutated valid frames (bit flips, truncations, length lies) agree with the reference', () => {
  const base = Buffer.alloc(SLOT);
  const work = Buffer.alloc(SLOT + 64);
  fc.assert(
    fc.property(
      fc.record({
        v6: fc.boolean(),
        payload: fc.integer({ min: 0, max: 300 }),
        sport: fc.integer({ min: 0, max: 65535 }),
        seed: fc.integer(),
        off: fc.integer({ min: 0, max: 40 }),
      }),
      ({ v6, payload, sport, seed, off }) => {
        const ipLen = v6
          ? writeV6(base, HEADROOM, 1, 2, sport, 53, payload)
          : writeV4(base, HEADROOM, { sport, payload });
        const start = vxlanEncap(base, HEADROOM, ipLen, MAC_B, CFG_A);
        const frame = Buffer.from(base.subarray(start, HEADROOM + ipLen));
        const site = { lengthFields: v6 ? [26] : [24], headerBytes: 22 + (v6 ? 48 : 28) };
        const rnd = mulberry32(seed);
        feed(frame, 0, frame.length, CFG_B); // the unmutated frame itself
        for (let i = 0; i < MUTATIONS_PER_FRAME; i++) {
          const len = mutate(rnd, frame, frame.length, work, off, site);
          feed(work, off, len, CFG_B);
          feed(work, off, len, CFG_B_RCO);
        }
      },
    ),
    { numRuns: 5000 },
  );
});

test('fuzz vxlanDecap: random bytes, with and without a plausible VXLAN/Ethernet prefix', () => {
  const work = Buffer.alloc(256);
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 120 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 100 }),
      (bytes, prefix, off) => {
        work.set(bytes, off);
        // prefix 1..3 makes the early checks pass so the later ones get exercised.
        if (prefix >= 1 && bytes.length >= 8) work.set([0x08, 0, 0, 0, 0, 0, 1, 0], off);
        if (prefix >= 2 && bytes.length >= 14) MAC_B.copy(work, off + 8);
        if (prefix >= 3 && bytes.length >= 22) work.writeUInt16BE(bytes[0] & 1 ? 0x86dd : 0x0800, off + 20);
        if (prefix >= 3 && bytes.length >= 23)
          work[off + 22] = (work[off + 22] & 0x0f) | (bytes[0] & 1 ? 0x60 : 0x40);
        feed(work, off, bytes.length, CFG_B);
      },
    ),
    { numRuns: 40000 },
  );
});

test('fuzz vxlanDecap: totals add up (accepted + drops == inputs, >= 750,000 inputs)', () => {
  assert.ok(inputs >= 750_000, `inputs ${inputs}`);
  assert.equal(accepted + sumCounters(drops), inputs);
  assert.ok(accepted > 1000, `some mutated frames survive (${accepted})`);
  for (const r of [
    'tooShort',
    'badVxlanFlags',
    'badVni',
    'badInnerDstMac',
    'badEthertype',
    'badInnerIp',
  ] as const) {
    assert.ok(drops[DropReason[r]] > 0, `${r} was exercised`);
  }
});
