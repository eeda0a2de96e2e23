/**
 * `weft capture` on a live underlay, in namespaces (needs root; CI runs as root):
 *
 *   ns A                                   ns B
 *   flannel.1 (kernel VXLAN) or weft link  flannel.1 (kernel VXLAN, flannel style)
 *   veth 192.0.2.1  <===== VXLAN 8472 =====>  veth 192.0.2.2
 *   `weft capture -i <veth A>` runs inside ns A while A pings B's overlay address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  WEFT_BIN,
  addKernelFlannelPeer,
  cleanupFor,
  createUnderlay,
  ping,
  requireRoot,
  run,
  setupKernelFlannel,
  startWeftLink,
  uniqueName,
  waitFor,
  type Netns,
  type Proc,
} from '../helpers/netns';
import type { DataplaneFlows } from '../../src/dataplane/node';

/** startCapture runs `weft capture ARGS` in `ns` and waits until libpcap is listening. */
async function startCapture(ns: Netns, args: string[]): Promise<Proc> {
  const p = ns.spawn(`weft capture ${ns.name}`, process.execPath, [WEFT_BIN, 'capture', ...args]);
  await waitFor(
    () => p.log.includes('weft capture: listening on'),
    10_000,
    'weft capture to start',
    () => p.log,
  );
  return p;
}

