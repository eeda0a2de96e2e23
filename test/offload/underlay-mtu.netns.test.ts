/**
 * An underlay MTU drop under a running TCP transfer on the default (offload) path, in namespaces
 * (needs root; CI runs as root). Both veth ends go from 1500 to 1400 while socat is sending, so
 * every full-size segment (TUN MTU 1450 + 50 = 1500 bytes on the wire) no longer fits: UDP GSO
 * trains are refused with EMSGSIZE. The transfer must still arrive byte-exact, weft must count
 * what it did about it, say so in a line naming both MTUs, and adjust to the new path MTU: cut
 * TSO segments to fit and answer larger DF packets with an ICMP fragmentation-needed that the
 * sender's kernel accepts (so new connections use the smaller MSS).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  cleanupFor,
  createUnderlay,
  readWeftStats,
  requireRoot,
  sleep,
  startWeftPair,
  waitFor,
  type Netns,
} from '../helpers/netns';

/**
 * pacedTransfer sends `total` random bytes from `client` to socat listening in `server` at
 * addr:port, in 64 KiB writes spread over about `ms`, calling `midway` once half is written.
 * Resolves with both SHA-256s and the received byte count (or rejects after `timeoutMs`).
 */
async function pacedTransfer(
  server: Netns,
  client: Netns,
  o: { addr: string; bind: string; port: number; total: number; ms: number; timeoutMs: number },
  midway: () => void,
): Promise<{ sent: string; received: string; bytes: number }> {
  const data = randomBytes(o.total);
  const sent = createHash('sha256').update(data).digest('hex');
  const srv = server.spawn(
    'socat-srv',
    'socat',
    ['-u', `TCP-LISTEN:${o.port},bind=${o.addr},reuseaddr`, 'STDOUT'],
    {
      captureStdout: false,
    },
  );
  const hash = createHash('sha256');
  let bytes = 0;
  srv.child.stdout!.on('data', (c: Buffer) => {
    hash.update(c);
    bytes += c.length;
  });
  const end = new Promise<void>((r) => srv.child.stdout!.on('end', () => r()));
  await waitFor(
    () => server.exec('ss', ['-Htln', `sport = :${o.port}`]).includes(`:${o.port}`),
    5000,
    'socat listening',
  );
  const cli = client.spawn('socat-cli', 'socat', [
    '-u',
    'STDIN',
    `TCP:${o.addr}:${o.port},bind=${o.bind},connect-timeout=5`,
  ]);
  const chunk = 64 * 1024;
  const steps = Math.ceil(o.total / chunk);
  const pause = o.ms / steps;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => {
      timedOut = true;
      rej(new Error(`transfer stalled: received ${bytes} of ${o.total} bytes in ${o.timeoutMs} ms`));
    }, o.timeoutMs);
  });
  const feed = async (): Promise<void> => {
    let called = false;
    for (let i = 0; i < steps && !timedOut; i++) {
      const piece = data.subarray(i * chunk, Math.min(o.total, (i + 1) * chunk));
      if (!cli.child.stdin!.write(piece)) await new Promise((r) => cli.child.stdin!.once('drain', r));
      if (!called && (i + 1) * chunk >= o.total / 2) {
        called = true;
        midway();
      }
      await sleep(pause);
    }
    cli.child.stdin!.end();
    await Promise.all([end, srv.exited]);
  };
  try {
    await Promise.race([feed(), timeout]);
  } finally {
    clearTimeout(timer);
    await cli.stop(500);
    await srv.stop(500);
  }
  return { sent, received: hash.digest('hex'), bytes };
}

test('underlay MTU 1500 -> 1400 under a TCP transfer with offloads on: byte-exact, counted, adjusted', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const { a, b } = await startWeftPair(u, { devPrefix: 'm' });
  assert.match(
    a.startLine,
    /offload tso\+gso\+gro\+coalesce(\+uso)? src-port flow 49152-65535 \(16 ports\)$/,
  );
  const total = 16 << 20;
  const r = await pacedTransfer(
    u.b,
    u.a,
    { addr: '10.244.1.1', bind: '10.244.0.1', port: 5011, total, ms: 3000, timeoutMs: 30_000 },
    () => {
      // The sender's side first, as a real underlay change rarely hits both ends at once.
      u.a.ip('link', 'set', u.aDev, 'mtu', '1400');
      u.b.ip('link', 'set', u.bDev, 'mtu', '1400');
    },
  );
  assert.equal(r.bytes, total, 'every byte arrived');
  assert.equal(r.received, r.sent, 'SHA-256 matches');

  // The operator is told, with both MTUs, and the node now works with the new path MTU.
  await waitFor(
    () => /underlay MTU changed.*1500 -> 1400/.test(a.proc.log),
    5000,
    'a log line naming the old and new underlay MTU',
    () => a.proc.log,
  );
  const s = await readWeftStats(a.proc);
  assert.equal(s.pathMtu, 1350, JSON.stringify(s));
  assert.equal(s.underlayMtu, 1400);
  assert.ok(s.offload!.segmentsOut > 0, 'the transfer went through TSO segmentation');
  const refusedTrains = s.offload!.gsoMtuSplits;
  const clamped = s.offload!.mtuClamped;
  assert.ok(
    refusedTrains + clamped > 0,
    `the MTU change was handled on the GSO path (splits ${refusedTrains}, clamped ${clamped})`,
  );
  // No full-size segment was lost to EMSGSIZE: nothing counted as a send error.
  assert.equal(s.udp.txErrors ?? 0, 0, JSON.stringify(s.udp));

  // A second transfer at the new MTU: segments are cut to fit, no train is refused any more.
  const before = s.offload!.gsoMtuSplits;
  const r2 = await pacedTransfer(
    u.b,
    u.a,
    { addr: '10.244.1.1', bind: '10.244.0.1', port: 5012, total: 4 << 20, ms: 500, timeoutMs: 30_000 },
    () => {},
  );
  assert.equal(r2.received, r2.sent);
  const s2 = await readWeftStats(a.proc);
  assert.equal(s2.offload!.gsoMtuSplits, before, 'no GSO train refused after adjusting');
  assert.ok(s2.offload!.gsoTrains > s.offload!.gsoTrains, 'GSO still in use');

  // Full-size packets that are not TSO super-packets (DF set) get ICMP fragmentation-needed, and
  // the sender's kernel accepts it: its route to the peer now carries the path MTU.
  const out = u.a.exec('sh', [
    '-c',
    'ping -n -c 2 -W 1 -M do -s 1422 -I 10.244.0.1 10.244.1.1 2>&1; ip route get 10.244.1.1',
  ]);
  assert.match(out, /mtu 1350/, `the sender learned the path MTU:\n${out}`);
  // And a new, unpaced connection at the new MTU runs to the end.
  const r3 = await pacedTransfer(
    u.b,
    u.a,
    { addr: '10.244.1.1', bind: '10.244.0.1', port: 5013, total: 32 << 20, ms: 0, timeoutMs: 20_000 },
    () => {},
  );
  assert.equal(r3.received, r3.sent);
  void b;
});
