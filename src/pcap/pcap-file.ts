/**
 * Classic libpcap capture files (https://www.tcpdump.org/manpages/pcap-savefile.5.html and
 * draft-ietf-opsawg-pcap §4-§5): a 24-byte global header, then per packet a 16-byte record header
 * and the captured bytes. Link types per https://www.tcpdump.org/linktypes.html.
 *
 *   global header: magic(4) version_major(2) version_minor(2) thiszone(4) sigfigs(4) snaplen(4) linktype(4)
 *   record header: ts_sec(4) ts_usec_or_nsec(4) incl_len(4) orig_len(4)
 *
 * Reading accepts both byte orders and both the microsecond (0xa1b2c3d4) and nanosecond
 * (0xa1b23c4d) magic; writing always produces little-endian microsecond files, which every tool
 * reads. This is a control-path module: it allocates freely and throws FormatError on any
 * malformed input (truncated header or record, unknown magic, absurd lengths; pcapng is
 * read-capture.ts's job and refused here), never a
 * RangeError from Buffer.
 */
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { FormatError } from '../errors';

/** PCAP_MAGIC_USEC is the magic number of a microsecond-resolution file. */
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
/** PCAP_MAGIC_NSEC is the magic number of a nanosecond-resolution file. */
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
/** PCAPNG_MAGIC is the block type of a pcapng Section Header Block (read by pcapng-file.ts, not here). */
export const PCAPNG_MAGIC = 0x0a0d0d0a;
/** PCAP_GLOBAL_HEADER_SIZE is the length of the file header. */
export const PCAP_GLOBAL_HEADER_SIZE = 24;
/** PCAP_RECORD_HEADER_SIZE is the length of each per-packet record header. */
export const PCAP_RECORD_HEADER_SIZE = 16;
/** PCAP_DEFAULT_SNAPLEN is the snapshot length written into new files (tcpdump's default). */
export const PCAP_DEFAULT_SNAPLEN = 262144;
/** PCAP_MAX_RECORD is the largest record we accept; anything larger means a corrupt length field. */
export const PCAP_MAX_RECORD = 0x100000;

/** LINKTYPE_ETHERNET: IEEE 802.3 Ethernet frames without FCS. */
export const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_RAW: raw IPv4 or IPv6, version from the first nibble. */
export const LINKTYPE_RAW = 101;
/** LINKTYPE_LINUX_SLL: Linux "cooked" capture, 16-byte pseudo-header (dumpcap -i any). */
export const LINKTYPE_LINUX_SLL = 113;
/** LINKTYPE_IPV4: raw IPv4 only. */
export const LINKTYPE_IPV4 = 228;
/** LINKTYPE_IPV6: raw IPv6 only. */
export const LINKTYPE_IPV6 = 229;

/** LINK_TYPE_NAMES names the link types this module understands. */
export const LINK_TYPE_NAMES: Readonly<Record<number, string>> = {
  [LINKTYPE_ETHERNET]: 'Ethernet',
  [LINKTYPE_RAW]: 'raw IP',
  [LINKTYPE_LINUX_SLL]: 'Linux cooked (SLL)',
  [LINKTYPE_IPV4]: 'raw IPv4',
  [LINKTYPE_IPV6]: 'raw IPv6',
};

/** PcapRecord is one captured packet. */
export interface PcapRecord {
  /** Capture time, whole seconds since the epoch. */
  tsSec: number;
  /** Capture time, nanoseconds within the second (microsecond files are scaled up). */
  tsNsec: number;
  /** The captured bytes (incl_len of them). */
  data: Buffer;
  /** Length of the packet on the wire (orig_len); >= data.length when the capture was cut short. */
  origLen: number;
  /** Link type of this record when it differs from the file's (a pcapng file with several interfaces). */
  linkType?: number;
}

