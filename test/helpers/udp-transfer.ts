/**
 * udpTransfer: many UDP datagrams from one namespace to another, content-hashed at the receiving
 * socket. The sender (a connected socket, as iperf3 and most UDP applications use: its IPv4 IDs
 * count up) sends `count` datagrams of `size` random bytes, the first 4 bytes the sequence number,
 * in bursts of `burst` with a short pause after each so the receiver's socket buffer (default
 * size, never raised) keeps up. The receiver is a plain socket (no UDP_GRO, Node's default):
 * every datagram it reads is exactly one sent datagram or the transfer is wrong. Both sides hash
 * the datagrams in sequence order (SHA-256) and report sizes, duplicates and the byte counts.
 */
import type { Netns } from '../../src/testing/netns';

const RECEIVER = `
const dgram = require('node:dgram');
const { createHash } = require('node:crypto');
const [addr, port, size] = process.argv.slice(1);
const got = new Map();
let wrongSize = 0, dup = 0, datagrams = 0;
const s = dgram.createSocket('udp4');
s.on('message', (m) => {
  datagrams++;
  if (m.length !== Number(size)) { wrongSize++; return; }
  const seq = m.readUInt32BE(0);
  if (got.has(seq)) { dup++; return; }
  got.set(seq, Buffer.from(m));
});
s.bind(Number(port), addr, () => console.log('listening'));
process.stdin.on('data', () => {});
process.stdin.on('end', () => {
  const h = createHash('sha256');
  for (const k of [...got.keys()].sort((a, b) => a - b)) h.update(got.get(k));
  console.log(JSON.stringify({ datagrams, unique: got.size, wrongSize, dup, sha256: h.digest('hex') }));
  process.exit(0);
});
`;

const SENDER = `
const dgram = require('node:dgram');
const { createHash, randomBytes } = require('node:crypto');
const [addr, port, bind, count, size, burst] = process.argv.slice(1).map((x, i) => (i === 0 || i === 2 ? x : Number(x)));
const h = createHash('sha256');
const all = [];
for (let i = 0; i < count; i++) {
  const b = randomBytes(size);
  b.writeUInt32BE(i, 0);
  h.update(b);
  all.push(b);
}
const s = dgram.createSocket('udp4');
s.bind(0, bind, () => s.connect(port, addr, async () => {
  let i = 0;
  while (i < count) {
    const end = Math.min(count, i + burst);
    let pending = end - i;
    await new Promise((resolve) => {
      for (; i < end; i++) s.send(all[i], () => { if (--pending === 0) resolve(); });
    });
    await new Promise((r) => setTimeout(r, 2));
  }
  console.log(JSON.stringify({ sent: count, sha256: h.digest('hex') }));
  s.close();
}));
`;

/** UdpTransferResult is what both ends saw. */
export interface UdpTransferResult {
  sent: number;
  /** Datagrams the receiving socket read, and how many distinct sequence numbers among them. */
  received: number;
  unique: number;
  /** Datagrams of the wrong size (a merged or cut datagram would be one), duplicates. */
  wrongSize: number;
  duplicates: number;
  sha256Sent: string;
  sha256Received: string;
}

/**
 * udpTransfer sends `count` datagrams of `size` bytes from `client` (bound to `bind`) to
 * `addr:port` in `server` and returns both ends' view (see the module comment).
 */
export async function udpTransfer(
  server: Netns,
  client: Netns,
  o: { addr: string; bind: string; port?: number; count?: number; size: number; burst?: number },
): Promise<UdpTransferResult> {
  const port = o.port ?? 5301;
  const count = o.count ?? 20_000;
  const srv = server.spawn(`udp-recv ${server.name}`, process.execPath, [
    '-e',
    RECEIVER,
    o.addr,
    String(port),
    String(o.size),
  ]);
  await srv.waitForLine(/^listening$/, 10_000);
  const cli = client.spawn(`udp-send ${client.name}`, process.execPath, [
    '-e',
    SENDER,
    o.addr,
    String(port),
    o.bind,
    String(count),
    String(o.size),
    String(o.burst ?? 64),
  ]);
  const sentLine = await cli.waitForLine(/^\{"sent"/, 120_000);
  // Let the last bursts drain through both nodes before the receiver reports.
  await new Promise((r) => setTimeout(r, 1000));
  srv.child.stdin!.end();
  const recvLine = await srv.waitForLine(/^\{"datagrams"/, 10_000);
  await cli.stop(500);
  await srv.stop(500);
  const s = JSON.parse(sentLine) as { sent: number; sha256: string };
  const r = JSON.parse(recvLine) as {
    datagrams: number;
    unique: number;
    wrongSize: number;
    dup: number;
    sha256: string;
  };
  return {
    sent: s.sent,
    received: r.datagrams,
    unique: r.unique,
    wrongSize: r.wrongSize,
    duplicates: r.dup,
    sha256Sent: s.sha256,
    sha256Received: r.sha256,
  };
}
