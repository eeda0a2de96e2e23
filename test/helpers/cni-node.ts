/**
 * cni-node: a Kubernetes node's CNI side in a namespace, for the CNI plugin tests. The node is a
 * network namespace plus a private root: every plugin runs as `ip netns exec NODE` (so cni0, the
 * veth host ends and portmap's iptables chains live in the node namespace, never the root one),
 * with the test's own directories bind-mounted over /run and /var/lib inside that one process's
 * mount namespace. So the stock conflist runs with all its defaults — /run/flannel/subnet.env,
 * /var/lib/cni/flannel, host-local's /var/lib/cni/networks — without touching the machine's.
 * `ip netns exec` already gives each process a private (slave) mount namespace; the mounts vanish
 * with it. /run/netns is bound into the private /run so CNI_NETNS=/var/run/netns/POD still resolves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CniRuntime } from '../../src/cni/runtime';
import { installPlugin } from '../../src/cni/install';
import { Cleanup, Netns } from './netns';

/** STOCK_ENV is subnet.env as `weft run --ip-masq` writes it for lease 10.244.1.0/24. */
export const STOCK_ENV =
  'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

const WRAP = [
  'set -e',
  'mount -n --rbind /run/netns "$R/run/netns"',
  'mount -n --rbind "$R/run" /run',
  'mount -n --bind "$R/var-lib" /var/lib',
  'exec "$@"',
].join('\n');

/** CniNode is one node: its namespace, private root and plugin directory. */
export class CniNode {
  /** The private root: `run/` is the node's /run, `var-lib/` its /var/lib, `bin/` holds `flannel`. */
  readonly root: string;
  readonly binDir: string;

  constructor(
    readonly ns: Netns,
    private readonly cleanup: Cleanup,
  ) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cni-'));
    cleanup.add(`rm -r ${this.root}`, () => fs.rmSync(this.root, { recursive: true, force: true }));
    for (const d of ['run/netns', 'run/flannel', 'var-lib', 'bin'])
      fs.mkdirSync(path.join(this.root, d), { recursive: true });
    this.binDir = path.join(this.root, 'bin');
    installPlugin({ dir: this.binDir });
  }

  /** create makes the node namespace and its root. */
  static create(cleanup: Cleanup): CniNode {
    return new CniNode(Netns.create(cleanup, 'cnd'), cleanup);
  }

  /** hostPath maps a path as the node sees it (/run/..., /var/lib/...) to the test's file. */
  hostPath(p: string): string {
    if (p.startsWith('/run/')) return path.join(this.root, 'run', p.slice(5));
    if (p.startsWith('/var/lib/')) return path.join(this.root, 'var-lib', p.slice(9));
    throw new Error(`not a node path: ${p}`);
  }

  /** writeSubnetEnv writes the node's /run/flannel/subnet.env. */
  writeSubnetEnv(text: string): void {
    fs.writeFileSync(this.hostPath('/run/flannel/subnet.env'), text);
  }

  /** runtime returns a CNI runtime for `conflist` whose plugins run inside this node. */
  runtime(conflist: unknown): CniRuntime {
    return new CniRuntime(conflist, {
      binDirs: [this.binDir, '/usr/lib/cni'],
      prefix: ['ip', 'netns', 'exec', this.ns.name, 'env', `R=${this.root}`, 'sh', '-c', WRAP, 'sh'],
      quiet: true,
    });
  }

  /** pod creates a pod namespace; its CNI_NETNS path is `/var/run/netns/<name>`. */
  pod(): { ns: Netns; netns: string } {
    const ns = Netns.create(this.cleanup, 'cpd');
    return { ns, netns: `/var/run/netns/${ns.name}` };
  }
}
