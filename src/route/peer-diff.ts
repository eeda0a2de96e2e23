/**
 * peer-diff: what changed between a route table and the next peer set, so that an update costs the
 * changes (`RouteTable.withChanges`) rather than a rebuild over every peer.
 *
 * The diff is by subnet (the table's key): a subnet that is new, or whose public IP, VTEP MAC or
 * backend changed, is upserted; a subnet no longer present is removed. Diffs are content, not
 * positions, so the same diff applied to two tables with the same peers (queue 0's and a worker's)
 * gives tables with the same answers whatever their peer order.
 */

import { ConfigError } from '../errors';
import type { Peer } from './peer';
import { sourceOf, type PeerSpec, type RouteTable } from './route-table';

/** PeerDiff is the change from one peer set to the next. */
export interface PeerDiff {
  /** Subnets to remove, as the table spells them. */
  readonly remove: string[];
  /** Peers to add, or to replace the peer of the same subnet with. */
  readonly upsert: PeerSpec[];
}

/** samePeer is true when `a` and `b` would forward identically (index aside). */
export function samePeer(a: PeerSpec, b: PeerSpec): boolean {
  if (a.publicIp !== b.publicIp || a.publicIpU32 !== b.publicIpU32 || a.backend !== b.backend) return false;
  const x = a.vtepMac;
  const y = b.vtepMac;
  if (x === y) return true;
  if (x === null || y === null || x.length !== y.length) return false;
  // Six bytes: a JS loop is cheaper than a call into Buffer.equals, 10,000 times per pass.
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * diffPeers returns the diff that turns `table` into the table of `next`. O(next) map probes and
 * no per-peer allocation for unchanged peers; a spec object the table was made from is unchanged
 * without a field comparison. Throws ConfigError (`peers[i].subnet`) when `next`
 * has one prefix twice, as `RouteTable.build` would.
 */
export function diffPeers(table: RouteTable, next: readonly PeerSpec[]): PeerDiff {
  const kept = new Uint8Array(table.size);
  const upsert: PeerSpec[] = [];
  const added = new Map<string, number>();
  const peers: readonly Peer[] = table.peers;
  for (let i = 0; i < next.length; i++) {
    const p = next[i]!;
    const idx = table.indexOf(p.subnet);
    if (idx < 0) {
      // Unknown or unparsable: `withChanges` validates it (and names the field).
      const prev = added.get(p.subnet);
      if (prev !== undefined) {
        throw new ConfigError(`peers[${i}].subnet`, `must be unique; duplicates peers[${prev}]`, p.subnet);
      }
      added.set(p.subnet, i);
      upsert.push(p);
      continue;
    }
    if (kept[idx] === 1) {
      throw new ConfigError(`peers[${i}].subnet`, 'must be unique; the same prefix appears twice', p.subnet);
    }
    kept[idx] = 1;
    const cur = peers[idx]!;
    if (sourceOf(cur) !== p && !samePeer(cur, p)) upsert.push(p);
  }
  const remove: string[] = [];
  for (let idx = 0; idx < kept.length; idx++) if (kept[idx] === 0) remove.push(peers[idx]!.subnet);
  return { remove, upsert };
}
