/**
 * pcap-file: a streaming classic-pcap (not pcapng) writer for `weft capture -w`.
 *
 * Format (https://www.tcpdump.org/manpages/pcap-savefile.5.html, draft-ietf-opsawg-pcap):
 * a 24-byte global header (magic 0xa1b2c3d4 = microsecond timestamps, version 2.4, snaplen,
 * linktype), then per record a 16-byte header (ts_sec, ts_usec, incl_len, orig_len) and the bytes.
 * Written little-endian (host order on x86/arm64, which readers detect from the magic).
 *
 * Design note: src/pcap serialises whole files in memory; a live capture needs to append record by
 * record (it may run for hours and is stopped by a signal), hence this small streaming writer.
 * The file is plain classic pcap, readable by tshark/tcpdump and by src/pcap's reader.
 */
import fs from 'node:fs';

/** PCAP_MAGIC_USEC is the classic pcap magic for microsecond timestamps. */
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
/** PCAP_GLOBAL_HEADER_LEN is the size of the file header. */
export const PCAP_GLOBAL_HEADER_LEN = 24;
/** PCAP_RECORD_HEADER_LEN is the size of each packet record header. */
export const PCAP_RECORD_HEADER_LEN = 16;

/** PcapFileWriter appends packets to a classic pcap file, synchronously (capture rates are modest). */
export class PcapFileWriter {
  private readonly fd: number;
  private readonly hdr = Buffer.alloc(PCAP_RECORD_HEADER_LEN);
  /** Number of records written. */
  count = 0;

  /** Opens (truncates) `path` and writes the global header for `linkType` and `snaplen`. */
  constructor(path: string, linkType: number, snaplen = 65535) {
    this.fd = fs.openSync(path, 'w');
    const g = Buffer.alloc(PCAP_GLOBAL_HEADER_LEN);
    g.writeUInt32LE(PCAP_MAGIC_USEC, 0);
    g.writeUInt16LE(2, 4);
    g.writeUInt16LE(4, 6);
    g.writeInt32LE(0, 8); // thiszone
    g.writeUInt32LE(0, 12); // sigfigs
    g.writeUInt32LE(snaplen, 16);
    g.writeUInt32LE(linkType, 20);
    fs.writeSync(this.fd, g);
  }

  /** write appends one record; `micros` is the capture time in microseconds since the epoch. */
  write(data: Uint8Array, micros: number, origLen = data.length): void {
    const h = this.hdr;
    h.writeUInt32LE(Math.floor(micros / 1e6), 0);
    h.writeUInt32LE(Math.floor(micros % 1e6), 4);
    h.writeUInt32LE(data.length, 8);
    h.writeUInt32LE(origLen, 12);
    fs.writeSync(this.fd, h);
    fs.writeSync(this.fd, data);
    this.count++;
  }

  /** close flushes and closes the file. */
  close(): void {
    fs.closeSync(this.fd);
  }
}
