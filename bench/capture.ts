/**
 * Microbenchmark of `weft capture`'s per-frame work: the one-line summary of a captured underlay
 * frame (`summarizeFrame`, what `weft capture` prints by default), and the same line plus the
 * byte-by-byte view (`--explain`). Run with `npx tsc -p tsconfig.json && node dist/bench/capture.js`.
 *
 * Method: every case summarizes a batch of FRAMES (64) prebuilt frames per call, all of one shape,
 * as they arrive during an iperf3 run through the overlay: full-size TCP data segments, bare TCP
 * ACKs and 64-byte UDP datagrams, each over VXLAN (port 8472) and flannel-UDP (port 8285), on an
 * Ethernet interface and on `-i any` (Linux cooked capture). The frames carry valid checksums, as
 * on the wire. The ports are `weft capture`'s defaults. tinybench times the calls; µs/frame = call
 * latency / FRAMES. Then each case runs alone over 8,192 frames (256 with `--explain`) between two
 * heap measurements (after a forced GC, with a young generation large enough that no scavenge
 * runs) to give bytes allocated per frame. GCs seen during that run are reported too; when one
 * ran, the heap delta means nothing and B/frame is left out.
 *
 * Flags: --json PATH (default bench/results/capture-<date>.json), --time MS per case (default 500),
 * --filter SUBSTRING (only matching cases).
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Bench } from 'tinybench';
import { gcCounter, getGc, measureHeap, runMain, type BenchArgs } from './harness';
import { explainCaptured } from '../src/capture/explain-adapter';
import { LinkType, summarizeFrame, type FrameKind } from '../src/capture/summarize';
import { parseCaptureArgs, portMap } from '../src/cli/commands/capture';
import { ipv4ToU32 } from '../src/net/addr';
import { checksumAdd, checksumFinish, writeIpv4Header } from '../src/wire';

/** FRAMES is the number of frames one benchmark call summarizes. */
const FRAMES = 64;
/**
 * LINE_ALLOC_FRAMES and EXPLAIN_ALLOC_FRAMES are how many frames the allocation run handles: about
 * 40 MiB of garbage at most, so that it fits in the 64 MiB young generation without a scavenge.
 */
const LINE_ALLOC_FRAMES = 8192;
const EXPLAIN_ALLOC_FRAMES = 256;
/** WARMUP_CALLS is how often every case runs untimed before the first timing (see main). */
const WARMUP_CALLS = 300;
/** TARGET_US is the per-frame budget of the summary line. */
const TARGET_US = 3;

/** Case is one benchmark: `run` handles FRAMES frames; `check` verifies once that it did the intended work. */
interface Case {
  readonly name: string;
  /** Length of the case's frames in bytes. */
  readonly frameBytes: number;
  /** true for the summary-line cases the target applies to. */
  readonly target: boolean;
  /** Frames in the allocation run. */
  readonly allocFrames: number;
  readonly run: () => void;
  readonly check: () => void;
}

/** CaseResult is one row of the report. */
interface CaseResult {
  name: string;
  frameBytes: number;
  usPerFrameMedian: number;
  usPerFrameMean: number;
  rmePercent: number;
  samples: number;
  /** null when a GC ran during the allocation run. */
  bytesPerFrame: number | null;
  gcsDuringAllocRun: number;
}

const USAGE = 'usage: node dist/bench/capture.js [--json PATH] [--time MS] [--filter SUBSTRING]';

// Keeps V8 from eliminating summaries nobody reads.
let sink = 0;

// ---- frames ----------------------------------------------------------------------------------

const OUTER_SRC = ipv4ToU32('192.0.2.1');
const OUTER_DST = ipv4ToU32('192.0.2.2');
const VXLAN_INNER_SRC = ipv4ToU32('10.244.0.2');
const VXLAN_INNER_DST = ipv4ToU32('10.244.1.2');
const UDP_INNER_SRC = ipv4ToU32('10.246.0.2');
const UDP_INNER_DST = ipv4ToU32('10.246.1.2');
const OUTER_SRC_MAC = [0x02, 0x00, 0xc0, 0x00, 0x02, 0x01];
const OUTER_DST_MAC = [0x02, 0x00, 0xc0, 0x00, 0x02, 0x02];
const INNER_SRC_MAC = [0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x02];
const INNER_DST_MAC = [0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x02];

