/**
 * A `weft run` that cannot start leaves nothing behind, in a network namespace with real iptables
 * (needs root; CI runs as root). Each case must exit 1 within seconds with one JSON error line
 * carrying a stable code and naming the field, and afterwards the store holds no lease, the state
 * directory no VTEP file, the namespace no flannel.1 device, no route into it and no FLANNEL-FWD /
 * FLANNEL-POSTRTG chain:
 *   - `--subnet-file`, `--vtep-state-dir`, `--store-dir` under a regular file (permanent local
 *     errors: named config errors, not retried as if a store were unreachable);
 *   - the VXLAN UDP port already taken (a second node on the same address);
 *   - a failure after the lease: a non-TUN `flannel.1` already there (a kernel VXLAN device left by
 *     flannel) makes the TUN open fail, and the lease and VTEP file written before are rolled back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Testbed } from '../../src/testing/testbed';
import { sleep } from '../../src/testing/shell';
import { CONFIG, needRoot } from './cluster-helpers';

interface Leftovers {
  leases: string[];
  vtepFiles: string[];
  device: boolean;
  routes: string;
  chains: string[];
}

function leftovers(tb: Testbed, stateDir: string): Leftovers {
  const nd = tb.nodes[0]!;
  const subnets = path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
  const leases = fs.existsSync(subnets) ? fs.readdirSync(subnets).filter((n) => !n.startsWith('.')) : [];
  const vtepFiles =
    fs.existsSync(stateDir) && fs.statSync(stateDir).isDirectory()
      ? fs.readdirSync(stateDir).filter((n) => n.startsWith('vtep-'))
      : [];
  const links = tb.execIn(nd.ns, 'ip', ['-br', 'link']);
  const device = /^flannel\.1[\s@]/m.test(links);
  const routes = tb.execIn(nd.ns, 'ip', ['route']);
  const chains: string[] = [];
  for (const table of ['filter', 'nat']) {
    const out = tb.execIn(nd.ns, 'iptables-save', ['-t', table]);
    for (const l of out.split('\n')) if (/^:FLANNEL-/.test(l)) chains.push(l.split(' ')[0]!.slice(1));
  }
  return { leases, vtepFiles, device, routes, chains };
}

/** runToExit starts `weft run` in node 1 with `extra` and waits (bounded) for it to exit. */
async function runToExit(
  tb: Testbed,
  extra: string[],
  replace: Record<string, string> = {},
  ms = 20_000,
): Promise<{ code: number | null; log: string; error: Record<string, unknown> | null; msg: string }> {
  const nd = tb.nodes[0]!;
  const args = tb.weftArgs(nd, extra).filter((a) => a !== '--debug');
  for (const [flag, value] of Object.entries(replace)) args[args.indexOf(flag) + 1] = value;
  const p = tb.spawnIn(nd.ns, 'weft run failing', process.execPath, [tb.weftBin, 'run', ...args]);
  const end = Date.now() + ms;
  while (p.running && Date.now() < end) await sleep(100);
  if (p.running) {
    await p.stop(3000);
    assert.fail(`weft run did not exit within ${ms} ms:\n${p.log}`);
  }
  const ev = p.events.find((e) => e.level === 'error') ?? null;
  return { code: p.exitCode ?? null, log: p.log, error: ev?.fields ?? null, msg: ev?.msg ?? '' };
}

function assertClean(tb: Testbed, stateDir: string, what: string, log: string): void {
  const l = leftovers(tb, stateDir);
  assert.deepEqual(l.leases, [], `${what}: a lease was left in the store\n${log}`);
  assert.deepEqual(l.vtepFiles, [], `${what}: a VTEP state file was left\n${log}`);
  assert.equal(l.device, false, `${what}: flannel.1 was left\n${log}`);
  assert.doesNotMatch(l.routes, /10\.244\./, `${what}: an overlay route was left`);
  assert.deepEqual(l.chains, [], `${what}: iptables chains were left\n${log}`);
}

