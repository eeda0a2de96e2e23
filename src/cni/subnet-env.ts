/**
 * subnet-env (CNI side): subnet.env as flannel's CNI plugin reads it (flannel-io/cni-plugin
 * `flannel.go` loadFlannelSubnetEnv), which is stricter and simpler than flanneld's own reader:
 *   - one `KEY=value` per line, split at the first `=`; unknown keys are ignored;
 *   - FLANNEL_NETWORK / FLANNEL_IPV6_NETWORK are comma lists of CIDRs, duplicates dropped;
 *   - FLANNEL_SUBNET / FLANNEL_IPV6_SUBNET are CIDRs, kept as their network (`10.244.1.0/24`);
 *   - FLANNEL_MTU is an unsigned integer; FLANNEL_IPMASQ is true only when exactly `true`;
 *   - a bad value fails with Go's parse message; absent keys fail with flannel's
 *     `<file> is missing <keys>` (a network and a subnet of either family, the MTU, the masquerade flag).
 */
import fs from 'node:fs';
import { ipv4NetToString, ipv6NetToString, parseIpv4Cidr, parseIpv6Cidr } from '../net/addr';

/** FlannelSubnetEnv is what the plugin takes from subnet.env; networks are canonical CIDR strings. */
export interface FlannelSubnetEnv {
  readonly networks: readonly string[];
  readonly subnet: string | null;
  readonly ip6Networks: readonly string[];
  readonly ip6Subnet: string | null;
  readonly mtu: number | null;
  readonly ipmasq: boolean | null;
}

/** parseGoCidr parses a CIDR like Go's net.ParseCIDR and returns its network, or throws Go's message. */
export function parseGoCidr(s: string): string {
  const v4 = parseIpv4Cidr(s);
  if (v4) return ipv4NetToString(v4);
  const v6 = parseIpv6Cidr(s);
  if (v6) return ipv6NetToString(v6);
  throw new Error(`invalid CIDR address: ${s}`);
}

function parseCidrList(value: string): string[] {
  const out: string[] = [];
  for (const c of value.split(',')) {
    const n = parseGoCidr(c);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

function parseUint32(s: string): number {
  if (!/^\d+$/.test(s)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (n > 0xffffffff) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

/** parseFlannelSubnetEnv parses subnet.env text; `file` names it in the "is missing" error. */
export function parseFlannelSubnetEnv(text: string, file: string): FlannelSubnetEnv {
  let networks: string[] = [];
  let ip6Networks: string[] = [];
  let subnet: string | null = null;
  let ip6Subnet: string | null = null;
  let mtu: number | null = null;
  let ipmasq: boolean | null = null;
  // bufio.Scanner's lines: split on \n, a trailing \r dropped.
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    const value = eq < 0 ? '' : line.slice(eq + 1);
    switch (key) {
      case 'FLANNEL_NETWORK':
        networks = parseCidrList(value);
        break;
      case 'FLANNEL_SUBNET':
        subnet = parseGoCidr(value);
        break;
      case 'FLANNEL_IPV6_NETWORK':
        ip6Networks = parseCidrList(value);
        break;
      case 'FLANNEL_IPV6_SUBNET':
        ip6Subnet = parseGoCidr(value);
        break;
      case 'FLANNEL_MTU':
        mtu = parseUint32(value);
        break;
      case 'FLANNEL_IPMASQ':
        ipmasq = value === 'true';
        break;
    }
  }
  const missing: string[] = [];
  if (networks.length === 0 && ip6Networks.length === 0)
    missing.push('FLANNEL_NETWORK', 'FLANNEL_IPV6_NETWORK');
  if (subnet === null && ip6Subnet === null) missing.push('FLANNEL_SUBNET', 'FLANNEL_IPV6_SUBNET');
  if (mtu === null) missing.push('FLANNEL_MTU');
  if (ipmasq === null) missing.push('FLANNEL_IPMASQ');
  if (missing.length > 0) throw new Error(`${file} is missing ${missing.join(', ')}`);
  return { networks, subnet, ip6Networks, ip6Subnet, mtu, ipmasq };
}

/** goOpenError words a failed open as Go's os.Open does (`open <file>: no such file or directory`). */
export function goOpenError(file: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
  };
  return `open ${file}: ${(code && words[code]) ?? (e as Error).message}`;
}

/** loadFlannelSubnetEnv reads and parses `file`; errors carry flannel's messages. */
export function loadFlannelSubnetEnv(file: string): FlannelSubnetEnv {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(goOpenError(file, e));
  }
  return parseFlannelSubnetEnv(text, file);
}