/** ipv4Packet wraps a transport segment into IPv4 (DF set) and fills the transport checksum. */
function ipv4Packet(src: number, dst: number, proto: number, l4: Buffer, id: number): Buffer {
  const p = Buffer.alloc(20 + l4.length);
  writeIpv4Header(p, 0, 0, p.length, id, 0x4000, 64, proto, src, dst);
  l4.copy(p, 20);
  const csumOff = 20 + (proto === 6 ? 16 : 6);
  // Pseudo-header (RFC 9293 §3.1, RFC 768): addresses, protocol, transport length.
  let sum = checksumAdd(p, 12, 8, proto + l4.length);
  sum = checksumAdd(p, 20, l4.length, sum);
  p.writeUInt16BE(checksumFinish(sum), csumOff);
  return p;
}

/** tcpSegment is what Linux sends during iperf3: a 32-byte header (NOP, NOP, timestamps) + payload. */
function tcpSegment(i: number, payloadLen: number, flags: number): Buffer {
  const t = Buffer.alloc(32 + payloadLen);
  t.writeUInt16BE(40000 + (i % 8), 0);
  t.writeUInt16BE(5201, 2);
  t.writeUInt32BE((1_000_000 + i * 1448) >>> 0, 4);
  t.writeUInt32BE(77_000, 8);
  t[12] = 8 << 4;
  t[13] = flags;
  t.writeUInt16BE(502, 14);
  t.set([1, 1, 8, 10], 20);
  t.writeUInt32BE(3_000_000 + i, 24);
  t.writeUInt32BE(2_000_000 + i, 28);
  for (let k = 32; k < t.length; k++) t[k] = k & 0xff;
  return t;
}

