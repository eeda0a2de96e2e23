/**
 * `weft demo [--store embedded|etcd] [--keep]`: three weft nodes in network namespaces, end to
 * end (src/demo/demo.ts). Needs root; installs nothing (missing tools are named with the apt-get
 * command). Ctrl-C cleans up before exiting. Exit 0 when every pair pinged and iperf3 ran.
 */
import { UsageError } from '../../errors';
import { choiceValue, commandLine, intValue, parseArgv } from '../args';
import { runDemo } from '../../demo/demo';
import { runKubeDemo, type Teardown } from '../../demo/kube-demo';

/** usage is the `weft help demo` text. */
export const usage = `usage: weft demo [--store embedded|etcd] [--keep] [--iperf-seconds N]
       weft demo --kube [--keep]

Builds a testbed of three nodes in network namespaces (underlay 192.0.2.0/24 on a bridge in a
"switch" namespace, no default routes), writes the network config (10.244.0.0/16, SubnetLen 24,
vxlan VNI 1) to the store, starts \`weft run\` in every node, shows the leases and routes, pings
across every pair, runs a short iperf3, prints a summary table and removes everything again
(also on Ctrl-C). Needs root. Installs nothing: missing tools are named with their apt-get command.

With --kube it is kube-flannel's setup instead: etcd, kube-apiserver and kube-controller-manager
(nodeipam) on 127.0.0.1, relayed to each node's own loopback (the first run builds them with
scripts/kube.sh build, 10-12 minutes), a Node object per node with its podCIDR from nodeipam,
\`weft run --kube-subnet-mgr\` per node with flannel's ServiceAccount token, two pods (namespaces)
per node attached by weft's flannel CNI plugin, \`kubectl get nodes -o wide\` and the annotations,
pings between all pods and a TCP transfer between pods on two nodes. Needs socat too.

  --kube                 Kubernetes mode (see above); --store and --iperf-seconds do not apply
  --store embedded|etcd  lease store: a temp directory (default), or an etcd started for the demo
  --keep                 leave the testbed running (prints the commands that remove it)
  --iperf-seconds N      iperf3 duration (default 3)`;

/** DemoArgs is the parsed command line of `weft demo`. */
export interface DemoArgs {
  kube: boolean;
  store: 'embedded' | 'etcd';
  keep: boolean;
  iperfSeconds: number;
}

/** parseDemoArgs parses `weft demo` flags; throws UsageError on anything unknown or bad. */
export function parseDemoArgs(argv: string[]): DemoArgs {
  const a = parseArgv(argv, {
    bool: ['--keep', '--kube'],
    value: ['--store', '--iperf-seconds'],
    unknown: (arg) => `unknown flag: ${arg}`,
    missing: (flag) => `flag needs an argument: ${flag}`,
  });
  const store = choiceValue('--store', a.get('--store') ?? 'embedded', ['embedded', 'etcd']);
  const iperfSeconds = intValue('--iperf-seconds', a.get('--iperf-seconds') ?? '3', 1, 60);
  if (a.has('--kube') && (a.has('--store') || a.has('--iperf-seconds')))
    throw new UsageError('--kube runs no store and no iperf3: --store and --iperf-seconds do not apply');
  return { kube: a.has('--kube'), store, keep: a.has('--keep'), iperfSeconds };
}

/** run executes `weft demo`. */
export async function run(argv: string[]): Promise<number> {
  const { kube, store, keep, iperfSeconds } = commandLine(() => parseDemoArgs(argv));
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'weft demo needs root (it creates network namespaces, veth pairs and TUN devices); try: sudo weft demo\n',
    );
    return 1;
  }
  let tb: Teardown | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\nweft demo: ${sig}, cleaning up...\n`);
    const t = tb as Teardown | null;
    t?.abort();
    void (t && !keep ? t.cleanup() : Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = kube
      ? await runKubeDemo({ keep }, (t) => (tb = t))
      : await runDemo({ store, keep, iperfSeconds }, (t) => (tb = t));
    return r.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
