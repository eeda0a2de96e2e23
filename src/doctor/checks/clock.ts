/**
 * clock check: the local clock against the store's, and the leases' expiry against both.
 *
 * With the embedded store every lease's expiry is a file mtime written from its node's clock and
 * read against the reader's: a node whose clock runs ahead sees live leases expire early (drops
 * their routes, may hand their subnets out again), one running behind keeps dead peers. The skew
 * to a shared store directory is measured by creating a file there and reading the mtime the file
 * system gave it. etcd keeps lease time itself, so skew does not move expiry there; its HTTP `Date`
 * header still shows a clock that is off (certificates, log correlation). Either way a node's own
 * lease must never get closer to expiry than its renewal point: then the daemon is not renewing.
 */
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import { Finding, note, ok, problem, skipped } from '../finding';
import type { NodeView } from '../node-view';

/** Skew below this is measurement noise (the HTTP Date header has one-second resolution). */
const NOISE_MS = 2000;
/** A renewal may be up to a minute late (flannel retries a failed renewal every minute). */
const RENEW_GRACE_MS = 60_000;

/** ClockReading is the store's clock minus ours, in ms, and what it was measured against. */
export interface ClockReading {
  readonly skewMs: number;
  readonly against: string;
}

/** measureFsSkew writes and removes a file in `dir` and compares its mtime with the local clock. */
export async function measureFsSkew(dir: string): Promise<ClockReading> {
  const file = path.join(dir, `.weft-doctor-${process.pid}`);
  const t0 = Date.now();
  await fsp.writeFile(file, '');
  try {
    const st = await fsp.stat(file);
    const t1 = Date.now();
    return { skewMs: st.mtimeMs - (t0 + t1) / 2, against: `the file system of ${dir}` };
  } finally {
    await fsp.unlink(file).catch(() => {});
  }
}

/** measureHttpSkew reads the `Date` header of `GET <endpoint>/version` (etcd answers it). */
export function measureHttpSkew(
  endpoint: string,
  tls: { key?: string; cert?: string; ca?: string },
  timeoutMs = 5000,
): Promise<ClockReading> {
  return new Promise((resolve, reject) => {
    const url = new URL('/version', endpoint);
    const t0 = Date.now();
    const opts: https.RequestOptions = { method: 'GET', timeout: timeoutMs };
    if (url.protocol === 'https:') {
      if (tls.key) opts.key = fs.readFileSync(tls.key);
      if (tls.cert) opts.cert = fs.readFileSync(tls.cert);
      if (tls.ca) opts.ca = fs.readFileSync(tls.ca);
    }
    const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
      res.resume();
      const t1 = Date.now();
      const date = res.headers.date ? Date.parse(res.headers.date) : NaN;
      if (Number.isNaN(date)) reject(new Error(`${endpoint} sent no Date header`));
      // Date has whole seconds: the server's time was in [date, date + 1 s).
      else resolve({ skewMs: date + 500 - (t0 + t1) / 2, against: `etcd at ${endpoint}` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${endpoint} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const secs = (ms: number): string => `${Math.round(ms / 1000)} s`;

/** checkClock judges a skew reading and the leases' expiries. */
export function checkClock(
  v: NodeView,
  reading: ClockReading | null,
  readingError: string | null,
): Finding[] {
  const out: Finding[] = [];
  const marginMs = v.flags.subnetLeaseRenewMargin * 60_000;
  const ttlMs = v.flags.subnetLeaseTtl * 1000;
  const effMargin = marginMs >= ttlMs ? ttlMs / 2 : marginMs;
  const embedded = v.store?.kind === 'embedded';

  if (reading) {
    const abs = Math.abs(reading.skewMs);
    const dir = reading.skewMs > 0 ? 'behind' : 'ahead of';
    if (abs < NOISE_MS)
      out.push(ok('clock', `local clock within ${NOISE_MS / 1000} s of ${reading.against}`));
    else if (embedded && abs >= effMargin / 2)
      out.push(
        problem(
          'clock',
          `local clock is ${secs(abs)} ${dir} ${reading.against}`,
          `the embedded store's lease expiries are timestamps: with this skew, leases look ${reading.skewMs > 0 ? 'valid after they expired (dead peers stay routed)' : 'expired early (live peers lose their routes, and their subnets may be handed out twice)'}; the renew margin is only ${secs(effMargin)}`,
          'synchronise the clocks of every node and the store host (chrony / systemd-timesyncd)',
        ),
      );
    else
      out.push(
        note(
          'clock',
          `local clock is ${secs(abs)} ${dir} ${reading.against}`,
          embedded
            ? `below half the renew margin (${secs(effMargin)}), so leases still renew in time; logs of different nodes will not line up`
            : 'etcd times leases itself, so expiry is not affected; TLS certificate checks and log correlation are',
          'synchronise the clocks (chrony / systemd-timesyncd)',
        ),
      );
  } else if (readingError) {
    out.push(skipped('clock', `cannot measure the store's clock: ${readingError}`));
  }

  const own = v.ownLease;
  if (own?.expiration) {
    const left = own.expiration.getTime() - v.now;
    if (left < effMargin - RENEW_GRACE_MS) {
      out.push(
        problem(
          'clock',
          `this node's lease ${own.key} expires in ${secs(left)}, past its renewal point (${secs(effMargin)} before expiry)`,
          "the node should have renewed it: flanneld / weft run is not running or cannot write the store. When it expires, peers drop this node's routes and its subnet can go to another node (then cni0 and subnet.env go stale)",
          "start or restart the node's daemon and read its log for store errors",
        ),
      );
    } else {
      out.push(ok('clock', `own lease expires in ${secs(left)} (renewed ${secs(effMargin)} before expiry)`));
    }
  }
  if (embedded) {
    const limit = Math.max(ttlMs, 86_400_000) + NOISE_MS;
    for (const l of v.peers) {
      if (!l.expiration) continue;
      const left = l.expiration.getTime() - v.now;
      if (left > limit)
        out.push(
          note(
            'clock',
            `lease ${l.key} (${l.attrs.publicIp}) expires in ${secs(left)}, more than any lease lifetime`,
            "its writer's clock runs ahead of this node's by at least the excess (or it uses a longer --subnet-lease-ttl): when it stops renewing, this node keeps routing to it that much longer",
            `run weft doctor on ${l.attrs.publicIp} and synchronise the clocks`,
          ),
        );
    }
  }
  return out;
}
