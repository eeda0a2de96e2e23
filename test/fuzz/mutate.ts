/**
 * Mutation engine for the fuzz tests: from one valid frame, derive many hostile variants (bit
 * flips, truncations, length-field lies, random header bytes, random extension) with a seeded PRNG,
 * so a fast-check run can feed thousands of inputs cheaply and stay reproducible from its seed.
 */
import { mulberry32 } from '../wire/round-trip';

/** Mutator rewrites `work` (already a copy of the base frame) and returns the new length. */
export interface MutationSite {
  /** Offsets (relative to the frame start) of 16-bit length fields worth lying about. */
  lengthFields: number[];
  /** Bytes at the start of the frame that hold headers (mutated more often). */
  headerBytes: number;
}

/**
 * mutate copies base[0..baseLen) into work at `off` and applies 1-3 random mutations, returning
 * the length to feed. `work` must have room for baseLen + 32 bytes after `off`.
 */
export function mutate(
  rnd: () => number,
  base: Buffer,
  baseLen: number,
  work: Buffer,
  off: number,
  site: MutationSite,
): number {
  base.copy(work, off, 0, baseLen);
  let len = baseLen;
  const n = 1 + ((rnd() * 3) | 0);
  for (let k = 0; k < n; k++) {
    const kind = (rnd() * 7) | 0;
    switch (kind) {
      case 0: {
        // flip one bit anywhere
        const p = (rnd() * len) | 0;
        if (len > 0) work[off + p] ^= 1 << ((rnd() * 8) | 0);
        break;
      }
      case 1: {
        // flip one bit in the headers
        const p = (rnd() * Math.min(len, site.headerBytes)) | 0;
        if (len > 0) work[off + p] ^= 1 << ((rnd() * 8) | 0);
        break;
      }
      case 2:
        // truncate
        len = (rnd() * (len + 1)) | 0;
        break;
      case 3: {
        // lie in a length field: small off-by-n or arbitrary
        if (site.lengthFields.length === 0) break;
        const f = site.lengthFields[(rnd() * site.lengthFields.length) | 0];
        if (f + 2 > len) break;
        const cur = work.readUInt16BE(off + f);
        const v = rnd() < 0.5 ? cur + ((rnd() * 9) | 0) - 4 : (rnd() * 65536) | 0;
        work.writeUInt16BE(v & 0xffff, off + f);
        break;
      }
      case 4: {
        // random byte in the headers
        const p = (rnd() * Math.min(len, site.headerBytes)) | 0;
        if (len > 0) work[off + p] = (rnd() * 256) | 0;
        break;
      }
      case 5: {
        // extend with random bytes (padding / garbage after the packet)
        const extra = 1 + ((rnd() * 31) | 0);
        for (let i = 0; i < extra; i++) work[off + len + i] = (rnd() * 256) | 0;
        len += extra;
        break;
      }
      default: {
        // replace the whole header region with noise
        const h = Math.min(len, site.headerBytes);
        for (let i = 0; i < h; i++) if (rnd() < 0.3) work[off + i] = (rnd() * 256) | 0;
      }
    }
  }
  return len;
}

export { mulberry32 };
