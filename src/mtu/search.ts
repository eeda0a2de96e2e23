/**
 * search: the path-MTU binary search of `weft mtu-probe`, independent of how a probe is sent.
 *
 * A probe of size N is one ICMP echo whose IP packet is N bytes with DF set (RFC 1191 §3). Each
 * probe ends in exactly one outcome: a reply (the path carries N), a local EMSGSIZE (the device
 * MTU or a cached path MTU is below N), an ICMP "fragmentation needed" (a hop said N is too big,
 * with its next-hop MTU), or a timeout (lost, which for a silently dropping hop is how "too big"
 * looks). Timeouts are retried, because a single lost echo must not shrink the result.
 *
 * Why a reply is re-checked: the Linux VXLAN driver, when the inner packet is larger than the
 * underlay allows, records a smaller path MTU for the inner destination and still sends this one
 * packet as outer IP fragments (outer DF is clear by default, flannel.md §5.3). So the first
 * oversized echo comes back; only the next send of the same size fails with EMSGSIZE. A size
 * counts as passing only if a second send of it is also accepted.
 */

/** ProbeOutcome is what one probe of a given size ended in. */
export type ProbeOutcome =
  | { kind: 'reply'; rttMs: number }
  | { kind: 'emsgsize' }
  | { kind: 'frag-needed'; mtu: number; from: string }
  | { kind: 'timeout' }
  | { kind: 'unreachable'; code: number; from: string };

/** ProbeFn sends one DF-set echo whose IP packet is `size` bytes and reports the outcome. */
export type ProbeFn = (size: number) => Promise<ProbeOutcome>;

/** LimitKind names what stopped the largest failing probe. */
export type LimitKind =
  'local-device' | 'path-mtu-cache' | 'frag-needed' | 'silent-drop' | 'tunnel-fragmentation' | 'none';

/** SearchOptions bounds the search. */
export interface SearchOptions {
  /** Smallest IP packet size to try (must pass, else the peer is unreachable). */
  min: number;
  /** Largest IP packet size to try. */
  max: number;
  /** Probes per size before a timeout counts as "too big". Default 2. */
  attempts?: number;
  /** MTU of the local device towards the peer, to tell a device EMSGSIZE from a cached-PMTU one. */
  deviceMtu?: number;
  /** Called after each probe (for --verbose output). */
  onProbe?: (size: number, outcome: ProbeOutcome, verdict: 'pass' | 'too big', why?: string) => void;
}

/** SearchResult is the outcome of `searchPathMtu`. */
export interface SearchResult {
  /** Largest IP packet size that got an echo reply without fragmentation; 0 if even `min` failed. */
  pathMtu: number;
  /** What limited the path at `pathMtu + 1` (or the smallest failing size seen). */
  limit: LimitKind;
  /** Next-hop MTU reported in an ICMP fragmentation-needed message, if any. */
  reportedMtu?: number;
  /** Address that sent fragmentation-needed / unreachable, if any. */
  reportedBy?: string;
  /** True when `pathMtu == max`: the path may carry more than was tried. */
  atMax: boolean;
  /** Number of probes sent. */
  probes: number;
  /** True if some echo came back only because the tunnel fragmented the outer packet (see file notes). */
  tunnelFragmentation: boolean;
  /** Why `min` failed, when pathMtu is 0. */
  failure?: string;
}

/**
 * searchPathMtu binary-searches the largest probe size in [min, max] that gets a reply, and says
 * which limit stopped the next larger size.
 */
export async function searchPathMtu(probe: ProbeFn, o: SearchOptions): Promise<SearchResult> {
  const attempts = o.attempts ?? 2;
  let probes = 0;
  let limit = 'none' as LimitKind;
  let limitAt = Infinity;
  let reportedMtu: number | undefined;
  let reportedBy: string | undefined;
  let tunnelFragmentation = false;

  const note = (size: number, l: LimitKind): void => {
    // Keep the reason of the smallest failing size: that is the one bounding the result.
    if (size <= limitAt) {
      limitAt = size;
      limit = l;
    }
  };

  /** passes runs the probe (with retries on timeout) and classifies it. */
  const passes = async (size: number): Promise<boolean> => {
    let outcome: ProbeOutcome = { kind: 'timeout' };
    for (let i = 0; i < attempts; i++) {
      probes++;
      outcome = await probe(size);
      if (outcome.kind !== 'timeout') break;
    }
    let verdict: 'pass' | 'too big' = 'too big';
    let why: string | undefined;
    switch (outcome.kind) {
      case 'reply': {
        probes++;
        const again = await probe(size);
        if (again.kind === 'emsgsize') {
          tunnelFragmentation = true;
          why =
            'the echo came back, but resending the same size failed with EMSGSIZE (the tunnel fragmented it)';
          note(size, 'tunnel-fragmentation');
        } else if (again.kind === 'frag-needed') {
          why = `resending the same size got fragmentation needed (mtu ${again.mtu})`;
          note(size, 'frag-needed');
          reportedMtu = again.mtu;
          reportedBy = again.from;
        } else {
          verdict = 'pass';
        }
        break;
      }
      case 'emsgsize':
        note(size, o.deviceMtu !== undefined && size > o.deviceMtu ? 'local-device' : 'path-mtu-cache');
        break;
      case 'frag-needed':
        note(size, 'frag-needed');
        reportedMtu = outcome.mtu;
        reportedBy = outcome.from;
        break;
      case 'timeout':
        note(size, 'silent-drop');
        break;
      case 'unreachable':
        note(size, 'silent-drop');
        reportedBy = outcome.from;
        break;
    }
    o.onProbe?.(size, outcome, verdict, why);
    return verdict === 'pass';
  };

  if (!(await passes(o.min))) {
    return {
      pathMtu: 0,
      limit,
      atMax: false,
      probes,
      tunnelFragmentation,
      failure: `no echo reply at the minimum size ${o.min} (peer unreachable, or not answering ICMP echo)`,
    };
  }
  let lo = o.min; // known to pass
  let hi = o.max + 1; // known (or assumed) to fail
  if (await passes(o.max)) lo = o.max;
  else hi = o.max;
  while (hi - lo > 1) {
    let mid = Math.floor((lo + hi) / 2);
    // A hop that named its MTU lets us jump straight there.
    if (reportedMtu !== undefined && reportedMtu > lo && reportedMtu < hi) mid = reportedMtu;
    if (await passes(mid)) lo = mid;
    else hi = mid;
  }
  // A path MTU the kernel cached during this run came from what we saw earlier: name that instead.
  if (limit === 'path-mtu-cache' && reportedMtu !== undefined) limit = 'frag-needed';
  else if (limit === 'path-mtu-cache' && tunnelFragmentation) limit = 'tunnel-fragmentation';
  const res: SearchResult = {
    pathMtu: lo,
    limit: lo === o.max ? 'none' : limit,
    atMax: lo === o.max,
    probes,
    tunnelFragmentation,
  };
  if (reportedMtu !== undefined) res.reportedMtu = reportedMtu;
  if (reportedBy !== undefined) res.reportedBy = reportedBy;
  return res;
}