/** PcapFile is a whole capture file in memory. */
export interface PcapFile {
  /** Link type of every record (LINKTYPE_*). */
  linkType: number;
  /** Snapshot length from the header. */
  snaplen: number;
  /** True when the file had nanosecond timestamps. */
  nanosecond: boolean;
  /** True when the file was big-endian. */
  bigEndian: boolean;
  /** The records, in file order. */
  records: PcapRecord[];
}

/** parsePcap decodes a classic pcap file held in memory; throws FormatError when it is malformed. */
export function parsePcap(buf: Buffer, name = 'pcap'): PcapFile {
  if (buf.length < PCAP_GLOBAL_HEADER_SIZE) {
    throw new FormatError(`${name}: ${buf.length} bytes is too short for a pcap header (24 bytes)`);
  }
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  let bigEndian: boolean;
  let nanosecond: boolean;
  if (le === PCAP_MAGIC_USEC || le === PCAP_MAGIC_NSEC) {
    bigEndian = false;
    nanosecond = le === PCAP_MAGIC_NSEC;
  } else if (be === PCAP_MAGIC_USEC || be === PCAP_MAGIC_NSEC) {
    bigEndian = true;
    nanosecond = be === PCAP_MAGIC_NSEC;
  } else if (le === PCAPNG_MAGIC) {
    throw new FormatError(
      `${name}: this is a pcapng file; convert it with 'editcap -F pcap IN OUT' or capture with 'dumpcap -P'`,
    );
  } else {
    throw new FormatError(`${name}: unknown magic 0x${be.toString(16).padStart(8, '0')}, not a pcap file`);
  }
  const u16 = (o: number): number => (bigEndian ? buf.readUInt16BE(o) : buf.readUInt16LE(o));
  const u32 = (o: number): number => (bigEndian ? buf.readUInt32BE(o) : buf.readUInt32LE(o));
  const major = u16(4);
  if (major !== 2) throw new FormatError(`${name}: unsupported pcap version ${major}.${u16(6)} (need 2.x)`);
  const snaplen = u32(16);
  // The upper 4 bits may carry an FCS length (pcap-savefile(5)); the link type is the low 28 bits.
  const linkType = u32(20) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let p = PCAP_GLOBAL_HEADER_SIZE;
  while (p < buf.length) {
    const n = records.length + 1;
    if (buf.length - p < PCAP_RECORD_HEADER_SIZE) {
      throw new FormatError(
        `${name}: record ${n} at offset ${p}: truncated record header (${buf.length - p} of 16 bytes)`,
      );
    }
    const tsSec = u32(p);
    const frac = u32(p + 4);
    const inclLen = u32(p + 8);
    const origLen = u32(p + 12);
    if (inclLen > PCAP_MAX_RECORD) {
      throw new FormatError(`${name}: record ${n} at offset ${p}: implausible captured length ${inclLen}`);
    }
    if (frac >= (nanosecond ? 1e9 : 1e6)) {
      throw new FormatError(`${name}: record ${n} at offset ${p}: sub-second timestamp ${frac} out of range`);
    }
    p += PCAP_RECORD_HEADER_SIZE;
    if (buf.length - p < inclLen) {
      throw new FormatError(
        `${name}: record ${n} at offset ${p - PCAP_RECORD_HEADER_SIZE}: truncated data (${buf.length - p} of ${inclLen} bytes)`,
      );
    }
    records.push({
      tsSec,
      tsNsec: nanosecond ? frac : frac * 1000,
      data: Buffer.from(buf.subarray(p, p + inclLen)),
      origLen: Math.max(origLen, inclLen),
    });
    p += inclLen;
  }
  return { linkType, snaplen, nanosecond, bigEndian, records };
}

/** readPcapFile reads and parses a classic pcap file; throws FormatError when it is malformed. */
export function readPcapFile(path: string): PcapFile {
  return parsePcap(readFileSync(path), path);
}

/** PcapWriteOptions describes a file to serialise. */
export interface PcapWriteOptions {
  /** Link type of every record (LINKTYPE_*). */
  linkType: number;
  /** Snapshot length for the header; defaults to PCAP_DEFAULT_SNAPLEN. */
  snaplen?: number;
  /** Records to write; `origLen` defaults to the data length. */
  records: ReadonlyArray<{ tsSec: number; tsNsec: number; data: Uint8Array; origLen?: number }>;
}

