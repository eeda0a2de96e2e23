/**
 * host: what the kernel says about this node, read once per `weft doctor` run through iproute2's
 * JSON output (`ip -j`, `bridge -j`), `ethtool -k` and procfs. Every read is on the control path
 * and may fail (tool missing, device gone); a failed read is recorded, not thrown, so the checks
 * can say what they could not see.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** HostLink is one interface with what the checks need from `ip -j -d addr show`. */
export interface HostLink {
  readonly name: string;
  readonly mtu: number;
  /** linkinfo.info_kind: `vxlan`, `tun`, `veth`, `bridge`, ... or `''` for a plain NIC. */
  readonly kind: string;
  /** Link-layer address, lower case, or null (TUN devices have none). */
  readonly mac: string | null;
  readonly up: boolean;
  /** IPv4 addresses as `a.b.c.d/len`. */
  readonly addrs: readonly string[];
  /** Kernel VXLAN parameters. */
  readonly vxlan?: {
    readonly vni: number;
    readonly port: number;
    readonly local?: string;
    readonly lower?: string;
  };
}

/** HostRoute is one main-table route from `ip -j route show`. */
export interface HostRoute {
  /** `10.244.1.0/24`; a host route is printed without `/32`; `default`. */
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly type?: string;
  readonly flags: readonly string[];
}

/** HostNeigh is one neighbour entry of a device. */
export interface HostNeigh {
  readonly dst: string;
  readonly lladdr?: string;
  readonly state: readonly string[];
}

/** HostFdb is one forwarding-database entry of a VXLAN device. */
export interface HostFdb {
  readonly mac: string;
  readonly dst?: string;
  readonly state?: string;
}

/** ToolOutput is a command's stdout, or why it failed. */
export type ToolOutput = { ok: true; stdout: string } | { ok: false; missing: boolean; error: string };

/** runTool runs `cmd args` (no shell) with a timeout and never throws. */
export function runTool(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<ToolOutput> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err === null) resolve({ ok: true, stdout });
      else
        resolve({
          ok: false,
          missing: (err as NodeJS.ErrnoException).code === 'ENOENT',
          error: (stderr || err.message).trim(),
        });
    });
  });
}

function json<T>(out: ToolOutput): T[] | null {
  if (!out.ok) return null;
  try {
    const v = JSON.parse(out.stdout.trim() === '' ? '[]' : out.stdout) as unknown;
    return Array.isArray(v) ? (v as T[]) : null;
  } catch {
    return null;
  }
}

/** readLinks is every interface with its kind, MTU, MAC and IPv4 addresses; null when `ip` failed. */
export async function readLinks(): Promise<HostLink[] | null> {
  const rows = json<{
    ifname: string;
    mtu: number;
    flags?: string[];
    address?: string;
    link_type?: string;
    linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
    addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
  }>(await runTool('ip', ['-j', '-d', 'addr', 'show']));
  if (!rows) return null;
  return rows.map((r) => {
    const kind = r.linkinfo?.info_kind ?? '';
    const d = r.linkinfo?.info_data;
    const link: HostLink = {
      name: r.ifname,
      mtu: r.mtu,
      kind,
      mac: r.link_type === 'ether' && r.address ? r.address.toLowerCase() : null,
      up: (r.flags ?? []).includes('UP'),
      addrs: (r.addr_info ?? [])
        .filter((a) => a.family === 'inet' && a.local)
        .map((a) => `${a.local}/${a.prefixlen ?? 32}`),
      ...(kind === 'vxlan' && d
        ? {
            vxlan: {
              vni: Number(d.id ?? 0),
              port: Number(d.port ?? 8472),
              ...(typeof d.local === 'string' ? { local: d.local } : {}),
              ...(typeof d.link === 'string' ? { lower: d.link } : {}),
            },
          }
        : {}),
    };
    return link;
  });
}

/** readRoutes is the main IPv4 routing table; null when `ip` failed. */
export async function readRoutes(): Promise<HostRoute[] | null> {
  const rows = json<{ dst: string; gateway?: string; dev?: string; type?: string; flags?: string[] }>(
    await runTool('ip', ['-j', '-4', 'route', 'show', 'table', 'main']),
  );
  return rows?.map((r) => ({ ...r, flags: r.flags ?? [] })) ?? null;
}

/** readNeigh is the IPv4 neighbour table of `dev`; null when `ip` failed. */
export async function readNeigh(dev: string): Promise<HostNeigh[] | null> {
  const rows = json<{ dst: string; lladdr?: string; state?: string[] }>(
    await runTool('ip', ['-j', '-4', 'neigh', 'show', 'dev', dev]),
  );
  return rows?.map((r) => ({ dst: r.dst, lladdr: r.lladdr?.toLowerCase(), state: r.state ?? [] })) ?? null;
}

/** readFdb is the forwarding database of a VXLAN device; null when `bridge` failed or is missing. */
export async function readFdb(dev: string): Promise<HostFdb[] | null> {
  const rows = json<{ mac: string; dst?: string; state?: string }>(
    await runTool('bridge', ['-j', 'fdb', 'show', 'dev', dev]),
  );
  return rows?.map((r) => ({ mac: r.mac.toLowerCase(), dst: r.dst, state: r.state })) ?? null;
}

/** readOffloads is `ethtool -k DEV` as feature -> on; null when ethtool is missing or failed. */
export async function readOffloads(dev: string): Promise<Map<string, boolean> | null> {
  const out = await runTool('ethtool', ['-k', dev]);
  if (!out.ok) return null;
  const m = new Map<string, boolean>();
  for (const line of out.stdout.split('\n')) {
    const x = /^\s*([a-z0-9-]+):\s+(on|off)\b/.exec(line);
    if (x) m.set(x[1]!, x[2] === 'on');
  }
  return m;
}

/** readSysctl reads `/proc/sys/<path>` (dots as slashes); null when unreadable. */
export async function readSysctl(name: string): Promise<string | null> {
  try {
    return (await readFile(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8')).trim();
  } catch {
    return null;
  }
}
