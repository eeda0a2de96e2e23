/**
 * flag-warnings: the warnings `weft run` logs at startup where a flag means something else to
 * weft than to flanneld, so a command line copied from a flanneld unit file never diverges
 * silently. The daemon logs each one before it touches the store.
 */
import type { WeftFlags } from '../control/flags';

/** flagWarnings lists the startup warnings for `f`, in flag order (empty when there are none). */
export function flagWarnings(
  f: Pick<
    WeftFlags,
    | 'store'
    | 'storeFrom'
    | 'storeDir'
    | 'etcdEndpoints'
    | 'etcdPrefix'
    | 'netConfigPath'
    | 'publicIpv6'
    | 'explicit'
  >,
): string[] {
  const out: string[] = [];
  if (f.store === 'embedded' && f.storeFrom === 'default') {
    out.push(
      `no --etcd-* flag, --store or --store-dir was given, so weft uses its embedded store in ${f.storeDir}; ` +
        `flanneld would use etcd at ${f.etcdEndpoints.join(',')} (give --etcd-endpoints or --store etcd for that)`,
    );
  }
  if (f.netConfigPath !== '' && f.store === 'etcd') {
    out.push(
      `--net-config-path ${f.netConfigPath}: weft reads the network config from this file; flanneld reads it ` +
        `only with --kube-subnet-mgr and takes ${f.etcdPrefix}/config from etcd`,
    );
  }
  if (f.explicit.has('public-ipv6') && f.publicIpv6 !== '') {
    out.push(`--public-ipv6 ${f.publicIpv6} has no effect: weft's dataplane carries IPv4 only`);
  }
  return out;
}
