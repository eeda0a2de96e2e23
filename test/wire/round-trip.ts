/**
 * Shared round-trip helper for wire-format tests: encode into a larger, pre-filled buffer at a
 * nonzero offset, check the reported length, that no byte outside the header was touched, and that
 * decoding gives back the fields.
 */
import assert from 'node:assert/strict';

/** FILL is the byte the test buffer is pre-filled with, to catch writes outside the header. */
export const FILL = 0xa5;

/**
 * assertRoundTrip encodes `fields` at offset 37 of a buffer `size + 64` bytes long and checks
 * length, untouched surroundings and decode(encode(x)) deep-equals x. Returns the encoded bytes.
 */
export function assertRoundTrip<F>(
  size: number,
  encode: (buf: Buffer, off: number, f: F) => number,
  decode: (buf: Buffer, off: number, len: number) => F,
  fields: F,
  off = 37,
): Buffer {
  const buf = Buffer.alloc(size + 64, FILL);
  const n = encode(buf, off, fields);
  assert.equal(n, size, 'encoded length');
  for (let i = 0; i < off; i++) assert.equal(buf[i], FILL, `byte ${i} before the header was touched`);
  for (let i = off + n; i < buf.length; i++)
    assert.equal(buf[i], FILL, `byte ${i} after the header was touched`);
  assert.deepEqual(normalize(decode(buf, off, n)), normalize(fields));
  return Buffer.from(buf.subarray(off, off + n));
}

/** normalize turns Uint8Array/Buffer fields into plain hex strings so deepEqual compares content. */
function normalize(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x).toString('hex');
  if (x && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = normalize(v);
    return out;
  }
  return x;
}

/** hex turns a spaced hex string into a Buffer. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** at copies `bytes` into a fresh buffer at offset `off` (with slack after), for (buf, off) APIs. */
export function at(bytes: Buffer, off = 11, slack = 7): Buffer {
  const b = Buffer.alloc(off + bytes.length + slack, FILL);
  bytes.copy(b, off);
  return b;
}

/** mulberry32 is a tiny deterministic PRNG, for reproducible random inputs. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
