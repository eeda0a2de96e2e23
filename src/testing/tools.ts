/**
 * tools: the external programs a lab needs, where they are and how a user installs them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ToolMissingError } from '../errors';

/** TOOLS maps each external tool the labs (demo, bench) may need to its Debian package. */
export const TOOLS: Record<string, string> = {
  ip: 'iproute2',
  ss: 'iproute2',
  bridge: 'iproute2',
  ping: 'iputils-ping',
  iperf3: 'iperf3',
  socat: 'socat',
  etcd: 'etcd-server',
  etcdctl: 'etcd-client',
};

/** findTool returns the path of `tool` on PATH (plus /usr/sbin, /sbin), or null. */
export function findTool(tool: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, tool);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * requireTools throws one ToolMissingError naming every missing tool and the apt-get command that
 * installs them all; `has` defaults to a PATH lookup (tests inject a fake).
 */
export function requireTools(
  tools: readonly string[],
  has: (tool: string) => boolean = (t) => findTool(t) !== null,
): void {
  const missing = tools.filter((t) => !has(t));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((t) => TOOLS[t]!))];
  throw new ToolMissingError(missing.join(', '), `apt-get install -y ${pkgs.join(' ')}`);
}

/** isRoot is true when this process may create namespaces, veth pairs and TUN devices. */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
