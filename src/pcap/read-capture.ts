/**
 * read-capture: open a capture file whatever the tool that wrote it: classic pcap (tcpdump -w,
 * dumpcap -P, weft) or pcapng (dumpcap, tshark and Wireshark by default), told apart by the first
 * four bytes. Every record carries the link type of its interface where pcapng has several.
 */
import { readFileSync } from 'node:fs';
import { parsePcap, type PcapFile } from './pcap-file';
import { isPcapng, parsePcapng } from './pcapng-file';

/** parseCapture decodes a classic pcap or pcapng file held in memory; throws FormatError when malformed. */
export function parseCapture(buf: Buffer, name = 'capture'): PcapFile {
  return isPcapng(buf) ? parsePcapng(buf, name) : parsePcap(buf, name);
}

/** readCaptureFile reads and parses a classic pcap or pcapng file; throws FormatError when malformed. */
export function readCaptureFile(path: string): PcapFile {
  return parseCapture(readFileSync(path), path);
}

/** recordLinkType is the link type of record `i` of `file`. */
export function recordLinkType(file: PcapFile, i: number): number {
  return file.records[i]?.linkType ?? file.linkType;
}
