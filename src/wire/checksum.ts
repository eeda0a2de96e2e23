/**
 * Internet checksum: the 16-bit ones'-complement sum of RFC 1071, and its incremental update per
 * RFC 1624 (eqn. 3). Used by IPv4 (header checksum), UDP and ICMPv4.
 *
 * Design notes: sums are accumulated in a plain JS number (a double holds every partial sum of a
 * 64 KiB packet exactly) and folded once at the end, so no per-word carry handling is needed.
 * All functions are pure and allocation-free; they read bytes with `buf[i]`.
 */

/**
 * checksumAdd adds the 16-bit big-endian words of buf[off..off+len) to `sum` and returns the
 * unfolded total (RFC 1071 §4.1). An odd trailing byte is padded with a zero byte on the right.
 * When chaining ranges, only the last one may have an odd length.
 */
export function checksumAdd(buf: Uint8Array, off: number, len: number, sum: number): number {
  const end = off + (len & ~1);
  let i = off;
  for (; i < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (len & 1) sum += buf[i] << 8;
  return sum;
}

/** checksumFold folds an unfolded sum into 16 bits with end-around carry (RFC 1071 §4.1). */
export function checksumFold(sum: number): number {
  // Sums above 2^32 (very long chains) are divided down; below it the high half is a shift (a
  // division costs tens of cycles, and every segment's two checksums fold), and two folds suffice.
  while (sum > 0xffffffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * checksumFinish turns an unfolded sum into the value written on the wire: the ones' complement
 * of the folded sum (RFC 1071 §1).
 */
export function checksumFinish(sum: number): number {
  return ~checksumFold(sum) & 0xffff;
}

/**
 * internetChecksum is the RFC 1071 checksum of buf[off..off+len), seeded with `initial` (an
 * unfolded partial sum such as a pseudo-header sum). Verifying a range that contains its own
 * checksum field yields 0 when the checksum is correct.
 */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return checksumFinish(checksumAdd(buf, off, len, initial));
}

/**
 * checksumUpdate16 is RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the new checksum after one 16-bit
 * word of the covered data changes from `oldWord` to `newWord`. It yields the same value as a
 * full recompute (RFC 1624 §3 explains why eqn. 2 of RFC 1141 did not).
 */
export function checksumUpdate16(oldChecksum: number, oldWord: number, newWord: number): number {
  let sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
