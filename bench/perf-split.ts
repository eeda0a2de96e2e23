/**
 * perf-split: splits a weft process's `perf record -g` samples by forwarding direction and by what
 * the sample was doing, from the call chains (JavaScript frames named by
 * NODE_OPTIONS=--perf-basic-prof). Used for the ACK direction of one TCP stream (bench/ack-path.ts):
 * on the receiving node the ACKs are the egress loop, on the sending node the ingress loop.
 *
 *   perf script -i perf.data -F pid,ip,sym,dso | node dist/bench/perf-split.js PID [PID...]
 *
 * Direction: the sample's stack holds the egress loop (`tun-send-loop.js`, TUN -> UDP), the
 * ingress loop (`socket-recv-loop.js`, UDP -> TUN), or neither (event loop and epoll, timers,
 * GC, stats). Within a direction, the first of these that matches:
 *   tcp: ack-out   the kernel TCP stack inside a TUN write sending an ACK (`tcp_send_ack`)
 *   tcp: xmit      ... transmitting data (`tcp_write_xmit`, `__tcp_push_pending_frames`): on the
 *                  sending node, the next data an ACK released
 *   tcp: rcv       ... any other TCP receive work inside a TUN write (data queued, ACKs processed)
 *   tun write      the rest of the TUN write (`tun_chr_write_iter`, io_uring, write/writev)
 *   tun read       `tun_chr_read_iter` and the read()/readv() around it
 *   sendmmsg       `__sys_sendmmsg` (the veth and the peer's UDP receive run inside it)
 *   recvmmsg       `__sys_recvmmsg`
 *   kernel other   any other kernel frame at the leaf
 *   native         the addon's own code at the leaf (sum passes, loops)
 *   js             a JavaScript frame at the leaf
 *   v8/node        the rest (builtins, IC stubs, N-API glue)
 */
import { createInterface } from 'node:readline';

/** KINDS are the kinds of work a sample is put under, first match wins (see the module comment). */
export const KINDS = [
  'tcp: ack-out',
  'tcp: xmit',
  'tcp: rcv',
  'tun write',
  'tun read',
  'sendmmsg',
  'recvmmsg',
  'kernel other',
  'native',
  'js',
  'v8/node',
] as const;
type Kind = (typeof KINDS)[number];
const DIRS = ['egress', 'ingress', 'other'] as const;
type Dir = (typeof DIRS)[number];

function has(frames: string[], ...needles: string[]): boolean {
  for (const f of frames) for (const n of needles) if (f.includes(n)) return true;
  return false;
}

/** classify names the direction and kind of one sample from its frames (leaf first). */
export function classify(frames: string[]): { dir: Dir; kind: Kind } {
  const dir: Dir = has(frames, 'tun-send-loop.js')
    ? 'egress'
    : has(frames, 'socket-recv-loop.js')
      ? 'ingress'
      : 'other';
  const leaf = frames[0] ?? '';
  let kind: Kind;
  const tunWrite = has(frames, ' tun_chr_write_iter', ' tun_get_user');
  if (tunWrite && has(frames, ' tcp_send_ack', ' __tcp_send_ack')) kind = 'tcp: ack-out';
  else if (tunWrite && has(frames, ' tcp_write_xmit', ' __tcp_push_pending_frames')) kind = 'tcp: xmit';
  else if (tunWrite && has(frames, ' tcp_v4_rcv', ' tcp_v6_rcv')) kind = 'tcp: rcv';
  else if (tunWrite || has(frames, 'io_uring_enter', ' ksys_write', ' do_writev')) kind = 'tun write';
  else if (has(frames, ' tun_chr_read_iter', ' tun_do_read', ' do_readv', ' ksys_read')) kind = 'tun read';
  else if (has(frames, ' __sys_sendmmsg')) kind = 'sendmmsg';
  else if (has(frames, ' __sys_recvmmsg', ' do_recvmmsg')) kind = 'recvmmsg';
  else if (leaf.includes('[kernel.kallsyms]')) kind = 'kernel other';
  else if (leaf.includes('weft_native.node')) kind = 'native';
  else if (leaf.includes(' JS:')) kind = 'js';
  else kind = 'v8/node';
  return { dir, kind };
}

/** SplitCounts are one process's samples by `direction\tkind`, and its total. */
export interface SplitCounts {
  total: number;
  byKey: Map<string, number>;
}

/** splitSamples reads `perf script -F pid,ip,sym,dso` text and counts each of `pids`' samples. */
export function splitSamples(
  text: string,
  pids: readonly number[],
): { all: number; per: Map<number, SplitCounts> } {
  const want = new Set(pids);
  const per = new Map<number, SplitCounts>();
  for (const p of pids) per.set(p, { total: 0, byKey: new Map() });
  let all = 0;
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.length > 0);
    if (lines.length === 0) continue;
    all++;
    const pid = Number(lines[0]!.trim().split(/\s+/)[0]);
    if (!want.has(pid)) continue;
    const { dir, kind } = classify(lines.slice(1));
    const c = per.get(pid)!;
    c.total++;
    const key = `${dir}\t${kind}`;
    c.byKey.set(key, (c.byKey.get(key) ?? 0) + 1);
  }
  return { all, per };
}

/**
 * formatSplit prints each process's split: samples, share of the process and, with `perCpuMs`
 * (ms of CPU one sample stands for, divided by the Gbit/s carried), ms of CPU per Gbit.
 */
export function formatSplit(
  r: { all: number; per: Map<number, SplitCounts> },
  names: ReadonlyMap<number, string>,
  msPerSamplePerGbit = 0,
): string {
  const out: string[] = [`samples in the file: ${r.all}`];
  const f = (v: number, t: number): string =>
    `${String(v).padStart(6)}  ${((100 * v) / t).toFixed(1).padStart(5)} %` +
    (msPerSamplePerGbit > 0 ? `  ${(v * msPerSamplePerGbit).toFixed(2).padStart(6)} ms/Gbit` : '');
  for (const [pid, c] of r.per) {
    out.push(`\n${names.get(pid) ?? 'pid'} ${pid}: ${f(c.total, r.all)} (of all samples)`);
    for (const dir of DIRS) {
      let dirSum = 0;
      for (const k of KINDS) dirSum += c.byKey.get(`${dir}\t${k}`) ?? 0;
      out.push(`  ${dir.padEnd(16)} ${f(dirSum, c.total)}`);
      for (const k of KINDS) {
        const v = c.byKey.get(`${dir}\t${k}`) ?? 0;
        if (v > 0) out.push(`    ${k.padEnd(14)} ${f(v, c.total)}`);
      }
    }
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const pids = process.argv.slice(2).map(Number);
  const chunks: string[] = [];
  for await (const line of createInterface({ input: process.stdin })) chunks.push(line);
  console.log(formatSplit(splitSamples(chunks.join('\n'), pids), new Map()));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
