/**
 * tun-echo: test child process, run inside a fresh namespace (`ip netns exec NS node
 * dist/test/io/helpers/tun-echo.js DEV`) because a TUN device belongs to the namespace of the
 * process that creates it. It opens DEV, gives it 10.244.7.1/24, answers ICMP echo requests
 * read with readBatch by writing echo replies with writeBatch, pings 10.244.7.2 through it,
 * exercises the error counters, and prints one JSON line with what it saw.
 */
import { execFile } from 'node:child_process';
import { Tun } from '../../../src/io/tun';
import { PacketBatch } from '../../../src/io/packet-batch';
import { IoCounter, ioCountersToObject } from '../../../src/io/counters';
import { linkExists, setAddress, setMtu, setUp } from '../../../src/io/netdev';

const IP_PROTO_ICMP = 1;
const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;

/** TunEchoReport is the JSON line tun-echo prints. */
export interface TunEchoReport {
  name: string;
  fd: number;
  mtu: number;
  requestLengths: number[];
  pingSmallOk: boolean;
  pingLargeOk: boolean;
  badDescriptorWritten: number;
  badDescriptorErrors: number;
  truncatedPingOk: boolean;
  truncated: number;
  counters: Record<string, number>;
  goneAfterClose: boolean;
}

function checksum(b: Buffer, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len & 1) sum += b[off + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ping(dst: string, size: number, count: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('ping', ['-n', '-c', String(count), '-i', '0.2', '-W', '2', '-s', String(size), dst], (err) =>
      resolve(err === null),
    );
  });
}

async function main(): Promise<void> {
  const name = process.argv[2]!;
  const tun = Tun.open(name);
  await setMtu(tun.name, 1400);
  await setAddress(tun.name, '10.244.7.1/24');
  await setUp(tun.name);

  const requestLengths: number[] = [];
  let batch = new PacketBatch(64, 2048);
  tun.onReadable(() => {
    const n = tun.readBatch(batch);
    let w = 0;
    for (let i = 0; i < n; i++) {
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      const b = batch.buffer;
      if (len < 28 || b[off]! >> 4 !== 4 || b[off + 9] !== IP_PROTO_ICMP) continue;
      const ihl = (b[off]! & 0x0f) * 4;
      if (b[off + ihl] !== ICMP_ECHO_REQUEST) continue;
      requestLengths.push(len);
      // Swap addresses (the IPv4 header checksum is unchanged by a swap) and turn it around.
      const src = b.readUInt32BE(off + 12);
      b.writeUInt32BE(b.readUInt32BE(off + 16), off + 12);
      b.writeUInt32BE(src, off + 16);
      b[off + ihl] = ICMP_ECHO_REPLY;
      b.writeUInt16BE(0, off + ihl + 2);
      b.writeUInt16BE(checksum(b, off + ihl, len - ihl), off + ihl + 2);
      batch.offsets[w] = off;
      batch.lengths[w] = len;
      w++;
    }
    batch.count = w;
    tun.writeBatch(batch);
  });

  const pingSmallOk = await ping('10.244.7.2', 56, 3);
  const pingLargeOk = await ping('10.244.7.2', 1000, 2);

  // A descriptor outside the buffer is counted, not thrown, and not written.
  const errorsBefore = tun.counters[IoCounter.txErrors]!;
  const bad = new PacketBatch(1, 256);
  bad.offsets[0] = bad.buffer.length - 10;
  bad.lengths[0] = 100;
  bad.count = 1;
  const badDescriptorWritten = tun.writeBatch(bad);
  const badDescriptorErrors = tun.counters[IoCounter.txErrors]! - errorsBefore;

  // Slots too small for a 1028-byte packet: it is counted as truncated and never echoed.
  batch = PacketBatch.forPacketSize(8, 512);
  const truncatedPingOk = await ping('10.244.7.2', 1000, 1);
  const truncated = tun.counters[IoCounter.rxTruncated]!;

  const report: TunEchoReport = {
    name: tun.name,
    fd: tun.fd,
    mtu: tun.mtu,
    requestLengths,
    pingSmallOk,
    pingLargeOk,
    badDescriptorWritten,
    badDescriptorErrors,
    truncatedPingOk,
    truncated,
    counters: ioCountersToObject(tun.counters),
    goneAfterClose: false,
  };
  tun.close();
  report.goneAfterClose = !(await linkExists(name));
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `tun-echo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
