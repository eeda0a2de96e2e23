/**
 * Many small UDP datagrams through weft at default offloads (needs root; CI runs as root): 20,000
 * datagrams of 64 and of 1,000 bytes, sent in back-to-back bursts so weft reads many per TUN
 * batch and sends them as UDP GSO trains (src/dataplane/udp-trains.ts), both ways, checked by
 * count and SHA-256 (in order) on the receiver:
 *   - weft <-> weft VXLAN;
 *   - weft <-> a flannel-style kernel flannel.1 (the kernel receiver segments each train itself).
 * The sending node's underlay is captured with dumpcap. Over veth a UDP GSO train crosses as one
 * skb, so the capture holds one frame per train (a datagram of back-to-back VXLAN frames, like a
 * TSO super-packet); the test cuts each at the train's datagram size, checks every datagram is a
 * whole VXLAN frame and has tshark decode each one on its own; `weft capture -r` on the same file
 * must print one line per train, tagged with how many datagrams it carries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCaptureFile } from '../../src/pcap/read-capture';
import { writePcapFile, LINKTYPE_ETHERNET } from '../../src/pcap/pcap-file';
import { internetChecksum } from '../../src/wire/checksum';
import {
  cleanupFor,
  createUnderlay,
  readWeftStats,
  requireRoot,
  run,
  setupKernelVsWeft,
  sleep,
  startWeftPair,
  startWeftVsKernel,
  udpBurstTransfer,
  waitFor,
  WEFT_BIN,
  type Cleanup,
  type Netns,
  type Proc,
} from '../helpers/netns';
import { unexpectedDrops } from '../../src/testing/weft-link';

const COUNT = 20_000;

/** startCapture runs dumpcap on `dev` in `ns` for the VXLAN port until `stop`. */
async function startCapture(
  c: Cleanup,
  ns: Netns,
  dev: string,
): Promise<{ pcap: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-small-'));
  c.add(`rm ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const pcap = join(dir, 'underlay.pcap');
  const cap = ns.spawn('dumpcap', 'dumpcap', ['-q', '-i', dev, '-P', '-f', 'udp port 8472', '-w', pcap]);
  await waitFor(() => existsSync(pcap) && statSync(pcap).size >= 24, 10_000, 'dumpcap to start');
  await sleep(300);
  return { pcap, stop: async () => void (await cap.stop()) };
}

/**
 * splitTrains reads `pcap`, takes the frames `sender` sent to port 8472 carrying inner UDP to
 * `port`, cuts each UDP payload at its first VXLAN frame's size (a GSO train: every datagram that
 * size, the last 1..that) and checks each piece is one whole VXLAN frame (I flag, VNI 1, inner
 * IPv4 whose total length fills the piece, valid header checksum, inner UDP to `port` of `size`
 * bytes). Writes the pieces as frames of their own to `out`; returns the counts.
 */
function splitTrains(
  pcap: string,
  out: string,
  sender: string,
  port: number,
  size: number,
): { frames: number; datagrams: number; largest: number } {
  const file = readCaptureFile(pcap);
  assert.equal(file.linkType, LINKTYPE_ETHERNET);
  const senderBytes = Buffer.from(sender.split('.').map(Number));
  const records: Array<{ tsSec: number; tsNsec: number; data: Uint8Array }> = [];
  let frames = 0;
  let largest = 0;
  for (const r of file.records) {
    const f = r.data;
    assert.equal(f.length, r.origLen, 'capture not cut short');
    if (f.readUInt16BE(12) !== 0x0800 || f[23] !== 17) continue;
    const ihl = (f[14]! & 0x0f) * 4;
    const udpAt = 14 + ihl;
    if (!f.subarray(26, 30).equals(senderBytes) || f.readUInt16BE(udpAt + 2) !== 8472) continue;
    const payload = f.subarray(udpAt + 8, udpAt + f.readUInt16BE(udpAt + 4));
    const innerPort = (p: Buffer): number => p.readUInt16BE(22 + (p[22]! & 0x0f) * 4 + 2);
    if (payload.length < 50 || innerPort(payload) !== port) continue;
    frames++;
    const g = 22 + payload.readUInt16BE(22 + 2);
    let n = 0;
    for (let o = 0; o < payload.length; o += g, n++) {
      const p = payload.subarray(o, Math.min(o + g, payload.length));
      const at = `frame ${frames} datagram ${n}`;
      assert.equal(p[0], 0x08, `${at}: VXLAN I flag`);
      assert.equal(p.readUIntBE(4, 3), 1, `${at}: VNI`);
      assert.equal(p.readUInt16BE(20), 0x0800, `${at}: inner EtherType`);
      assert.equal(p.readUInt16BE(24), p.length - 22, `${at}: inner IPv4 total length fills the datagram`);
      assert.equal(internetChecksum(p, 22, 20), 0, `${at}: inner IPv4 header checksum`);
      assert.equal(p[22 + 9], 17, `${at}: inner UDP`);
      assert.equal(innerPort(p), port, `${at}: inner UDP port`);
      assert.equal(p.readUInt16BE(22 + 20 + 4), 8 + size, `${at}: inner UDP length`);
      // The datagram on its own: the captured outer headers with lengths (and IPv4 checksum) for it.
      const d = Buffer.concat([f.subarray(0, udpAt + 8), p]);
      d.writeUInt16BE(ihl + 8 + p.length, 16);
      d.writeUInt16BE(0, 24);
      d.writeUInt16BE(internetChecksum(d, 14, ihl), 24);
      d.writeUInt16BE(8 + p.length, udpAt + 4);
      d.writeUInt16BE(0, udpAt + 6);
      records.push({ tsSec: r.tsSec, tsNsec: r.tsNsec, data: d });
    }
    if (n > largest) largest = n;
  }
  writePcapFile(out, { linkType: LINKTYPE_ETHERNET, records });
  return { frames, datagrams: records.length, largest };
}

/** tsharkDatagrams has tshark decode `pcap` and counts VXLAN (VNI 1) frames with inner UDP to `port`. */
function tsharkDatagrams(pcap: string, port: number, size: number): number {
  const lines =
    run('tshark', [
    '-r', pcap, '-d', 'udp.port==8472,vxlan', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a',
    '-E', 'aggregator=,', '-e', 'vxlan.vni', '-e', 'udp.dstport', '-e', 'udp.length',
  ]) // prettier-ignore
      .split('\n')
      .filter((l) => l.trim() !== '');
  for (const l of lines) {
    const [vni, dports, lens] = l.split('|');
    assert.equal(vni, '1', l);
    assert.deepEqual(dports!.split(','), ['8472', String(port)], l);
    assert.equal(lens!.split(',')[1], String(8 + size), l);
  }
  return lines.length;
}

/**
 * sendAndCheck runs one burst transfer and asserts it arrived whole, in order; with `capture` on
 * the sender's underlay, checks the datagrams there one by one.
 */
async function sendAndCheck(
  t: { diagnostic(m: string): void },
  c: Cleanup,
  o: {
    server: Netns;
    client: Netns;
    addr: string;
    src: string;
    port: number;
    size: number;
    capture?: { ns: Netns; dev: string; sender: string };
  },
): Promise<void> {
  const cap = o.capture ? await startCapture(c, o.capture.ns, o.capture.dev) : null;
  const r = await udpBurstTransfer(o.server, o.client, { ...o, count: COUNT });
  assert.equal(r.received, r.sent, `${o.size}-byte datagrams to ${o.addr}: count and SHA-256`);
  assert.match(r.sent, new RegExp(`^${COUNT} `));
  if (cap === null || o.capture === undefined) return;
  await sleep(300);
  await cap.stop();
  const split = cap.pcap.replace(/\.pcap$/, '-datagrams.pcap');
  const s = splitTrains(cap.pcap, split, o.capture.sender, o.port, o.size);
  t.diagnostic(
    `${o.size} B: ${s.datagrams} datagrams captured on the sender as ${s.frames} frames (largest train ${s.largest})`,
  );
  assert.equal(s.datagrams, COUNT, 'every datagram in the sender-side capture');
  assert.ok(s.frames < COUNT, `trains expected in the capture: ${s.frames} frames`);
  assert.equal(tsharkDatagrams(split, o.port, o.size), COUNT, 'tshark decodes every datagram');
  // weft capture on the same file: one line per train, tagged with its datagram count.
  let lines = 0;
  let datagrams = 0;
  const out = run(process.execPath, [WEFT_BIN, 'capture', '-r', cap.pcap]);
  for (const line of out.split('\n')) {
    if (!line.includes(`> ${o.addr}:${o.port} UDP len ${o.size}`)) continue;
    lines++;
    const m = / \[GSO train: (\d+) datagrams of \d+ bytes, first shown\]$/.exec(line);
    datagrams += m ? Number(m[1]) : 1;
  }
  assert.equal(lines, s.frames, 'weft capture: one line per captured frame');
  assert.equal(datagrams, COUNT, 'weft capture: the trains tagged with every datagram');
}

/** assertTrains checks a sender's stats: GSO trains, fewer sendmmsg calls than datagrams, no drops. */
async function assertTrains(t: { diagnostic(m: string): void }, p: Proc, who: string): Promise<void> {
  const s = await readWeftStats(p);
  const calls = s.udp.txSyscalls ?? 0;
  const sent = s.udp.txPackets ?? 0;
  t.diagnostic(`${who}: ${sent} datagrams, ${calls} sendmmsg calls, ${s.offload?.gsoTrains} GSO trains`);
  assert.ok((s.offload?.gsoTrains ?? 0) > 0, `${who}: GSO trains ${JSON.stringify(s.offload)}`);
  assert.ok(sent >= 2 * COUNT, `${who}: ${sent} datagrams sent`);
  assert.ok(calls < sent / 2, `${who}: ${calls} sendmmsg calls for ${sent} datagrams`);
  assert.deepEqual(unexpectedDrops(s.egressDrops), {}, `${who}: ${JSON.stringify(s.egressDrops)}`);
  assert.deepEqual(s.ingressDrops, {}, `${who}: ${JSON.stringify(s.ingressDrops)}`);
}

test('weft <-> weft VXLAN at default offloads: 20,000 datagrams of 64 and 1,000 bytes each way, byte-exact; the sender-side capture holds valid VXLAN datagrams', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const { a, b } = await startWeftPair(u, { devPrefix: 's' });
  for (const size of [64, 1000]) {
    await sendAndCheck(t, c, {
      server: u.b, client: u.a, addr: '10.244.1.1', src: '10.244.0.1', port: 6000 + size, size,
      capture: { ns: u.a, dev: u.aDev, sender: u.aIp },
    }); // prettier-ignore
    await sendAndCheck(t, c, { server: u.a, client: u.b, addr: '10.244.0.1', src: '10.244.1.1', port: 7000 + size, size }); // prettier-ignore
  }
  await assertTrains(t, a.proc, 'weft A');
  await assertTrains(t, b.proc, 'weft B');
});

test('weft <-> kernel flannel.1 at default offloads: 20,000 datagrams of 64 and 1,000 bytes each way, byte-exact; the sender-side capture holds valid VXLAN datagrams', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const { u, k } = setupKernelVsWeft(c);
  const w = await startWeftVsKernel({ u, k }, 'sk');
  for (const size of [64, 1000]) {
    await sendAndCheck(t, c, {
      server: u.a, client: u.b, addr: k.podIp, src: '10.244.1.1', port: 6000 + size, size,
      capture: { ns: u.b, dev: u.bDev, sender: u.bIp },
    }); // prettier-ignore
    await sendAndCheck(t, c, { server: u.b, client: u.a, addr: '10.244.1.1', src: k.podIp, port: 7000 + size, size }); // prettier-ignore
  }
  await assertTrains(t, w.proc, 'weft');
});
