/**
 * peer-update: the synchronous cost, on the forwarding thread, of applying one coalesced peer pass
 * to the route table of a 10,000-node cluster (issue 13.2, "forwarding RTT unaffected").
 *
 *   node dist/bench/peer-update.js [--peers 10000] [--changes 50,500] [--runs 15]
 *
 * For each change count (half removals, half new subnets, as the churn of bench/leases.ts), it
 * times a full `RouteTable.build` of the new set (what every pass cost before) against
 * `diffPeers` + `withChanges` + `Router.update` (a copy of the table's indexes per pass) and
 * `diffPeers` + `applyChanges` + `Router.update` (in place: what a forwarding thread, and the main
 * thread when it does not forward, do now), and prints the median and the worst of `--runs` runs
 * in ms. The peer specs are reused across passes as the daemon reuses
 * them (one record per unchanged lease).
 */
import { diffPeers } from '../src/route/peer-diff';
import { RouteTable, indexPeers, type PeerSpec } from '../src/route/route-table';
import { Router } from '../src/route/router';
import { peerSpec } from '../src/testing/routes';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

/** specOf is the i-th /30 of 10.0.0.0/8 with its own public IP and MAC, like a flannel lease. */
function specOf(i: number): PeerSpec {
  const v = 0x0a000000 + i * 4;
  const publicIp = `198.51.100.${(i % 250) + 1}`;
  const subnet = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/30`;
  return peerSpec(
    subnet,
    publicIp,
    'vxlan',
    Buffer.from([2, (i >> 16) & 255, (i >> 8) & 255, i & 255, 1, 2]),
  );
}

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]!.toFixed(2)} ms, max ${s[s.length - 1]!.toFixed(2)} ms`;
}

function main(): void {
  const n = Number(arg('peers', '10000'));
  const runs = Number(arg('runs', '15'));
  const all: PeerSpec[] = [];
  for (let i = 0; i < n * 2; i++) all.push(specOf(i));
  for (const changes of arg('changes', '50,500').split(',').map(Number)) {
    const full: number[] = [];
    const inc: number[] = [];
    const inPlace: number[] = [];
    let lo = 0;
    let set = all.slice(0, n);
    const router = new Router(RouteTable.build(indexPeers(set)));
    const owned = new Router(RouteTable.build(indexPeers(set)));
    for (let r = 0; r < runs; r++) {
      // The next pass: `changes / 2` subnets gone from the front, as many new ones at the back.
      const half = changes >> 1;
      const next = all.slice(lo + half, lo + n + half);
      lo += half;
      let t0 = process.hrtime.bigint();
      RouteTable.build(indexPeers(next));
      full.push(Number(process.hrtime.bigint() - t0) / 1e6);
      t0 = process.hrtime.bigint();
      const d = diffPeers(router.table, next);
      router.update(router.table.withChanges(d.remove, d.upsert));
      inc.push(Number(process.hrtime.bigint() - t0) / 1e6);
      t0 = process.hrtime.bigint();
      const d2 = diffPeers(owned.table, next);
      owned.update(owned.table.applyChanges(d2.remove, d2.upsert));
      inPlace.push(Number(process.hrtime.bigint() - t0) / 1e6);
      set = next;
    }
    if (router.table.size !== set.length) throw new Error('incremental table lost peers');
    if (owned.table.size !== set.length) throw new Error('in-place table lost peers');
    console.log(`${n} peers, ${changes} changes per pass:`);
    console.log(`  rebuild (before):                      ${stats(full)}`);
    console.log(`  diffPeers + withChanges + update:       ${stats(inc)}`);
    console.log(`  diffPeers + applyChanges + update:      ${stats(inPlace)}`);
  }
}

main();
