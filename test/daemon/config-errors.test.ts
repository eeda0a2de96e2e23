/**
 * Every invalid network-config field and flag makes `weft run` exit non-zero with an error that
 * names the field, and writes nothing: no subnet.env, no lease, no VTEP state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const WEFT = path.join(__dirname, '..', '..', '..', 'bin', 'weft');

interface Case {
  name: string;
  /** Network config text (written to --net-config-path, or to the store with `inStore`). */
  config?: string;
  inStore?: boolean;
  args?: string[];
  env?: Record<string, string>;
  /** Field the error must name. */
  field: string;
  /** Expected exit code (1 config error, 2 usage error). */
  code?: number;
}

const GOOD = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const CASES: Case[] = [
  { name: 'not JSON', config: '{"Network":', field: 'config' },
  { name: 'missing Network', config: '{"Backend":{"Type":"vxlan"}}', field: 'Network' },
  { name: 'bad Network', config: '{"Network":"10.244.0.0/33","Backend":{"Type":"vxlan"}}', field: 'Network' },
  {
    name: 'Network too small',
    config: '{"Network":"10.244.0.0/29","Backend":{"Type":"vxlan"}}',
    field: 'Network',
  },
  {
    name: 'SubnetLen 31',
    config: '{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}',
    field: 'SubnetLen',
  },
  {
    name: 'SubnetLen too short',
    config: '{"Network":"10.244.0.0/16","SubnetLen":17,"Backend":{"Type":"vxlan"}}',
    field: 'SubnetLen',
  },
  {
    name: 'SubnetLen not a number',
    config: '{"Network":"10.244.0.0/16","SubnetLen":"24","Backend":{"Type":"vxlan"}}',
    field: 'SubnetLen',
  },
  {
    name: 'SubnetMin outside',
    config: '{"Network":"10.244.0.0/16","SubnetMin":"10.245.1.0","Backend":{"Type":"vxlan"}}',
    field: 'SubnetMin',
  },
  {
    name: 'SubnetMax unaligned',
    config: '{"Network":"10.244.0.0/16","SubnetMax":"10.244.9.7","Backend":{"Type":"vxlan"}}',
    field: 'SubnetMax',
  },
  {
    name: 'SubnetMin > SubnetMax',
    config:
      '{"Network":"10.244.0.0/16","SubnetMin":"10.244.9.0","SubnetMax":"10.244.3.0","Backend":{"Type":"vxlan"}}',
    field: 'SubnetMin',
  },
  {
    name: 'EnableIPv4 not bool',
    config: '{"Network":"10.244.0.0/16","EnableIPv4":"yes","Backend":{"Type":"vxlan"}}',
    field: 'EnableIPv4',
  },
  {
    name: 'EnableIPv6 (IPv4-only dataplane)',
    config:
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}',
    field: 'EnableIPv6',
  },
  {
    name: 'bad IPv6Network',
    config:
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"10.0.0.0/8","Backend":{"Type":"vxlan"}}',
    field: 'IPv6Network',
  },
  {
    name: 'Backend not an object',
    config: '{"Network":"10.244.0.0/16","Backend":"vxlan"}',
    field: 'Backend',
  },
  {
    name: 'Backend.Type missing',
    config: '{"Network":"10.244.0.0/16","Backend":{"VNI":1}}',
    field: 'Backend.Type',
  },
  {
    name: 'Backend.Type ipip',
    config: '{"Network":"10.244.0.0/16","Backend":{"Type":"ipip"}}',
    field: 'Backend.Type',
  },
  {
    name: 'Backend.VNI too big',
    config: '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}',
    field: 'Backend.VNI',
  },
  {
    name: 'Backend.Port out of range',
    config: '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","Port":70000}}',
    field: 'Backend.Port',
  },
  {
    name: 'Backend.MTU too small',
    config: '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":100}}',
    field: 'Backend.MTU',
  },
  {
    name: 'Backend.GBP',
    config: '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","GBP":true}}',
    field: 'Backend.GBP',
  },
  {
    name: 'Backend.DirectRouting not bool',
    config: '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":1}}',
    field: 'Backend.DirectRouting',
  },
  {
    name: 'udp Backend.Port 0',
    config: '{"Network":"10.244.0.0/16","Backend":{"Type":"udp","Port":0}}',
    field: 'Backend.Port',
  },
  {
    name: 'store config invalid',
    config: '{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}',
    inStore: true,
    field: 'SubnetLen',
  },
  { name: 'store config missing', inStore: true, field: 'config' },
  {
    name: '--net-config-path unreadable',
    args: ['--net-config-path', '/nonexistent/net-conf.json'],
    field: '--net-config-path',
  },
  {
    name: '--subnet-lease-renew-margin 0',
    config: GOOD,
    args: ['--subnet-lease-renew-margin', '0'],
    field: '--subnet-lease-renew-margin',
    code: 2,
  },
  {
    name: '--subnet-lease-renew-margin 1440',
    config: GOOD,
    args: ['--subnet-lease-renew-margin=1440'],
    field: '--subnet-lease-renew-margin',
    code: 2,
  },
  {
    name: '--public-ip bad',
    config: GOOD,
    args: ['--public-ip', '192.0.2.300'],
    field: '--public-ip',
    code: 2,
  },
  {
    name: '--healthz-port out of range',
    config: GOOD,
    args: ['--healthz-port', '70000'],
    field: '--healthz-port',
    code: 2,
  },
  { name: '--store unknown', config: GOOD, args: ['--store', 'consul'], field: '--store', code: 2 },
  { name: '--io unknown', config: GOOD, args: ['--io', 'uring'], field: '--io', code: 2 },
  {
    name: 'FLANNELD_IP_MASQ not bool',
    config: GOOD,
    env: { FLANNELD_IP_MASQ: 'maybe' },
    field: 'FLANNELD_IP_MASQ',
  },
  {
    name: 'FLANNELD_SUBNET_LEASE_RENEW_MARGIN',
    config: GOOD,
    env: { FLANNELD_SUBNET_LEASE_RENEW_MARGIN: '5000' },
    field: 'FLANNELD_SUBNET_LEASE_RENEW_MARGIN',
  },
  {
    name: '--etcd-keyfile without certfile',
    config: GOOD,
    args: ['--etcd-keyfile', '/tmp/k.pem'],
    field: '--etcd-certfile',
    code: 2,
  },
  {
    name: '--store embedded with --etcd-endpoints',
    config: GOOD,
    args: ['--store', 'embedded', '--etcd-endpoints', 'http://127.0.0.1:2379'],
    field: '--store',
    code: 2,
  },
  {
    name: 'host-gw behind NAT (--public-ip is not the interface address)',
    config: '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}',
    args: ['--iface', 'lo'],
    field: '--public-ip',
  },
  { name: 'unknown flag', config: GOOD, args: ['--no-such-flag'], field: 'unknown flag', code: 2 },
];

