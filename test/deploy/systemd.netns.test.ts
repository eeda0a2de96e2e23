/**
 * deploy/systemd's Docker drop-in for real: `dockerd --bip=${FLANNEL_SUBNET} --mtu=${FLANNEL_MTU}`,
 * expanded from the subnet.env a real `weft run` wrote in a namespace, gives Docker's bridge the
 * leased subnet and a container that subnet's next address and the overlay MTU. dockerd runs in
 * the namespace through nsenter (ip netns exec remounts /sys and hides the cgroup v1 mounts
 * dockerd needs). Needs root, docker.io and busybox-static (scripts/setup.sh).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Proc,
  REPO_ROOT,
  WEFT_BIN,
  cleanupFor,
  createUnderlay,
  requireRoot,
  run,
  waitFor,
} from '../helpers/netns';
import { readEnvironmentFile, unitValues } from './unit-file';

const DIR = join(REPO_ROOT, 'deploy', 'systemd');

test('dockerd started as the drop-in says gets the leased subnet and MTU from weft run (root, docker.io)', async (t) => {
  requireRoot();
  for (const tool of ['dockerd', 'docker', 'nsenter']) {
    assert.equal(
      spawnSync('sh', ['-c', `command -v ${tool}`]).status,
      0,
      `${tool} missing: scripts/setup.sh installs docker.io`,
    );
  }
  assert.ok(existsSync('/bin/busybox'), '/bin/busybox missing: scripts/setup.sh installs busybox-static');
  const cleanup = cleanupFor(t);
  const dir = mkdtempSync(join(tmpdir(), 'weft-docker-'));
  cleanup.add(`rm -rf ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const u = createUnderlay(cleanup);

  // 1. weft run leases a subnet and writes subnet.env.
  const netConf = join(dir, 'net-conf.json');
  writeFileSync(netConf, '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}');
  const subnetEnv = join(dir, 'subnet.env');
  u.a.spawn('weft run', process.execPath, [
    WEFT_BIN, 'run', '--store', 'embedded', '--store-dir', join(dir, 'store'), '--net-config-path', netConf,
    '--subnet-file', subnetEnv, '--vtep-state-dir', join(dir, 'state'), '--iface', u.aDev,
  ]); // prettier-ignore
  await waitFor(() => existsSync(subnetEnv), 20_000, 'subnet.env written by weft run');
  const lease = readEnvironmentFile(readFileSync(subnetEnv, 'utf8'));
  assert.match(lease.FLANNEL_SUBNET ?? '', /^10\.244\.\d+\.1\/24$/);
  assert.equal(lease.FLANNEL_MTU, '1450');

  // 2. The drop-in's dockerd command line, expanded from subnet.env as systemd expands ${VAR}.
  const dropIn = readFileSync(join(DIR, 'docker-weft.conf'), 'utf8');
  const exec = unitValues(dropIn, 'Service', 'ExecStart').filter((l) => l !== '');
  assert.equal(exec.length, 1);
  const words = exec[0]!.replace(/\$\{(\w+)\}/g, (_m, k: string) => lease[k] ?? '').split(' ');
  assert.equal(words[0], '/usr/sbin/dockerd');
  const overlayArgs = words.filter((w) => /^--(bip|mtu|ip-masq)=/.test(w));
  assert.deepEqual(overlayArgs, [
    `--bip=${lease.FLANNEL_SUBNET}`,
    `--mtu=${lease.FLANNEL_MTU}`,
    '--ip-masq=false',
  ]);
  // The host's socket, containerd and iptables are replaced by private ones for the test.
  const dk = join(dir, 'docker');
  mkdirSync(dk);
  const sock = `unix://${dk}/docker.sock`;
  // A Proc: killed by PID on cleanup, and on exit should the runner die first.
  const dockerd = new Proc('dockerd', 'nsenter', [
    `--net=/var/run/netns/${u.a.name}`, 'dockerd', ...overlayArgs, '--iptables=false', '--ip6tables=false',
    '--data-root', join(dk, 'data'), '--exec-root', join(dk, 'exec'),
    '--pidfile', join(dk, 'dockerd.pid'), '-H', sock,
  ]); // prettier-ignore
  cleanup.add(`stop dockerd (pid ${dockerd.pid})`, async () => void (await dockerd.stop(15_000)));
  const docker = (...args: string[]): string => run('docker', ['-H', sock, ...args], { timeoutMs: 60_000 });
  await waitFor(
    () => spawnSync('docker', ['-H', sock, 'version'], { stdio: 'ignore' }).status === 0,
    45_000,
    'dockerd up',
    () => dockerd.log.slice(-4000),
  );

  // 3. Docker's bridge has the leased subnet's first address.
  const br = JSON.parse(u.a.ip('-j', 'addr', 'show', 'docker0')) as Array<{
    addr_info: Array<{ family: string; local: string; prefixlen: number }>;
  }>;
  const v4 = br[0]!.addr_info.find((a) => a.family === 'inet')!;
  assert.equal(`${v4.local}/${v4.prefixlen}`, lease.FLANNEL_SUBNET);

  // 4. A container (image imported from a busybox rootfs: there is no registry) gets an address
  //    in the leased subnet and the overlay MTU.
  const rootfs = join(dk, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  run('tar', ['-C', rootfs, '-cf', join(dk, 'rootfs.tar'), '.']);
  docker('import', join(dk, 'rootfs.tar'), 'weft-test-busybox:1');
  const out = docker(
    'run', '--rm', 'weft-test-busybox:1', '/bin/busybox', 'sh', '-c',
    '/bin/busybox ip -o -4 addr show eth0; /bin/busybox cat /sys/class/net/eth0/mtu',
  ); // prettier-ignore
  const prefix = lease.FLANNEL_SUBNET!.replace(/\.1\/24$/, '.');
  assert.match(out, new RegExp(`inet ${prefix.replace(/\./g, '\\.')}\\d+/24 `), out);
  assert.equal(out.trim().split('\n').at(-1), lease.FLANNEL_MTU, out);
});