function udpDatagram(sport: number, dport: number, payload: Buffer): Buffer {
  const u = Buffer.alloc(8 + payload.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  payload.copy(u, 8);
  return u;
}

function ethernet(dst: number[], src: number[], payload: Buffer): Buffer {
  const e = Buffer.alloc(14 + payload.length);
  e.set(dst, 0);
  e.set(src, 6);
  e.writeUInt16BE(0x0800, 12);
  payload.copy(e, 14);
  return e;
}

/** sll is the 16-byte Linux cooked header `-i any` puts in front (PACKET_OUTGOING, ARPHRD_ETHER). */
function sll(payload: Buffer): Buffer {
  const s = Buffer.alloc(16 + payload.length);
  s.writeUInt16BE(4, 0);
  s.writeUInt16BE(1, 2);
  s.writeUInt16BE(6, 4);
  s.set(OUTER_SRC_MAC, 6);
  s.writeUInt16BE(0x0800, 14);
  payload.copy(s, 16);
  return s;
}

type Inner = 'tcp-data' | 'tcp-ack' | 'udp-64';

/** innerIp is frame i's inner IP packet: 1450 bytes of TCP data (flannel.1's MTU), an ACK or 64 B UDP. */
function innerIp(kind: Inner, i: number, src: number, dst: number, mtu: number): Buffer {
  if (kind === 'udp-64')
    return ipv4Packet(src, dst, 17, udpDatagram(50000 + i, 5201, Buffer.alloc(64, i)), i);
  return kind === 'tcp-data'
    ? ipv4Packet(src, dst, 6, tcpSegment(i, mtu - 52, 0x18), i)
    : ipv4Packet(dst, src, 6, tcpSegment(i, 0, 0x10), i);
}

/** underlayIp wraps a UDP payload into the outer IPv4/UDP from VTEP 192.0.2.1 to 192.0.2.2. */
function underlayIp(sport: number, dport: number, payload: Buffer, i: number): Buffer {
  // Linux sends VXLAN with a zero UDP checksum over IPv4 (RFC 7348 §5 allows it); keep it zero.
  return ipv4Packet(OUTER_SRC, OUTER_DST, 17, udpDatagram(sport, dport, payload), i).fill(0, 26, 28);
}

function vxlanFrames(kind: Inner, linkType: number): Buffer[] {
  return Array.from({ length: FRAMES }, (_, i) => {
    const inner = innerIp(kind, i, VXLAN_INNER_SRC, VXLAN_INNER_DST, 1450);
    const innerEth = ethernet(INNER_DST_MAC, INNER_SRC_MAC, inner);
    const vx = Buffer.concat([Buffer.from([0x08, 0, 0, 0, 0, 0, 1, 0]), innerEth]);
    const ip = underlayIp(49152 + (i % 16), 8472, vx, i);
    return linkType === LinkType.sll ? sll(ip) : ethernet(OUTER_DST_MAC, OUTER_SRC_MAC, ip);
  });
}

function flannelUdpFrames(kind: Inner, linkType: number): Buffer[] {
  return Array.from({ length: FRAMES }, (_, i) => {
    const ip = underlayIp(8285, 8285, innerIp(kind, i, UDP_INNER_SRC, UDP_INNER_DST, 1472), i);
    return linkType === LinkType.sll ? sll(ip) : ethernet(OUTER_DST_MAC, OUTER_SRC_MAC, ip);
  });
}

// ---- cases -----------------------------------------------------------------------------------

/** buildCases returns the cases in report order. */
function buildCases(): Case[] {
  // Exactly the port map `weft capture` uses without --port/--backend.
  const ports = portMap(parseCaptureArgs([]));
  const shapes: Array<{ name: string; frames: Buffer[]; linkType: number; kind: FrameKind }> = [
    {
      name: 'VXLAN / TCP data 1450',
      frames: vxlanFrames('tcp-data', LinkType.ethernet),
      linkType: LinkType.ethernet,
      kind: 'vxlan',
    },
    {
      name: 'VXLAN / TCP ACK',
      frames: vxlanFrames('tcp-ack', LinkType.ethernet),
      linkType: LinkType.ethernet,
      kind: 'vxlan',
    },
    {
      name: 'VXLAN / UDP 64 B',
      frames: vxlanFrames('udp-64', LinkType.ethernet),
      linkType: LinkType.ethernet,
      kind: 'vxlan',
    },
    {
      name: 'VXLAN / TCP data 1450, -i any',
      frames: vxlanFrames('tcp-data', LinkType.sll),
      linkType: LinkType.sll,
      kind: 'vxlan',
    },
    {
      name: 'flannel-UDP / TCP data 1472',
      frames: flannelUdpFrames('tcp-data', LinkType.ethernet),
      linkType: LinkType.ethernet,
      kind: 'flannel-udp',
    },
    {
      name: 'flannel-UDP / TCP ACK',
      frames: flannelUdpFrames('tcp-ack', LinkType.ethernet),
      linkType: LinkType.ethernet,
      kind: 'flannel-udp',
    },
    {
      name: 'flannel-UDP / UDP 64 B, -i any',
      frames: flannelUdpFrames('udp-64', LinkType.sll),
      linkType: LinkType.sll,
      kind: 'flannel-udp',
    },
  ];
  const cases: Case[] = [];
  for (const s of shapes) {
    const opts = { linkType: s.linkType, ports };
    const lines: string[] = new Array<string>(FRAMES);
    cases.push({
      name: `line: ${s.name}`,
      frameBytes: s.frames[0]!.length,
      target: true,
      allocFrames: LINE_ALLOC_FRAMES,
      run: () => {
        for (let i = 0; i < FRAMES; i++) lines[i] = summarizeFrame(s.frames[i]!, opts).text;
        sink = (sink + lines[FRAMES - 1]!.length) | 0;
      },
      check: () => {
        for (const f of s.frames) {
          const r = summarizeFrame(f, opts);
          if (r.kind !== s.kind || /\[(malformed|truncated|not overlay|outer)/.test(r.text))
            throw new Error(`${s.name}: unexpected line ${r.text}`);
        }
      },
    });
  }
  // The same line plus the byte view under it (`--explain`), for the two TCP data shapes.
  for (const s of [shapes[0]!, shapes[4]!]) {
    const opts = { linkType: s.linkType, ports, explain: true };
    cases.push({
      name: `line + --explain: ${s.name}`,
      frameBytes: s.frames[0]!.length,
      target: false,
      allocFrames: EXPLAIN_ALLOC_FRAMES,
      run: () => {
        let n = 0;
        for (let i = 0; i < FRAMES; i++) {
          const f = s.frames[i]!;
          const r = summarizeFrame(f, opts);
          n += r.text.length + explainCaptured(f, s.linkType, ports, '    ', r.explanation).length;
        }
        sink = (sink + n) | 0;
      },
      check: () => {
        const f = s.frames[0]!;
        const r = summarizeFrame(f, opts);
        if (
          !/header checksum +0x[0-9a-f]{4} valid/.test(
            explainCaptured(f, s.linkType, ports, '    ', r.explanation),
          )
        )
          throw new Error(`${s.name}: --explain view lacks the verified checksum`);
      },
    });
  }
  return cases;
}

// ---- measurement (as bench/micro.ts) -----------------------------------------------------------

/**
 * NODE_FLAGS: `--expose-gc` for a clean heap before each allocation run, and a fixed 64 MiB young
 * generation so the allocation run finishes without a scavenge and the heap delta is what it
 * allocated.
 */
const NODE_FLAGS = ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64'];

async function measureAllocation(
  c: Case,
  gc: () => void,
  gcCount: () => number,
): Promise<{ bytesPerFrame: number | null; gcs: number }> {
  const calls = Math.ceil(c.allocFrames / FRAMES);
  const m = await measureHeap(c.run, 50, calls, gc, gcCount);
  return { bytesPerFrame: m.gcs === 0 ? m.bytes / (calls * FRAMES) : null, gcs: m.gcs };
}

async function main(opts: BenchArgs): Promise<number> {
  const gc = getGc();
  const gcs = gcCounter();
  const all = buildCases();
  const cases = all.filter((c) => c.name.includes(opts.filter));
  // Run every case untimed first. A 64 MiB young generation is fresh memory: until the allocations
  // have cycled through it once, every new page faults, and whichever case ran first measured
  // about ten times slower than the same frames later. This also lets V8 see every frame shape
  // before any timing, as a capture of mixed traffic does.
  // (All cases, also with --filter: the page faults are the young generation's, not a case's.)
  for (const c of all) for (let i = 0; i < WARMUP_CALLS; i++) c.run();
  const results: CaseResult[] = [];
  for (const c of cases) {
    c.check();
    const bench = new Bench({ time: opts.time, warmupTime: Math.min(200, opts.time), throws: true });
    bench.add(c.name, c.run, { async: false });
    const [task] = bench.runSync();
    const r = task?.result;
    if (r === undefined || r.state !== 'completed') throw new Error(`${c.name}: benchmark did not complete`);
    const alloc = await measureAllocation(c, gc, gcs.count);
    // tinybench reports latency in milliseconds per call; one call is FRAMES frames.
    results.push({
      name: c.name,
      frameBytes: c.frameBytes,
      usPerFrameMedian: (r.latency.p50 * 1e3) / FRAMES,
      usPerFrameMean: (r.latency.mean * 1e3) / FRAMES,
      rmePercent: r.latency.rme,
      samples: r.latency.samplesCount,
      bytesPerFrame: alloc.bytesPerFrame,
      gcsDuringAllocRun: alloc.gcs,
    });
  }
  gcs.stop();
  console.table(
    results.map((r) => ({
      case: r.name,
      bytes: r.frameBytes,
      'µs/frame (median)': r.usPerFrameMedian.toFixed(2),
      'µs/frame (mean)': r.usPerFrameMean.toFixed(2),
      '±%': r.rmePercent.toFixed(2),
      'B/frame': r.bytesPerFrame === null ? 'n/a (GC)' : Math.round(r.bytesPerFrame),
      GCs: r.gcsDuringAllocRun,
    })),
  );
  const lineCases = results.filter((r) => cases.find((c) => c.name === r.name)?.target);
  const worst = lineCases.reduce((m, r) => Math.max(m, r.usPerFrameMedian), 0);
  const met = lineCases.length > 0 && worst <= TARGET_US;
  if (lineCases.length > 0)
    console.log(
      `target (summary line <= ${TARGET_US} µs/frame, median, every shape): ${met ? 'MET' : 'MISSED'} ` +
        `(slowest ${worst.toFixed(2)} µs/frame)`,
    );
  const date = new Date().toISOString();
  const out =
    opts.json ??
    path.join(__dirname, '..', '..', 'bench', 'results', `capture-${date.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const report = {
    date,
    command:
      `node ${path.relative(process.cwd(), process.argv[1] ?? '')} ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpus: os.cpus().length,
      node: process.version,
      v8: process.versions.v8,
      kernel: os.release(),
      arch: process.arch,
      loadavg: os.loadavg(),
    },
    framesPerCall: FRAMES,
    allocFrames: { line: LINE_ALLOC_FRAMES, explain: EXPLAIN_ALLOC_FRAMES },
    timePerCaseMs: opts.time,
    results,
    target: lineCases.length > 0 ? { usPerFrame: TARGET_US, slowestUs: worst, met } : null,
    sink,
  };
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${out}`);
  return 0;
}

runMain(NODE_FLAGS, __filename, { usage: USAGE }, main);
