/**
 * pcapng capture files, read only (draft-ietf-opsawg-pcapng §3-§4; dumpcap, tshark and Wireshark
 * write this format by default). A file is a sequence of blocks, each
 *
 *   block type(4) block total length(4) body ... block total length(4)       (body padded to 32 bits)
 *
 * and these blocks matter here (every other type, e.g. Name Resolution, Interface Statistics,
 * Decryption Secrets, custom blocks, is skipped by its length):
 *
 *   Section Header (0x0a0d0d0a)  byte-order magic(4) major(2) minor(2) section length(8) options
 *   Interface Description (1)    link type(2) reserved(2) snaplen(4) options (if_tsresol=9, if_tsoffset=14)
 *   Enhanced Packet (6)          interface id(4) ts high(4) ts low(4) captured len(4) original len(4) data
 *   Simple Packet (3)            original len(4) data (interface 0, no timestamp)
 *   Packet (2, obsolete)         interface id(2) drops(2) ts high(4) ts low(4) captured len(4) original len(4) data
 *
 * Each section has its own byte order and its own interface list. Timestamps are counted in the
 * interface's if_tsresol units (default microseconds) plus if_tsoffset seconds. Control path: it
 * allocates freely and throws FormatError naming the block and offset on malformed input.
 */
import { FormatError } from '../errors';
import { PCAP_MAX_RECORD, type PcapFile, type PcapRecord } from './pcap-file';

/** PCAPNG_SHB is the Section Header Block type (also the file's first four bytes). */
export const PCAPNG_SHB = 0x0a0d0d0a;
/** PCAPNG_BYTE_ORDER_MAGIC is the SHB field that tells the section's byte order. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** PCAPNG_IDB is the Interface Description Block type. */
export const PCAPNG_IDB = 1;
/** PCAPNG_PB is the obsolete Packet Block type. */
export const PCAPNG_PB = 2;
/** PCAPNG_SPB is the Simple Packet Block type. */
export const PCAPNG_SPB = 3;
/** PCAPNG_EPB is the Enhanced Packet Block type. */
export const PCAPNG_EPB = 6;

const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

interface Iface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second, as a BigInt (10^n or 2^n). */
  unitsPerSec: bigint;
  /** Seconds added to every timestamp. */
  offsetSec: bigint;
}

/** isPcapng reports whether `buf` starts like a pcapng file. */
export function isPcapng(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32LE(0) === PCAPNG_SHB;
}

