/**
 * udpTransfer: many UDP datagrams from one namespace to another, content-hashed at the receiving
 * socket. The sender (a connected socket, as iperf3 and most UDP applications use: its IPv4 IDs
 * count up) sends `count` datagrams of `size` random bytes, the first 4 bytes the sequence number,
 * in bursts of `burst` with a short pause after each, so the receiver's socket buffer (default
 * size, never raised) mostly keeps up. The receiver is a plain socket (no UDP_GRO, Node's default):
 * every datagram it reads is exactly one sent datagram or the transfer is wrong. Each datagram's
 * bytes are a function of its sequence number, so the receiver checks each one (SHA-256 against
 * the expected bytes). A datagram the receiving kernel drops at that socket's full buffer (the
 * receiver is a Node process on a busy machine) is counted there, in the namespace's
 * RcvbufErrors: the result has both.
 */
import type { Netns } from '../../src/testing/netns';

/** GEN is shared by both programs: datagram `seq`'s bytes (seq in the first 4, then a PRNG). */
const GEN = `
function gen(seq, size) {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(seq, 0);
  let x = (seq * 2654435761 + 1) >>> 0;
  for (let i = 4; i < size; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}
`;

const RECEIVER = `${GEN}
const dgram = require('node:dgram');
const { createHash } = require('node:crypto');
const [addr, port, size] = process.argv.slice(1);
const got = new Set();
let wrongSize = 0, dup = 0, corrupt = 0, datagrams = 0;
const hash = (b) => createHash('sha256').update(b).digest('hex');
const s = dgram.createSocket('udp4');
s.on('message', (m) => {
  datagrams++;
  if (m.length !== Number(size)) { wrongSize++; return; }
  const seq = m.readUInt32BE(0);
  if (hash(m) !== hash(gen(seq, m.length))) { corrupt++; return; }
  if (got.has(seq)) { dup++; return; }
  got.add(seq);
});
s.bind(Number(port), addr, () => console.log('listening'));
process.stdin.on('data', () => {});
process.stdin.on('end', () => {
  console.log(JSON.stringify({ datagrams, unique: got.size, wrongSize, corrupt, dup }));
  process.exit(0);
});
`;

const SENDER = `${GEN}
const dgram = require('node:dgram');
const [addr, port, bind, count, size, burst] = process.argv.slice(1).map((x, i) => (i === 0 || i === 2 ? x : Number(x)));
const all = [];
for (let i = 0; i < count; i++) all.push(gen(i, size));
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
  console.log(JSON.stringify({ sent: count }));
  s.close();
}));
`;

/** rcvbufErrors reads the UDP RcvbufErrors counter of `ns` (/proc/net/snmp is per namespace). */
function rcvbufErrors(ns: Netns): number {
  const lines = ns
    .exec('cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Udp: '));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')]);
}

/** UdpTransferResult is what both ends saw. */
export interface UdpTransferResult {
  sent: number;
  /** Datagrams the receiving socket read, and how many distinct, intact sequence numbers among them. */
  received: number;
  unique: number;
  /** Datagrams of the wrong size (a merged or cut datagram would be one), with other bytes, duplicates. */
  wrongSize: number;
  corrupt: number;
  duplicates: number;
  /** Datagrams the receiving kernel dropped because the socket's buffer was full (RcvbufErrors). */
  socketOverflows: number;
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
  const overflows0 = rcvbufErrors(server);
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
  const s = JSON.parse(sentLine) as { sent: number };
  const r = JSON.parse(recvLine) as {
    datagrams: number;
    unique: number;
    wrongSize: number;
    corrupt: number;
    dup: number;
  };
  return {
    sent: s.sent,
    received: r.datagrams,
    unique: r.unique,
    wrongSize: r.wrongSize,
    corrupt: r.corrupt,
    duplicates: r.dup,
    socketOverflows: rcvbufErrors(server) - overflows0,
  };
}
