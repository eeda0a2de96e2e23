/**
 * subnet-env: the subnet.env file flanneld writes for the CNI `flannel` plugin and Docker
 * (flannel `pkg/subnet/subnet.go` WriteSubnetFile; read back in `main.go` with godotenv).
 *
 * Format, exactly flannel's: `KEY=value\n` lines, no quotes, no `export`, in this order —
 * FLANNEL_NETWORK and FLANNEL_SUBNET (IPv4 enabled), FLANNEL_IPV6_NETWORK and FLANNEL_IPV6_SUBNET
 * (IPv6 enabled), FLANNEL_MTU, FLANNEL_IPMASQ (`true`/`false`). The subnet is written as its first
 * usable address (network + 1) with the lease's prefix length: `10.5.52.1/24`.
 * Written atomically (temp file in the same directory + rename), mode 0644 regardless of umask,
 * parents created 0755, so a reader never sees half a file.
 */

import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FormatError, SystemError } from '../errors';
import {
  Ipv4Net,
  Ipv6Net,
  u32ToIpv4,
  formatIpv6,
  ipv4NetToString,
  ipv6NetToString,
  parseIpv4Cidr,
  parseIpv6Cidr,
} from '../net/addr';

/** DEFAULT_SUBNET_FILE is flanneld's `--subnet-file` default. */
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';

/** SubnetEnv is the content of subnet.env. */
export interface SubnetEnv {
  /** Cluster IPv4 network (FLANNEL_NETWORK), null when IPv4 is disabled. */
  readonly network: Ipv4Net | null;
  /** This node's IPv4 lease subnet (written as FLANNEL_SUBNET=<network+1>/<len>). */
  readonly subnet: Ipv4Net | null;
  readonly ipv6Network: Ipv6Net | null;
  readonly ipv6Subnet: Ipv6Net | null;
  /** FLANNEL_MTU: the overlay MTU (backend MTU()). */
  readonly mtu: number;
  /** FLANNEL_IPMASQ: the value of --ip-masq. */
  readonly ipMasq: boolean;
}

/** formatSubnetEnv renders the file content exactly as flannel's WriteSubnetFile. */
export function formatSubnetEnv(env: SubnetEnv): string {
  let s = '';
  if (env.network && env.subnet) {
    s += `FLANNEL_NETWORK=${ipv4NetToString(env.network)}\n`;
    s += `FLANNEL_SUBNET=${u32ToIpv4((env.subnet.ip + 1) >>> 0)}/${env.subnet.prefixLen}\n`;
  }
  if (env.ipv6Network && env.ipv6Subnet) {
    s += `FLANNEL_IPV6_NETWORK=${ipv6NetToString(env.ipv6Network)}\n`;
    s += `FLANNEL_IPV6_SUBNET=${formatIpv6(env.ipv6Subnet.ip + 1n)}/${env.ipv6Subnet.prefixLen}\n`;
  }
  s += `FLANNEL_MTU=${env.mtu}\n`;
  s += `FLANNEL_IPMASQ=${env.ipMasq ? 'true' : 'false'}\n`;
  return s;
}

/**
 * writeSubnetEnv writes the file atomically; the old file (if any) stays intact on failure, which
 * is a SystemError naming the file and the errno.
 */
export async function writeSubnetEnv(file: string, env: SubnetEnv): Promise<void> {
  try {
    await writeAtomically(file, env);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new SystemError(`write ${file}`, err.code ?? 'EIO', err.message);
  }
}

async function writeAtomically(file: string, env: SubnetEnv): Promise<void> {
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    const fh = await fsp.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(formatSubnetEnv(env));
      await fh.chmod(0o644);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.unlink(tmp).catch(() => {});
    throw e;
  }
}

/** parseEnvText reads godotenv-style `KEY=value` lines (comments, `export`, quotes tolerated). */
export function parseEnvText(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if (/^"(.*)"$/.test(v) || /^'(.*)'$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '').trim();
    out.set(m[1]!, v);
  }
  return out;
}

/** PreviousSubnets is what a restart learns from an existing subnet.env. */
export interface PreviousSubnets {
  /** FLANNEL_SUBNET masked to its network (`10.5.52.1/24` -> 10.5.52.0/24), or null. */
  readonly subnet: Ipv4Net | null;
  readonly ipv6Subnet: Ipv6Net | null;
  readonly network: Ipv4Net | null;
  readonly ipv6Network: Ipv6Net | null;
  readonly mtu: number | null;
  readonly ipMasq: boolean | null;
}

/**
 * parseSubnetEnv reads subnet.env content. Like flannel, a value holding several comma-separated
 * entries is ignored; a malformed one is ignored too (the node then simply allocates afresh).
 */
export function parseSubnetEnv(text: string): PreviousSubnets {
  const kv = parseEnvText(text);
  const single = (k: string): string | null => {
    const v = kv.get(k);
    return v === undefined || v === '' || v.includes(',') ? null : v;
  };
  const v4 = (k: string): Ipv4Net | null => {
    const v = single(k);
    return v === null ? null : parseIpv4Cidr(v);
  };
  const v6 = (k: string): Ipv6Net | null => {
    const v = single(k);
    return v === null ? null : parseIpv6Cidr(v);
  };
  const mtuText = single('FLANNEL_MTU');
  const masq = single('FLANNEL_IPMASQ');
  return {
    subnet: v4('FLANNEL_SUBNET'),
    ipv6Subnet: v6('FLANNEL_IPV6_SUBNET'),
    network: v4('FLANNEL_NETWORK'),
    ipv6Network: v6('FLANNEL_IPV6_NETWORK'),
    mtu: mtuText !== null && /^\d+$/.test(mtuText) ? Number(mtuText) : null,
    ipMasq: masq === 'true' ? true : masq === 'false' ? false : null,
  };
}

/** readSubnetEnv reads and parses a subnet.env file; null when it does not exist. */
export async function readSubnetEnv(file: string): Promise<PreviousSubnets | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FormatError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parseSubnetEnv(text);
}