function runWeft(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [WEFT, 'run', ...args],
      { env: { ...process.env, ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
      },
    );
  });
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

test('weft run: every invalid config field and flag is a clear error, exit != 0, nothing written', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cfgerr-'));
  try {
    // Spawned in parallel (a few at a time): each case fails before touching the network.
    const results: string[] = [];
    const queue = CASES.map((c, i) => async () => {
      const dir = path.join(base, `case${i}`);
      const storeDir = path.join(dir, 'store');
      const state = path.join(dir, 'state');
      fs.mkdirSync(dir, { recursive: true });
      const args = [
        '--store-dir',
        storeDir,
        '--subnet-file',
        path.join(dir, 'run', 'subnet.env'),
        '--vtep-state-dir',
        state,
        '--public-ip',
        '192.0.2.1',
      ];
      if (c.config !== undefined && c.inStore) {
        fs.mkdirSync(path.join(storeDir, 'coreos.com', 'network'), { recursive: true });
        fs.writeFileSync(path.join(storeDir, 'coreos.com', 'network', 'config'), c.config);
      } else if (c.config !== undefined) {
        fs.writeFileSync(path.join(dir, 'net-conf.json'), c.config);
        args.push('--net-config-path', path.join(dir, 'net-conf.json'));
      }
      const before = new Set(listFiles(dir));
      const r = await runWeft([...args, ...(c.args ?? [])], c.env ?? {});
      const written = listFiles(dir).filter((f) => !before.has(f));
      const problems: string[] = [];
      if (r.code !== (c.code ?? 1)) problems.push(`exit ${r.code}, want ${c.code ?? 1}`);
      if (!r.stderr.includes(c.field)) problems.push(`stderr does not name ${c.field}`);
      if (written.length > 0) problems.push(`wrote ${written.join(', ')}`);
      if (problems.length > 0)
        results.push(
          `${c.name}: ${problems.join('; ')}\n    stderr: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`,
        );
      // A config error is one JSON log line naming the field (usage errors print the usage text).
      if ((c.code ?? 1) === 1 && r.code === 1) {
        const line = r.stderr
          .trim()
          .split('\n')
          .find((l) => l.includes('"level":"error"'));
        if (!line) results.push(`${c.name}: no JSON error line`);
        else
          assert.equal(
            (JSON.parse(line) as { fields?: { code?: string } }).fields?.code,
            'WEFT_ERR_CONFIG',
            `${c.name}: ${line}`,
          );
      }
    });
    const workers = Array.from({ length: 4 }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    });
    await Promise.all(workers);
    assert.deepEqual(results, [], `failing cases:\n${results.join('\n')}`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
