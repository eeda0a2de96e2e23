/**
 * The addon's sum loops (native/src/csum.cc) against the RFC 1071 reference in src/wire/checksum.ts:
 * every variant this CPU runs (scalar, sse2, avx2), sum-only and copy entries, lengths 0-3, odd
 * lengths, unaligned starts, overlapping moves, whole 64 KiB super-packets, and ranges long enough
 * to pass the vector loops' 32-bit accumulator flush. Pure computation; needs the built addon.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadBinding } from '../../src/io/binding';
import { checkCsumEnv, CSUM_ENV } from '../../src/io/csum-env';
import { ConfigError } from '../../src/errors';
import { SUM_ONLY, BAD_RANGE } from '../../src/offload/csum-copy';
import { checksumAdd, checksumFold } from '../../src/wire/checksum';

const b = loadBinding();
const { active, supported } = b.csumVariants();

function reference(buf: Uint8Array, off: number, len: number): number {
  return checksumFold(checksumAdd(buf, off, len, 0));
}

/** sumWith runs one sum-only entry through `variant` ('' = csumCopy's own choice). */
function sumWith(variant: string, buf: Uint8Array, off: number, len: number): number {
  const sums = new Uint32Array(1);
  const plan = new Uint32Array([off, SUM_ONLY, len]);
  if (variant === '') b.csumCopy(buf, buf, plan, 1, sums);
  else b.csumCopyVariant(variant, buf, buf, plan, 1, sums);
  return sums[0]!;
}

function patterned(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('native RFC 1071 sum loops', () => {
  test("the variants on offer: scalar always, the active one the fastest this CPU runs (or WEFT_CSUM's)", () => {
    assert.ok(supported.includes('scalar'));
    assert.ok(supported.includes(active), `${active} in ${supported.join(',')}`);
    const forced = process.env.WEFT_CSUM;
    if (forced !== undefined && supported.includes(forced))
      assert.equal(active, forced, 'WEFT_CSUM picks the loop');
    else assert.equal(active, supported[supported.length - 1]);
    if (process.arch === 'x64') assert.ok(supported.includes('sse2'), 'x86-64 always has SSE2');
    assert.throws(
      () =>
        b.csumCopyVariant(
          'avx9000',
          new Uint8Array(4),
          new Uint8Array(4),
          new Uint32Array(3),
          1,
          new Uint32Array(1),
        ),
      /no such variant/,
    );
  });

  test('WEFT_CSUM: a loop the CPU runs passes, anything else is a config error naming the variable', () => {
    for (const v of supported) checkCsumEnv({ [CSUM_ENV]: v });
    checkCsumEnv({});
    checkCsumEnv({ [CSUM_ENV]: '' });
    assert.throws(
      () => checkCsumEnv({ [CSUM_ENV]: 'avx9000' }),
      (err: unknown) =>
        err instanceof ConfigError && err.field === 'WEFT_CSUM' && /must be one of scalar/.test(err.message),
    );
  });

  for (const v of ['', ...supported]) {
    const name = v === '' ? `csumCopy (${active})` : v;

    test(`${name}: lengths 0-3 and every start 0-7`, () => {
      const buf = patterned(16, 7);
      for (let off = 0; off < 8; off++) {
        for (let len = 0; len <= 3; len++) {
          assert.equal(sumWith(v, buf, off, len), reference(buf, off, len), `len ${len} at ${off}`);
        }
      }
    });

    test(`${name}: every length 0-300 at starts 0-3 (each tail shape after whole vectors)`, () => {
      const buf = patterned(320, 11);
      for (let off = 0; off < 4; off++) {
        for (let len = 0; len <= 300; len++) {
          assert.equal(sumWith(v, buf, off, len), reference(buf, off, len), `len ${len} at ${off}`);
        }
      }
    });

    test(`${name}: 64 KiB super-packets, all-ones (carries everywhere) and random, aligned and not`, () => {
      const ones = new Uint8Array(65536 + 8).fill(0xff);
      const rnd = patterned(65536 + 8, 99);
      for (const buf of [ones, rnd]) {
        for (const off of [0, 1, 3, 8]) {
          for (const len of [65536, 65535, 65507]) {
            if (off + len > buf.length) continue;
            assert.equal(sumWith(v, buf, off, len), reference(buf, off, len), `len ${len} at ${off}`);
          }
        }
      }
    });

    test(`${name}: 5 MiB of 0xff and of random bytes (past the 32-bit lane flush)`, () => {
      const len = 5 * 1024 * 1024 + 13;
      const ones = new Uint8Array(len + 1).fill(0xff);
      assert.equal(sumWith(v, ones, 1, len), reference(ones, 1, len));
      const rnd = patterned(len + 1, 5);
      assert.equal(sumWith(v, rnd, 1, len), reference(rnd, 1, len));
    });

    test(`${name}: random ranges, sum-only and copy (also overlapping moves) equal the reference and memmove`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 1, maxLength: 9000 }),
          fc.nat(),
          fc.nat(),
          fc.nat(),
          fc.constantFrom('sum', 'copy', 'same'),
          (bytes, a, c, l, mode) => {
            const src = Uint8Array.from(bytes);
            const so = a % src.length;
            const len = l % (src.length - so + 1);
            const want = src.slice(so, so + len);
            const wantSum = reference(src, so, len);
            const dst = mode === 'same' ? src : new Uint8Array(src.length + 64);
            const d = mode === 'sum' ? SUM_ONLY : c % (dst.length - len + 1);
            const sums = new Uint32Array(1);
            const plan = new Uint32Array([so, d, len]);
            if (v === '') b.csumCopy(src, dst, plan, 1, sums);
            else b.csumCopyVariant(v, src, dst, plan, 1, sums);
            assert.equal(sums[0], wantSum, `sum of ${len} bytes at ${so}`);
            if (mode !== 'sum')
              assert.deepEqual(dst.subarray(d, d + len), want, `copy of ${len} bytes ${so} -> ${d}`);
          },
        ),
        { numRuns: 1500 },
      );
    });

    test(`${name}: a plan of many entries, out-of-range ones reported and not copied`, () => {
      const src = patterned(70000, 3);
      const dst = new Uint8Array(70000);
      const plan = new Uint32Array([
        0, SUM_ONLY, 1448,
        1449, 100, 1447,
        69999, SUM_ONLY, 2, // one byte past the end
        5, 69990, 20, // destination past the end
        7, SUM_ONLY, 65535,
      ]); // prettier-ignore
      const sums = new Uint32Array(5);
      if (v === '') b.csumCopy(src, dst, plan, 5, sums);
      else b.csumCopyVariant(v, src, dst, plan, 5, sums);
      assert.equal(sums[0], reference(src, 0, 1448));
      assert.equal(sums[1], reference(src, 1449, 1447));
      assert.deepEqual(dst.subarray(100, 100 + 1447), src.subarray(1449, 1449 + 1447));
      assert.equal(sums[2], BAD_RANGE);
      assert.equal(sums[3], BAD_RANGE);
      assert.ok(
        dst.subarray(69990).every((x) => x === 0),
        'nothing copied out of range',
      );
      assert.equal(sums[4], reference(src, 7, 65535));
    });
  }
});
