/**
 * `weft demo [--store embedded|etcd] [--keep]`: three weft nodes in network namespaces, end to
 * end (src/demo/demo.ts). Needs root; installs nothing (missing tools are named with the apt-get
 * command). Ctrl-C cleans up before exiting. Exit 0 when every pair pinged and iperf3 ran.
 */
import { choiceValue, commandLine, intValue, parseArgv } from '../args';
import { runDemo } from '../../demo/demo';
import type { Testbed } from '../../demo/testbed';

/** usage is the `weft help demo` text. */
export const usage = `usage: weft demo [--store embedded|etcd] [--keep] [--iperf-seconds N]

Builds a testbed of three nodes in network namespaces (underlay 192.0.2.0/24 on a bridge in a
"switch" namespace, no default routes), writes the network config (10.244.0.0/16, SubnetLen 24,
vxlan VNI 1) to the store, starts \`weft run\` in every node, shows the leases and routes, pings
across every pair, runs a short iperf3, prints a summary table and removes everything again
(also on Ctrl-C). Needs root. Installs nothing: missing tools are named with their apt-get command.

  --store embedded|etcd  lease store: a temp directory (default), or an etcd started for the demo
  --keep                 leave the testbed running (prints the commands that remove it)
  --iperf-seconds N      iperf3 duration (default 3)`;

/** DemoArgs is the parsed command line of `weft demo`. */
export interface DemoArgs {
  store: 'embedded' | 'etcd';
  keep: boolean;
  iperfSeconds: number;
}

/** parseDemoArgs parses `weft demo` flags; throws UsageError on anything unknown or bad. */
export function parseDemoArgs(argv: string[]): DemoArgs {
  const a = parseArgv(argv, {
    bool: ['--keep'],
    value: ['--store', '--iperf-seconds'],
    unknown: (arg) => `unknown flag: ${arg}`,
    missing: (flag) => `flag needs an argument: ${flag}`,
  });
  const store = choiceValue('--store', a.get('--store') ?? 'embedded', ['embedded', 'etcd']);
  const iperfSeconds = intValue('--iperf-seconds', a.get('--iperf-seconds') ?? '3', 1, 60);
  return { store, keep: a.has('--keep'), iperfSeconds };
}

/** run executes `weft demo`. */
export async function run(argv: string[]): Promise<number> {
  const { store, keep, iperfSeconds } = commandLine(() => parseDemoArgs(argv));
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'weft demo needs root (it creates network namespaces, veth pairs and TUN devices); try: sudo weft demo\n',
    );
    return 1;
  }
  let tb: Testbed | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\nweft demo: ${sig}, cleaning up...\n`);
    const t = tb as Testbed | null;
    t?.abort();
    void (t && !keep ? t.cleanup() : Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await runDemo({ store, keep, iperfSeconds }, (t) => (tb = t));
    return r.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
