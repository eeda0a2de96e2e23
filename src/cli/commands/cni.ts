/**
 * `weft cni install [DIR]` / `weft cni conflist`: install weft's flannel-compatible CNI plugin in a
 * CNI bin directory under the name `flannel` (src/cni/install.ts), and print the stock
 * 10-flannel.conflist it serves. The plugin itself is src/cni/main.ts.
 */
import { UsageError } from '../../errors';
import { parseArgv } from '../args';
import { STOCK_CONFLIST, installPlugin } from '../../cni/install';

/** DEFAULT_CNI_BIN_DIR is where kubelet, containerd and CRI-O look for plugins by default. */
export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';

/** usage is the `weft help cni` text. */
export const usage = `usage: weft cni install [DIR] [--name NAME] [--force] [--bundle] [--node PATH]
       weft cni conflist

install   writes weft's flannel-compatible CNI plugin to DIR/NAME (default ${DEFAULT_CNI_BIN_DIR}/flannel,
          where containerd, CRI-O and kubelet look; Debian's own plugins live in /usr/lib/cni). The
          file is a small script that runs this checkout's plugin with this node binary; rerun
          after moving either. A file of the same name that is not weft's (flannel's binary) is
          only replaced with --force. The plugin reads /run/flannel/subnet.env (written by
          \`weft run\`), renders bridge + host-local exactly as flannel's plugin does and delegates
          to them, so they must be in the runtime's CNI path too.
conflist  prints kube-flannel's 10-flannel.conflist (cbr0: flannel + portmap), which works unchanged:
          weft cni conflist > /etc/cni/net.d/10-flannel.conflist

  --name NAME  file name in DIR (default flannel: the conflist's "type")
  --force      replace an existing file that is not weft's
  --bundle     copy the plugin's own modules (about 55 kB) to DIR/.NAME.weft and use that copy,
               so the plugin needs only node, not this checkout (a DaemonSet installs it this way)
  --node PATH  the node binary the plugin runs with (default: this one, ${process.execPath})`;

/** run executes `weft cni`. */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'conflist') {
    if (rest.length > 0) throw new UsageError(`weft cni conflist takes no arguments (got ${rest.join(' ')})`);
    process.stdout.write(JSON.stringify(STOCK_CONFLIST, null, 2) + '\n');
    return 0;
  }
  if (sub !== 'install')
    throw new UsageError(sub ? `unknown cni subcommand: ${sub}` : 'weft cni needs a subcommand');
  const a = parseArgv(rest, {
    bool: ['--force', '--bundle'],
    value: ['--name', '--node'],
    positional: true,
    nonEmpty: ['--name', '--node'],
  });
  if (a.positional.length > 1)
    throw new UsageError(`weft cni install takes one directory (got ${a.positional.join(' ')})`);
  const file = installPlugin({
    dir: a.positional[0] ?? DEFAULT_CNI_BIN_DIR,
    name: a.get('--name'),
    force: a.has('--force'),
    bundle: a.has('--bundle'),
    nodePath: a.get('--node'),
  });
  process.stdout.write(`installed ${file}\n`);
  return 0;
}
