/**
 * `weft link --src-port flow` <-> a flannel-style kernel flannel.1 (same setup as
 * kernel-vxlan.netns.test.ts): weft writes the outer IPv4 + UDP header itself, with the UDP source
 * port hashed from the inner flow (RFC 7348 §5), and sends on a raw socket; the kernel must still
 * accept every frame. The underlay is captured on the kernel side with dumpcap and decoded with
 * tshark: every weft frame must come from a port in --src-port-range, each inner flow from exactly
 * one port, and different flows (ping, two TCP connections) from different ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cleanupFor,
  ping,
  readWeftStats,
  requireRoot,
  run,
  setupKernelVsWeft,
  sleep,
  startWeftVsKernel,
  tcpTransfer,
  waitFor,
} from '../helpers/netns';

const MIN = 50000;
const MAX = 50999;

test('weft --src-port flow interoperates with kernel flannel.1 and hashes flows into the port range', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const dir = mkdtempSync(join(tmpdir(), 'weft-srcport-'));
  c.add(`rm ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const { u, k } = setupKernelVsWeft(c);

  // Capture the underlay on the kernel side before any overlay traffic exists.
  const pcap = join(dir, 'underlay.pcap');
  const cap = u.a.spawn('dumpcap', 'dumpcap', ['-q', '-i', u.aDev, '-s', '160', '-P', '-f', 'udp port 8472', '-w', pcap]); // prettier-ignore
  await waitFor(() => existsSync(pcap) && statSync(pcap).size >= 24, 10_000, 'dumpcap to start');
  await sleep(300);

  const w = await startWeftVsKernel({ u, k }, 'wf', [
    '--src-port',
    'flow',
    '--src-port-range',
    `${MIN}-${MAX}`,
  ]);
  assert.match(w.startLine, new RegExp(`offload off src-port flow ${MIN}-${MAX} \\(no gso\\)$`));

  for (const [from, dst, source] of [
    [u.a, '10.244.1.1', k.podIp],
    [u.b, '10.244.0.1', '10.244.1.1'],
  ] as const) {
    const r = ping(from, dst, { source, count: 3 });
    assert.equal(r.received, r.transmitted, `${from.name} -> ${dst}: ${r.output}`);
  }
  const bytes = 2 * 1024 * 1024;
  const toKernel = await tcpTransfer(u.a, u.b, { addr: '10.244.0.1', bind: '10.244.1.1', port: 5002, bytes });
  assert.equal(toKernel.sha256Received, toKernel.sha256Sent);
  assert.equal(toKernel.bytesReceived, bytes);
  const toWeft = await tcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: k.podIp, port: 5003, bytes });
  assert.equal(toWeft.sha256Received, toWeft.sha256Sent);
  assert.equal(toWeft.bytesReceived, bytes);

  const s = await readWeftStats(w.proc);
  assert.equal(s.srcPort?.mode, 'flow');
  assert.equal(s.offload?.enabled, false);
  assert.ok((s.srcPort?.raw?.txPackets ?? 0) >= 3, JSON.stringify(s.srcPort));
  assert.deepEqual(s.egressDrops, {}, JSON.stringify(s.egressDrops));
  assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
  assert.equal(await w.proc.stop(), 0);
  await sleep(300);
  await cap.stop();

  // Frames weft sent: outer source = weft's underlay address. Inner flow key -> outer source ports.
  const out = run('tshark', [
    '-r', pcap, '-d', 'udp.port==8472,vxlan', '-Y', `ip.src==${u.bIp} && udp.dstport==8472`,
    '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
    '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.proto', '-e', 'udp.srcport', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'ip.flags.df',
  ]); // prettier-ignore
  const flows = new Map<string, Set<number>>();
  let frames = 0;
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const [src, dst, proto, sport, tsp, tdp, df] = line.split('|').map((f) => f.split(','));
    assert.equal(src![0], u.bIp, line);
    assert.equal(proto![0], '17', line);
    assert.ok(df![0] === '0' || df![0] === 'False', `outer DF must be clear: ${line}`);
    const port = Number(sport![0]);
    assert.ok(port >= MIN && port <= MAX, `outer source port ${port} outside ${MIN}-${MAX}: ${line}`);
    const key = `${proto![1]} ${src![1]}:${tsp![0] ?? ''} > ${dst![1]}:${tdp![0] ?? ''}`;
    if (!flows.has(key)) flows.set(key, new Set());
    flows.get(key)!.add(port);
    frames++;
  }
  assert.ok(frames >= 100, `expected weft frames in the capture, got ${frames}:\n${out.slice(0, 2000)}`);
  const summary = JSON.stringify([...flows].map(([f, p]) => [f, [...p]]));
  t.diagnostic(`${frames} frames; flows -> ports: ${summary}`);
  for (const [flow, ports] of flows)
    assert.equal(ports.size, 1, `flow ${flow} used several ports: ${summary}`);
  const tcpFlows = [...flows.keys()].filter((f) => f.startsWith('6 '));
  assert.ok(tcpFlows.length >= 2, `expected two TCP flows: ${summary}`);
  assert.ok(flows.size >= 3, `expected ping + two TCP flows: ${summary}`);
  const distinct = new Set([...flows.values()].map((p) => [...p][0]));
  assert.ok(distinct.size >= 2, `different flows should use different ports: ${summary}`);
});
