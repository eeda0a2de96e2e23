/**
 * capture: an underlay capture taken the way an operator takes one (dumpcap in the namespace,
 * before the traffic), decoded by tshark rather than by weft's own decoder, so a test's view of
 * the wire does not share weft's bugs.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from '../../src/testing/cleanup';
import type { Netns } from '../../src/testing/netns';
import { sh, sleep, waitFor } from '../../src/testing/shell';

/** Capture is a running dumpcap and the file it writes. */
export interface Capture {
  readonly pcap: string;
  /** stop waits a moment for the last frames, then stops dumpcap by PID. */
  stop(): Promise<void>;
}

/**
 * startCapture starts dumpcap on `dev` in `ns` with capture filter `filter` (default: VXLAN, UDP
 * 8472), `snaplen` bytes per frame (enough for the outer and inner headers), and waits until it
 * writes. The file lives in a temporary directory that `c` removes.
 */
export async function startCapture(
  c: Cleanup,
  ns: Netns,
  dev: string,
  o: { filter?: string; snaplen?: number } = {},
): Promise<Capture> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cap-'));
  c.add(`rm ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const pcap = join(dir, 'underlay.pcap');
  const filter = o.filter ?? 'udp port 8472';
  const cap = ns.spawn(`dumpcap ${dev}`, 'dumpcap', [
    '-q', '-i', dev, '-s', String(o.snaplen ?? 160), '-P', '-f', filter, '-w', pcap,
  ]); // prettier-ignore
  await waitFor(
    () => existsSync(pcap) && statSync(pcap).size >= 24,
    10_000,
    'dumpcap to start',
    () => cap.log,
  );
  await sleep(300);
  return {
    pcap,
    stop: async () => {
      await sleep(300);
      await cap.stop();
    },
  };
}

/**
 * decodeFields runs tshark over `pcap` with UDP 8472 decoded as VXLAN, keeps the frames matching
 * display filter `filter` and returns, per frame, per field of `fields`, every occurrence (an
 * encapsulated frame has two `ip.src`: the outer, then the inner).
 */
export function decodeFields(pcap: string, filter: string, fields: readonly string[]): string[][][] {
  const out = sh('tshark', [
    '-r', pcap, '-d', 'udp.port==8472,vxlan', '-Y', filter, '-T', 'fields',
    '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
    ...fields.flatMap((f) => ['-e', f]),
  ]); // prettier-ignore
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split('|').map((f) => (f === '' ? [] : f.split(','))));
}