/** parsePcapng decodes a pcapng file held in memory; throws FormatError when it is malformed. */
export function parsePcapng(buf: Buffer, name = 'pcapng'): PcapFile {
  const records: PcapRecord[] = [];
  let ifaces: Iface[] = [];
  const allIfaces: Iface[] = [];
  let le = true;
  let bigEndian = false;
  let p = 0;
  let blocks = 0;
  const fail = (what: string): never => {
    throw new FormatError(`${name}: block ${blocks} at offset ${p}: ${what}`);
  };
  while (p < buf.length) {
    blocks++;
    if (buf.length - p < 12) fail(`truncated block header (${buf.length - p} bytes left)`);
    const rawType = buf.readUInt32LE(p);
    if (rawType === PCAPNG_SHB) {
      if (buf.length - p < 28) fail('truncated section header');
      const bom = buf.readUInt32LE(p + 8);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (buf.readUInt32BE(p + 8) === PCAPNG_BYTE_ORDER_MAGIC) le = false;
      else fail(`bad byte-order magic 0x${bom.toString(16)}`);
      bigEndian ||= !le;
      ifaces = [];
    } else if (blocks === 1) {
      throw new FormatError(`${name}: not a pcapng file (first block type 0x${rawType.toString(16)})`);
    }
    const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
    const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const type = u32(p);
    const total = u32(p + 4);
    if (total < 12 || total % 4 !== 0) fail(`bad block length ${total}`);
    if (total > buf.length - p) fail(`truncated block (${buf.length - p} of ${total} bytes)`);
    if (u32(p + total - 4) !== total) fail('trailing block length does not match');
    const body = p + 8;
    const end = p + total - 4;
    if (type === PCAPNG_SHB) {
      const major = u16(body + 4);
      if (major !== 1) fail(`unsupported pcapng version ${major}.${u16(body + 6)} (need 1.x)`);
    } else if (type === PCAPNG_IDB) {
      if (end - body < 8) fail('truncated interface description');
      const iface: Iface = {
        linkType: u16(body),
        snaplen: u32(body + 4),
        unitsPerSec: 1_000_000n,
        offsetSec: 0n,
      };
      forOptions(body + 8, end, u16, (code, off, len) => {
        if (code === OPT_IF_TSRESOL && len >= 1) {
          const r = buf[off];
          const n = BigInt(r & 0x7f);
          iface.unitsPerSec = r & 0x80 ? 2n ** n : 10n ** n;
        } else if (code === OPT_IF_TSOFFSET && len >= 8) {
          iface.offsetSec = le ? buf.readBigInt64LE(off) : buf.readBigInt64BE(off);
        }
      });
      ifaces.push(iface);
      allIfaces.push(iface);
    } else if (type === PCAPNG_EPB || type === PCAPNG_PB) {
      if (end - body < 20) fail('truncated packet block');
      const id = type === PCAPNG_EPB ? u32(body) : u16(body);
      const iface = ifaces[id] ?? fail(`packet on interface ${id}, which the section does not describe`);
      const ts = (BigInt(u32(body + 4)) << 32n) | BigInt(u32(body + 8));
      const capLen = u32(body + 12);
      const origLen = u32(body + 16);
      if (capLen > PCAP_MAX_RECORD) fail(`implausible captured length ${capLen}`);
      if (body + 20 + capLen > end) fail(`captured length ${capLen} overruns the block`);
      records.push(record(iface, ts, buf.subarray(body + 20, body + 20 + capLen), origLen));
    } else if (type === PCAPNG_SPB) {
      const iface = ifaces[0] ?? fail('simple packet block before any interface description');
      const origLen = u32(body);
      let capLen = Math.min(origLen, end - body - 4);
      if (iface.snaplen > 0) capLen = Math.min(capLen, iface.snaplen);
      records.push(record(iface, undefined, buf.subarray(body + 4, body + 4 + capLen), origLen));
    }
    p += total;
  }
  const first = allIfaces[0];
  const file: PcapFile = {
    linkType: first?.linkType ?? 0,
    snaplen: first?.snaplen ?? 0,
    nanosecond: allIfaces.some((i) => i.unitsPerSec > 1_000_000n),
    bigEndian,
    records,
  };
  return file;
}

/** record builds a PcapRecord; a per-record link type only where it differs from interface 0's. */
function record(iface: Iface, ts: bigint | undefined, data: Buffer, origLen: number): PcapRecord {
  let tsSec = 0;
  let tsNsec = 0;
  if (ts !== undefined) {
    const sec = ts / iface.unitsPerSec;
    tsSec = Number(sec + iface.offsetSec);
    tsNsec = Number(((ts - sec * iface.unitsPerSec) * 1_000_000_000n) / iface.unitsPerSec);
  }
  return {
    tsSec,
    tsNsec,
    data: Buffer.from(data),
    origLen: Math.max(origLen, data.length),
    linkType: iface.linkType,
  };
}

/** forOptions calls `fn` for each option in buf[off..end) until opt_endofopt. */
function forOptions(
  off: number,
  end: number,
  u16: (o: number) => number,
  fn: (code: number, valueOff: number, len: number) => void,
): void {
  while (off + 4 <= end) {
    const code = u16(off);
    const len = u16(off + 2);
    if (code === OPT_END || off + 4 + len > end) return;
    fn(code, off + 4, len);
    off += 4 + ((len + 3) & ~3);
  }
}
