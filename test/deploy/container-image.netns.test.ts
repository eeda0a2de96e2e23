/**
 * deploy/container/Dockerfile, built and run: a private dockerd (its own socket, data and exec
 * roots in a temp dir, no bridge, no iptables; stopped by PID) builds the image from this tree
 * on a node:20-bookworm-slim stand-in (scripts/container-base.sh: debootstrap'd bookworm plus
 * this machine's Node.js 20, cached in /var/cache/weft; there is no registry), then the image:
 *   - prints `weft --version`;
 *   - explains and `capture -r`s the fixture pcaps exactly as the host's weft does (libpcap and
 *     the cap addon load);
 *   - runs `weft link` (weft's native addon: TUN, batched UDP) in a container whose network
 *     namespace the test joins to a kernel flannel VTEP by veth: pings cross kernel VXLAN and
 *     weft in the container both ways, and `weft mtu-probe` in the container finds 1450;
 *   - has no compiler (gcc, cc, g++, make).
 * The build reaches Debian's mirror and the npm registry (`docker build --network host`, dockerd
 * runs in the host's namespace for that); everything run afterwards has `--network none` or a
 * namespace the test made. Needs root, docker.io and debootstrap (scripts/setup.sh). About 2-2.5
 * minutes on 2 cores with the base cached, 40-70 s more without.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Netns,
  Proc,
  REPO_ROOT,
  WEFT_BIN,
  addKernelFlannelPeer,
  cleanupFor,
  ping,
  requireRoot,
  run,
  setupKernelFlannel,
  uniqueName,
  waitFor,
} from '../helpers/netns';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
const MINUTE = 60_000;

test('the image builds from deploy/container/Dockerfile and runs weft without a toolchain (root, docker.io, debootstrap)', async (t) => {
  requireRoot();
  for (const tool of ['dockerd', 'docker', 'debootstrap']) {
    assert.equal(
      spawnSync('sh', ['-c', `command -v ${tool}`]).status,
      0,
      `${tool} missing: scripts/setup.sh installs docker.io and debootstrap`,
    );
  }
  const cleanup = cleanupFor(t);
  const dir = mkdtempSync(join(tmpdir(), 'weft-image-'));
  cleanup.add(`rm -rf ${dir}`, () => {
    // dockerd 20.10 leaves its bind mount of the host's netns (exec/netns/default) behind.
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`))
      .reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
  });

  // 1. A private dockerd in the host's namespace: the build needs Debian's mirror and npm.
  const sock = `unix://${dir}/docker.sock`;
  // A Proc: killed by PID on cleanup, and on exit should the runner die first.
  const dockerd = new Proc('dockerd', 'dockerd', [
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false',
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'dockerd.pid'), '-H', sock,
  ]); // prettier-ignore
  cleanup.add(`stop dockerd (pid ${dockerd.pid})`, async () => void (await dockerd.stop(20_000)));
  // The legacy builder: dockerd 20.10 and no buildx plugin here; the Dockerfile needs nothing newer.
  const env = { ...process.env, DOCKER_BUILDKIT: '0' };
  const docker = (
    args: string[],
    timeoutMs = MINUTE,
  ): { status: number | null; out: string; err: string } => {
    const r = spawnSync('docker', ['-H', sock, ...args], {
      encoding: 'utf8',
      env,
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    });
    return {
      status: r.status,
      out: r.stdout ?? '',
      err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`,
    };
  };
  const dockerOk = (args: string[], timeoutMs = MINUTE): string => {
    const r = docker(args, timeoutMs);
    assert.equal(r.status, 0, `docker ${args.join(' ')}:\n${r.out.slice(-3000)}\n${r.err.slice(-3000)}`);
    return r.out;
  };
  await waitFor(
    () => docker(['version']).status === 0,
    45_000,
    'dockerd up',
    () => dockerd.log.slice(-4000),
  );

  // 2. The base image (cached rootfs; this machine's CAs so npm ci works behind a TLS-inspecting
  //    proxy: the stand-in carries them, the Dockerfile does not).
  let started = Date.now();
  const base = run(join(REPO_ROOT, 'scripts', 'container-base.sh'), ['--trust-host-cas', '-H', sock], {
    timeoutMs: 15 * MINUTE,
  }).trim();
  assert.match(base, /^weft-base\/node:20-bookworm-slim-[0-9a-f]{12}$/);
  t.diagnostic(`base image ${base}: ${((Date.now() - started) / 1000).toFixed(0)} s`);

  // 3. The build, as deploy/README.md says, from this tree.
  started = Date.now();
  const image = `weft-test/weft:${process.pid}`;
  dockerOk(
    [
      'build', '--network', 'host', '--build-arg', `NODE_IMAGE=${base}`,
      '-f', join(REPO_ROOT, 'deploy', 'container', 'Dockerfile'), '-t', image, REPO_ROOT,
    ], // prettier-ignore
    25 * MINUTE,
  );
  const size = Number(dockerOk(['image', 'inspect', '-f', '{{.Size}}', image]).trim());
  t.diagnostic(
    `docker build: ${((Date.now() - started) / 1000).toFixed(0)} s, image ${(size / 1e6).toFixed(0)} MB`,
  );

  const runImage = (args: string[], opts: string[] = []): string =>
    dockerOk(['run', '--rm', '--network', 'none', ...opts, image, ...args]);

  await t.test('weft --version is the package version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(runImage(['--version']), `weft ${pkg.version}\n`);
  });

  await t.test('explain and capture -r of the fixtures print what the host weft prints', () => {
    // Mounted at the same path, so the file names in the output match too.
    const mount = ['-v', `${FIXTURES}:${FIXTURES}:ro`];
    const cases: Array<[string[], RegExp]> = [
      [['explain', '--pcap', join(FIXTURES, 'kernel-vxlan-8472.pcap'), '--frame', '3'], /^outer VXLAN /m],
      [['capture', '-r', join(FIXTURES, 'kernel-vxlan-offload-8472.pcapng')], / VXLAN vni 1 \| /],
      [['capture', '-r', join(FIXTURES, 'kernel-vxlan-8472.pcap'), '-c', '2'], / ICMP echo reply /],
    ];
    for (const [args, expected] of cases) {
      const inImage = runImage(args, mount);
      const onHost = run(process.execPath, [WEFT_BIN, ...args]);
      assert.match(onHost, expected, `host output of ${args.join(' ')}`);
      assert.equal(inImage, onHost, args.join(' '));
    }
  });

  await t.test('weft link in the container forwards between a kernel flannel VTEP and its TUN', async () => {
    // The container's own namespace (--network none), named so the test can wire it, joined by
    // veth to a namespace with flannel's kernel VTEP for 10.244.0.0/24.
    const name = `weft-link-${process.pid}`;
    dockerOk([
      'run', '-d', '--name', name, '--network', 'none', '--cap-add', 'NET_ADMIN', '--device', '/dev/net/tun',
      '--entrypoint', 'sleep', image, 'infinity',
    ]); // prettier-ignore
    cleanup.add(`docker rm -f ${name}`, () => void docker(['rm', '-f', name]));
    const pid = dockerOk(['inspect', '-f', '{{.State.Pid}}', name]).trim();
    const c = uniqueName('wtc');
    run('ip', ['netns', 'attach', c, pid]);
    cleanup.add(`ip netns del ${c}`, () => void run('ip', ['netns', 'del', c]));
    const a = Netns.create(cleanup, 'wta');
    const aDev = uniqueName('va');
    const cDev = uniqueName('vc');
    run('ip', ['link', 'add', aDev, 'netns', a.name, 'type', 'veth', 'peer', 'name', cDev, 'netns', c]);
    a.ip('addr', 'add', '192.0.2.1/24', 'dev', aDev);
    a.ip('link', 'set', aDev, 'up');
    run('ip', ['-n', c, 'addr', 'add', '192.0.2.2/24', 'dev', cDev]);
    run('ip', ['-n', c, 'link', 'set', cDev, 'up']);
    run('ip', ['-n', c, 'addr', 'add', '10.244.1.1/32', 'dev', 'lo']);
    const k = setupKernelFlannel(a, {
      local: '192.0.2.1',
      underlayDev: aDev,
      subnet: '10.244.0.0/24',
      underlayMtu: 1500,
    });

    const link = new Proc('weft link (container)', 'docker', [
      '-H', sock, 'exec', name, '/opt/weft/bin/weft', 'link', '--backend', 'vxlan', '--dev', 'weft.1',
      '--local', '192.0.2.2', '--address', '10.244.1.0/32', '--peer', `10.244.0.0/24=192.0.2.1,${k.mac}`,
    ]); // prettier-ignore
    cleanup.add(`stop weft link client (pid ${link.pid})`, async () => void (await link.stop(2000)));
    const startLine = await link.waitForLine(/^weft link: dev /, 20_000);
    const mac = /vtep-mac ([0-9a-f:]{17})/.exec(startLine)?.[1];
    assert.ok(mac, startLine);
    await link.waitForLine(/^ready$/, 20_000);
    addKernelFlannelPeer(a, k, { subnet: '10.244.1.0/24', mac, publicIp: '192.0.2.2' });

    // weft's TUN is the only way into 10.244.1.0/24: no kernel VXLAN device in the container.
    const links = run('ip', ['-n', c, '-d', 'link', 'show']);
    assert.match(links, /weft\.1: .*\n.*\n\s+tun type tun/, links);
    assert.doesNotMatch(links, /vxlan id/, links);
    const r = ping(a, '10.244.1.1', { source: k.podIp, count: 3 });
    assert.equal(r.received, 3, `${r.output}\n${link.log}`);
    // mtu-probe from the image across its own TUN: the overlay path MTU of a 1500-byte underlay.
    const probe = JSON.parse(
      dockerOk(['exec', name, '/opt/weft/bin/weft', 'mtu-probe', k.podIp, '--json']),
    ) as { overlayPathMtu: number; impliedUnderlayMtu: number };
    assert.equal(probe.overlayPathMtu, 1450, JSON.stringify(probe));
    assert.equal(probe.impliedUnderlayMtu, 1500, JSON.stringify(probe));
  });

  await t.test('the image has no compiler or make', () => {
    const out = runImage(
      ['-c', 'for t in gcc cc g++ c++ make; do command -v "$t"; done; true'],
      ['--entrypoint', '/bin/sh'],
    );
    assert.equal(out, '', `toolchain in the runtime image: ${out}`);
    // ...and what weft needs at run time is there.
    const tools = runImage(
      ['-c', 'for t in ip iptables node; do command -v "$t"; done'],
      ['--entrypoint', '/bin/sh'],
    );
    assert.equal(tools.trim().split('\n').length, 3, tools);
  });
});