/** exitWithin waits for a process to exit by itself (e.g. after -c COUNT). */
async function exitWithin(p: Proc, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${p.label} did not exit within ${ms} ms; output:\n${p.log}`)),
      ms,
    );
  });
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-capture-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('weft capture decodes a ping through a kernel flannel-style VXLAN pair; -w is readable by tshark', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const dir = tmp(t);
  const u = createUnderlay(c);
  const va = setupKernelFlannel(u.a, {
    local: u.aIp,
    underlayDev: u.aDev,
    subnet: '10.244.0.0/24',
    underlayMtu: 1500,
  });
  const vb = setupKernelFlannel(u.b, {
    local: u.bIp,
    underlayDev: u.bDev,
    subnet: '10.244.1.0/24',
    underlayMtu: 1500,
  });
  addKernelFlannelPeer(u.a, va, { subnet: '10.244.1.0/24', mac: vb.mac, publicIp: u.bIp });
  addKernelFlannelPeer(u.b, vb, { subnet: '10.244.0.0/24', mac: va.mac, publicIp: u.aIp });

  const file = join(dir, 'kernel.pcap');
  // The operator's own capture of the same traffic: tcpdump -w at the kernel's default offloads.
  const dumpFile = join(dir, 'tcpdump.pcap');
  const dump = u.a.spawn('tcpdump', 'tcpdump', [
    '-n',
    '-U',
    '--immediate-mode',
    '-i',
    u.aDev,
    '-w',
    dumpFile,
    'udp port 8472',
  ]);
  await waitFor(
    () => dump.log.includes('listening on'),
    10_000,
    'tcpdump to start',
    () => dump.log,
  );
  const cap = await startCapture(u.a, ['-i', u.aDev, '-c', '4', '-w', file]);
  const r = ping(u.a, '10.244.1.1', { count: 2, source: '10.244.0.1' });
  assert.equal(r.received, 2, r.output);
  assert.equal(await exitWithin(cap, 10_000), 0, cap.log);
  dump.signal('SIGTERM');
  await exitWithin(dump, 10_000);

  const lines = cap.lines.filter((l) => l.trim() !== '');
  assert.equal(lines.length, 4, cap.log);
  const req = new RegExp(
    `^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} 192\\.0\\.2\\.1:\\d+ > 192\\.0\\.2\\.2:8472 VXLAN vni 1 \\| ${va.mac} > ${vb.mac} \\| ` +
      `10\\.244\\.0\\.1 > 10\\.244\\.1\\.1 ICMP echo request id \\d+ seq [12] len 64( \\[udp cksum partial: offload, not filled in when captured\\])?$`,
  );
  const rep = new RegExp(
    `^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} 192\\.0\\.2\\.2:\\d+ > 192\\.0\\.2\\.1:8472 VXLAN vni 1 \\| ${vb.mac} > ${va.mac} \\| ` +
      `10\\.244\\.1\\.1 > 10\\.244\\.0\\.1 ICMP echo reply id \\d+ seq [12] len 64( \\[udp cksum partial: offload, not filled in when captured\\])?$`,
  );
  assert.equal(lines.filter((l) => req.test(l)).length, 2, lines.join('\n'));
  assert.equal(lines.filter((l) => rep.test(l)).length, 2, lines.join('\n'));
  assert.match(
    cap.log,
    /weft capture: 4 frames \(vxlan 4\), malformed 0(, outer udp cksum: 4 partial \(offload\))?, 4 written to /,
  );
  // At default offloads a checksum is partial or valid, never plain bad.
  assert.doesNotMatch(lines.join('\n'), /\[bad udp cksum/);

  // weft capture -r on tcpdump's file prints the same lines (timestamps aside).
  const offline = run(process.execPath, [WEFT_BIN, 'capture', '-r', dumpFile]).trim().split('\n');
  const body = (l: string): string => l.replace(/^\S+ /, '').replace(/^\s+/, '');
  assert.deepEqual(offline.map(body).sort(), lines.map(body).sort());

  // The pcap must be readable by tshark, which must see the same VXLAN frames.
  assert.ok(existsSync(file));
  const fields = run('tshark', [
    '-r', file, '-d', 'udp.port==8472,vxlan', '-T', 'fields', '-E', 'separator=;',
    '-e', 'vxlan.vni', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type',
  ]).trim().split('\n'); // prettier-ignore
  assert.equal(fields.length, 4, fields.join('\n'));
  assert.ok(
    fields.every((f) => f.startsWith('1;')),
    fields.join('\n'),
  );
  assert.equal(
    fields.filter((f) => f === '1;192.0.2.1,10.244.0.1;192.0.2.2,10.244.1.1;8').length,
    2,
    fields.join('\n'),
  );
  assert.equal(
    fields.filter((f) => f === '1;192.0.2.2,10.244.1.1;192.0.2.1,10.244.0.1;0').length,
    2,
    fields.join('\n'),
  );

  // --explain prints the byte-by-byte view under the line.
  const ex = await startCapture(u.a, ['-i', u.aDev, '-c', '1', '--explain']);
  assert.equal(ping(u.a, '10.244.1.1', { count: 1, source: '10.244.0.1' }).received, 1);
  assert.equal(await exitWithin(ex, 10_000), 0, ex.log);
  assert.match(ex.log, /VXLAN vni 1 \| .* ICMP echo request/);
  assert.match(ex.log, /VNI\s+1 \(0x000001\)/);
  assert.match(ex.log, /inner Ethernet/);
});

test('weft capture decodes a ping between a weft node and a kernel flannel.1 node; outer DF clear; --debug flows', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const dir = tmp(t);
  const u = createUnderlay(c);
  const macA = '0e:00:00:00:0a:01';
  const vb = setupKernelFlannel(u.b, {
    local: u.bIp,
    underlayDev: u.bDev,
    subnet: '10.244.1.0/24',
    underlayMtu: 1500,
  });
  addKernelFlannelPeer(u.b, vb, { subnet: '10.244.0.0/24', mac: macA, publicIp: u.aIp });
  const devA = uniqueName('wa');
  const weft = await startWeftLink(u.a, [
    '--backend', 'vxlan', '--dev', devA, '--local', u.aIp, '--address', '10.244.0.1/32', '--vtep-mac', macA,
    '--peer', `10.244.1.0/24=${u.bIp},${vb.mac}`, '--debug',
  ]); // prettier-ignore

  const file = join(dir, 'weft.pcap');
  const cap = await startCapture(u.a, ['-i', u.aDev, '-c', '4', '--vni', '1', '-w', file]);
  const r = ping(u.a, '10.244.1.1', { count: 2 });
  assert.equal(r.received, 2, r.output);
  assert.equal(await exitWithin(cap, 10_000), 0, cap.log);
  const lines = cap.lines.filter((l) => l.trim() !== '');
  assert.equal(lines.length, 4, cap.log);
  const req = new RegExp(
    `192\\.0\\.2\\.1:\\d+ > 192\\.0\\.2\\.2:8472 VXLAN vni 1 \\| ${macA} > ${vb.mac} \\| 10\\.244\\.0\\.1 > 10\\.244\\.1\\.1 ICMP echo request id \\d+ seq [12] len 64( \\[udp cksum partial: offload, not filled in when captured\\])?$`,
  );
  const rep = new RegExp(
    `192\\.0\\.2\\.2:\\d+ > 192\\.0\\.2\\.1:8472 VXLAN vni 1 \\| ${vb.mac} > ${macA} \\| 10\\.244\\.1\\.1 > 10\\.244\\.0\\.1 ICMP echo reply id \\d+ seq [12] len 64( \\[udp cksum partial: offload, not filled in when captured\\])?$`,
  );
  assert.equal(lines.filter((l) => req.test(l)).length, 2, lines.join('\n'));
  assert.equal(lines.filter((l) => rep.test(l)).length, 2, lines.join('\n'));
  assert.doesNotMatch(cap.lines.join('\n'), /mismatch|malformed|reserved|\[bad udp cksum/);
  assert.match(cap.log, new RegExp(`weft capture: 4 frames \\(vxlan 4\\), malformed 0`));

  // Outer DF: weft's VXLAN socket (--io batch) sends with DF clear, like the kernel's flannel.1.
  // tshark lists the outer header's flag first, then the inner one (ping sets DF inside).
  const df = run('tshark', [
    '-r', file, '-d', 'udp.port==8472,vxlan', '-T', 'fields', '-E', 'separator=;', '-E', 'occurrence=f',
    '-e', 'ip.src', '-e', 'ip.flags.df',
  ]).trim().split('\n'); // prettier-ignore
  assert.equal(df.length, 4, df.join('\n'));
  assert.deepEqual(
    df.filter((l) => l.startsWith('192.0.2.1;')),
    ['192.0.2.1;0', '192.0.2.1;0'],
    df.join('\n'),
  );
  assert.deepEqual(
    df.filter((l) => l.startsWith('192.0.2.2;')),
    ['192.0.2.2;0', '192.0.2.2;0'],
    df.join('\n'),
  );

  // --debug: the ping's flow is counted each way, with the peer.
  const from = weft.proc.lines.length;
  weft.proc.signal('SIGUSR1');
  const line = await weft.proc.waitForLine(/^weft link: flows \{/, 5000, from);
  const flows = JSON.parse(line.slice(line.indexOf('{'))) as DataplaneFlows;
  const eg = flows.egress.flows.find((f) => f.dst === '10.244.1.1');
  const ig = flows.ingress.flows.find((f) => f.src === '10.244.1.1');
  assert.ok(eg && ig, line);
  assert.deepEqual([eg.src, eg.proto, eg.peer, eg.packets, eg.bytes], ['10.244.0.1', 1, u.bIp, 2, 168]);
  assert.deepEqual([ig.dst, ig.proto, ig.peer, ig.packets, ig.bytes], ['10.244.0.1', 1, u.bIp, 2, 168]);
});

test('weft capture: a bad interface is a clean error, not a crash', () => {
  requireRoot();
  let out = '';
  let status: number | null = null;
  try {
    run(process.execPath, [WEFT_BIN, 'capture', '-i', 'nonexistent0', '-c', '1']);
  } catch (err) {
    out = (err as Error).message;
    status = 1;
  }
  assert.equal(status, 1);
  assert.match(out, /weft capture: pcap_open failed: .*nonexistent0.*\[WEFT_ERR_SYSTEM\]/);
});