test('weft run: failed starts exit 1 with a named error and leave nothing behind', async (t) => {
  needRoot();
  const tb = await Testbed.create({ nodes: 1, tag: 'fs' });
  t.after(() => tb.cleanup());
  tb.writeConfig(CONFIG);
  const nd = tb.nodes[0]!;
  const blocker = path.join(tb.dir, 'a-regular-file');
  fs.writeFileSync(blocker, 'not a directory\n');
  const netConf = path.join(tb.dir, 'net-conf.json');
  fs.writeFileSync(netConf, CONFIG);

  await t.test('--subnet-file under a regular file', async () => {
    const r = await runToExit(tb, ['--ip-masq'], { '--subnet-file': path.join(blocker, 'subnet.env') });
    assert.equal(r.code, 1, r.log);
    assert.equal(r.error?.code, 'WEFT_ERR_CONFIG', r.log);
    assert.equal(r.error?.field, '--subnet-file', r.log);
    assertClean(tb, nd.dir, '--subnet-file', r.log);
  });

  await t.test('--vtep-state-dir under a regular file', async () => {
    const dir = path.join(blocker, 'state');
    const r = await runToExit(tb, [], { '--vtep-state-dir': dir });
    assert.equal(r.code, 1, r.log);
    assert.equal(r.error?.code, 'WEFT_ERR_CONFIG', r.log);
    assert.equal(r.error?.field, '--vtep-state-dir', r.log);
    assertClean(tb, nd.dir, '--vtep-state-dir', r.log);
  });

  await t.test('--store-dir under a regular file: a config error at once, not retried', async () => {
    const r = await runToExit(tb, ['--net-config-path', netConf], {
      '--store-dir': path.join(blocker, 'store'),
    });
    assert.equal(r.code, 1, r.log);
    assert.equal(r.error?.code, 'WEFT_ERR_CONFIG', r.log);
    assert.equal(r.error?.field, '--store-dir', r.log);
    assert.doesNotMatch(r.log, /retrying/, 'a local path error is not retried');
    assertClean(tb, nd.dir, '--store-dir', r.log);
  });

  await t.test('the VXLAN UDP port already taken: nothing leased', async () => {
    const holder = tb.spawnIn(nd.ns, 'port holder', 'socat', [
      '-u',
      `UDP4-RECV:8472,bind=${nd.ip}`,
      'STDOUT',
    ]);
    try {
      const end = Date.now() + 5000;
      while (!tb.execIn(nd.ns, 'ss', ['-Hulnp', 'sport = :8472']).includes('8472') && Date.now() < end)
        await sleep(50);
      const r = await runToExit(tb, ['--ip-masq']);
      assert.equal(r.code, 1, r.log);
      assert.equal(r.error?.code, 'WEFT_ERR_CONFIG', r.log);
      assert.match(r.msg, /8472/, r.log);
      assertClean(tb, nd.dir, 'port taken', r.log);
    } finally {
      await holder.stop(2000);
    }
  });

  await t.test('a failure after the lease rolls back the lease and the new VTEP file', async () => {
    // A kernel VXLAN flannel.1 (as flannel leaves it): the TUN of the same name cannot be opened.
    tb.execIn(nd.ns, 'ip', [
      'link',
      'add',
      'flannel.1',
      'type',
      'vxlan',
      'id',
      '1',
      'dstport',
      '8472',
      'nolearning',
    ]);
    try {
      const r = await runToExit(tb, []);
      assert.equal(r.code, 1, r.log);
      assert.match(String(r.error?.code), /^WEFT_ERR_/, r.log);
      assert.match(r.log, /Lease acquired/, 'the failure came after the lease');
      const l = leftovers(tb, nd.dir);
      assert.deepEqual(l.leases, [], `the new lease was released\n${r.log}`);
      assert.deepEqual(l.vtepFiles, [], `the new VTEP file was removed\n${r.log}`);
      assert.doesNotMatch(l.routes, /10\.244\./);
      assert.deepEqual(l.chains, []);
    } finally {
      tb.execIn(nd.ns, 'ip', ['link', 'del', 'flannel.1']);
    }
  });

  await t.test('after all that, the node starts normally', async () => {
    tb.startWeft(nd);
    await tb.waitReady(nd, 30_000);
    await nd.weft!.stop(5000);
  });
});
