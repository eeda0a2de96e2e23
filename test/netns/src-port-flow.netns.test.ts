/**
 * `--src-port flow` over real namespaces, at default offloads:
 * - weft <-> a flannel-style kernel flannel.1 (same setup as kernel-vxlan.netns.test.ts);
 * - weft <-> weft, with one port of the range already taken by another socket.
 * weft sends each inner flow from one socket of its source-port pool (src/io/src-port-pool.ts), so
 * UDP GSO stays on. The underlay is captured on the receiving side with dumpcap and decoded with
 * tshark: every weft frame must come from a port of the pool (inside --src-port-range), each inner
 * flow from exactly one port, and different flows from different ports. Transfers are byte-exact
 * (SHA-256 on both ends).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertKernelPingsBothWays, assertNoDrops, assertStopClean } from '../helpers/both-ways';
import { decodeFields, startCapture } from '../helpers/capture';
import {
  assertTcpTransfer,
  cleanupFor,
  createUnderlay,
  readWeftStats,
  requireRoot,
  startWeftPair,
  waitFor,
  type WeftStats,
} from '../helpers/netns';
import { kernelTestbed } from '../helpers/testbeds';

const MIN = 50000;
const MAX = 50999;

/**
 * flowPorts decodes the VXLAN frames `sender` sent to port 8472 and maps each inner flow (protocol,
 * addresses, TCP ports) to the outer source ports it used. Asserts outer DF clear on each frame.
 */
function flowPorts(
  pcap: string,
  sender: string,
): { flows: Map<string, Set<number>>; frames: number; sample: string } {
  const rows = decodeFields(pcap, `ip.src==${sender} && udp.dstport==8472`, [
    'ip.src', 'ip.dst', 'ip.proto', 'udp.srcport', 'tcp.srcport', 'tcp.dstport', 'ip.flags.df',
  ]); // prettier-ignore
  const flows = new Map<string, Set<number>>();
  let frames = 0;
  for (const row of rows) {
    const [src, dst, proto, sport, tsp, tdp, df] = row;
    const line = JSON.stringify(row);
    assert.equal(src![0], sender, line);
    assert.equal(proto![0], '17', line);
    assert.ok(df![0] === '0' || df![0] === 'False', `outer DF must be clear: ${line}`);
    const key = `${proto![1]} ${src![1]}:${tsp![0] ?? ''} > ${dst![1]}:${tdp![0] ?? ''}`;
    if (!flows.has(key)) flows.set(key, new Set());
    flows.get(key)!.add(Number(sport![0]));
    frames++;
  }
  return { flows, frames, sample: JSON.stringify(rows.slice(0, 20)) };
}

/** assertFlowPorts: every port from the pool, one port per flow, and several flows on several ports. */
function assertFlowPorts(
  t: { diagnostic(m: string): void },
  r: ReturnType<typeof flowPorts>,
  pool: readonly number[],
  minTcpFlows: number,
): void {
  assert.ok(r.frames >= 100, `expected weft frames in the capture, got ${r.frames}:\n${r.sample}`);
  const summary = JSON.stringify([...r.flows].map(([f, p]) => [f, [...p]]));
  t.diagnostic(`${r.frames} frames; flows -> ports: ${summary}`);
  for (const [flow, ports] of r.flows) {
    assert.equal(ports.size, 1, `flow ${flow} used several ports: ${summary}`);
    for (const p of ports) assert.ok(pool.includes(p), `flow ${flow}: port ${p} is not a pool port ${pool}`);
  }
  const tcpFlows = [...r.flows.keys()].filter((f) => f.startsWith('6 '));
  assert.ok(tcpFlows.length >= minTcpFlows, `expected ${minTcpFlows} TCP flows: ${summary}`);
  const distinct = new Set([...r.flows.values()].map((p) => [...p][0]));
  assert.ok(distinct.size >= 2, `different flows should use different ports: ${summary}`);
}

/**
 * assertPool checks the stats of a flow-mode sender: offloads on with GSO trains sent (or, with
 * `offload` false, the plain path), pool ports in range, no drops.
 */