/** writeGlobalHeader writes the 24-byte little-endian microsecond file header at out[0..24). */
function writeGlobalHeader(out: Buffer, linkType: number, snaplen: number): void {
  out.writeUInt32LE(PCAP_MAGIC_USEC, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  // thiszone and sigfigs stay 0, as every modern writer does.
  out.writeUInt32LE(0, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt32LE(snaplen, 16);
  out.writeUInt32LE(linkType, 20);
}

/** writeRecordHeader writes a 16-byte record header at out[p..p+16). */
function writeRecordHeader(
  out: Buffer,
  p: number,
  tsSec: number,
  tsUsec: number,
  inclLen: number,
  origLen: number,
): void {
  out.writeUInt32LE(tsSec, p);
  out.writeUInt32LE(tsUsec, p + 4);
  out.writeUInt32LE(inclLen, p + 8);
  out.writeUInt32LE(origLen, p + 12);
}

/** serializePcap builds a little-endian, microsecond-resolution classic pcap file. */
export function serializePcap(opts: PcapWriteOptions): Buffer {
  let size = PCAP_GLOBAL_HEADER_SIZE;
  for (const r of opts.records) size += PCAP_RECORD_HEADER_SIZE + r.data.length;
  const out = Buffer.alloc(size);
  writeGlobalHeader(out, opts.linkType, opts.snaplen ?? PCAP_DEFAULT_SNAPLEN);
  let p = PCAP_GLOBAL_HEADER_SIZE;
  for (const r of opts.records) {
    const origLen = Math.max(r.origLen ?? r.data.length, r.data.length);
    writeRecordHeader(out, p, r.tsSec >>> 0, Math.floor(r.tsNsec / 1000) % 1e6, r.data.length, origLen);
    out.set(r.data, p + PCAP_RECORD_HEADER_SIZE);
    p += PCAP_RECORD_HEADER_SIZE + r.data.length;
  }
  return out;
}

/**
 * PcapFileWriter appends records to a classic pcap file as they arrive (`weft capture -w`: a live
 * capture may run for hours and is stopped by a signal, so it cannot be serialised at the end).
 * Writes are synchronous: capture rates are modest. Same file format as `serializePcap`.
 */
export class PcapFileWriter {
  private readonly fd: number;
  private readonly hdr = Buffer.alloc(PCAP_RECORD_HEADER_SIZE);
  /** Number of records written. */
  count = 0;

  /** Opens (truncates) `path` and writes the global header for `linkType` and `snaplen`. */
  constructor(path: string, linkType: number, snaplen = 65535) {
    this.fd = openSync(path, 'w');
    const g = Buffer.alloc(PCAP_GLOBAL_HEADER_SIZE);
    writeGlobalHeader(g, linkType, snaplen);
    writeSync(this.fd, g);
  }

  /** write appends one record; `micros` is the capture time in microseconds since the epoch. */
  write(data: Uint8Array, micros: number, origLen = data.length): void {
    writeRecordHeader(this.hdr, 0, Math.floor(micros / 1e6), Math.floor(micros % 1e6), data.length, origLen);
    writeSync(this.fd, this.hdr);
    writeSync(this.fd, data);
    this.count++;
  }

  /** close flushes and closes the file. */
  close(): void {
    closeSync(this.fd);
  }
}

/** writePcapFile serialises records (see serializePcap) to `path`. */
export function writePcapFile(path: string, opts: PcapWriteOptions): void {
  writeFileSync(path, serializePcap(opts));
}

/** linkTypeName names a link type for messages, e.g. `Ethernet (1)`. */
export function linkTypeName(linkType: number): string {
  const name = LINK_TYPE_NAMES[linkType];
  return name ? `${name} (${linkType})` : `link type ${linkType}`;
}