function assertPool(s: WeftStats, size: number, offload = true): number[] {
  assert.equal(s.srcPort?.mode, 'flow');
  assert.equal(s.offload?.enabled, offload, JSON.stringify(s.offload));
  if (offload)
    assert.ok((s.offload?.gsoTrains ?? 0) > 0, `GSO trains on the pool: ${JSON.stringify(s.offload)}`);
  else assert.ok((s.srcPort?.ports?.length ?? 0) > 0 && (s.udp.txPackets ?? 0) > 0, JSON.stringify(s.udp));
  const pool = s.srcPort?.ports ?? [];
  assert.equal(pool.length, size, JSON.stringify(s.srcPort));
  for (const p of pool) assert.ok(p >= MIN && p <= MAX, `pool port ${p} outside ${MIN}-${MAX}`);
  assertNoDrops(s);
  return pool;
}

test('weft --src-port flow <-> kernel flannel.1 at default offloads: GSO kept, byte-exact both ways, one port per flow', async (t) => {
  // The underlay captured on the kernel side before any overlay traffic exists.
  const { u, k, w, cap } = await kernelTestbed(
    t,
    'wf',
    ['--src-port', 'flow', '--src-port-range', `${MIN}-${MAX}`],
    {
      capture: 'a',
    },
  );
  assert.match(
    w.startLine,
    new RegExp(`offload tso\\+gso\\+gro\\+coalesce(\\+uso)? src-port flow ${MIN}-${MAX} \\(16 ports\\)$`),
  );

  assertKernelPingsBothWays({ u, k });
  const bytes = 4 * 1024 * 1024;
  for (let i = 0; i < 3; i++)
    await assertTcpTransfer(u.a, u.b, { addr: '10.244.0.1', bind: '10.244.1.1', port: 5002 + i, bytes });
  await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: k.podIp, port: 5009, bytes });

  const pool = assertPool(await readWeftStats(w.proc), 16);
  assert.equal(await w.proc.stop(), 0);
  await cap!.stop();
  assertFlowPorts(t, flowPorts(cap!.pcap, u.bIp), pool, 4);
});

test('weft <-> weft, both --src-port flow (B on the plain path, --offload off), a port of the range taken: the pool skips it, byte-exact, one port per flow', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  // Another socket holds the first port of the range on B: lane 0 must move to the next port.
  const holder = u.b.spawn('udp holder', 'socat', ['-u', `UDP4-RECV:${MIN},bind=${u.bIp}`, 'OPEN:/dev/null']);
  await waitFor(
    () => u.b.exec('ss', ['-Huan', `sport = :${MIN}`]).includes(`:${MIN}`),
    5000,
    'holder bound',
    () => holder.log,
  );
  const cap = await startCapture(c, u.a, u.aDev);
  const { a, b } = await startWeftPair(u, {
    flags: ['--src-port', 'flow', '--src-port-range', `${MIN}-${MAX}`],
    bFlags: ['--offload', 'off'],
    devPrefix: 'f',
  });
  const bytes = 4 * 1024 * 1024;
  for (let i = 0; i < 4; i++)
    await assertTcpTransfer(u.a, u.b, { addr: '10.244.0.1', port: 5100 + i, bytes });
  await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', port: 5110, bytes });

  const sb = await readWeftStats(b.proc);
  assert.match(b.startLine, new RegExp(`offload off src-port flow ${MIN}-${MAX} \\(16 ports\\)$`));
  const pool = assertPool(sb, 16, false);
  assert.ok(!pool.includes(MIN), `port ${MIN} is taken, the pool must not have it: ${pool}`);
  assert.equal(pool[0], MIN + 1, `lane 0 moves to the next free port: ${pool}`);
  assertPool(await readWeftStats(a.proc), 16);
  await assertStopClean(a.proc, b.proc);
  await cap.stop();
  assertFlowPorts(t, flowPorts(cap.pcap, u.bIp), pool, 4);
});
