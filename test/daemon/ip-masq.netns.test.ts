/**
 * `weft run --ip-masq --iptables-resync 1 --ip-blackhole-route` in network namespaces (real
 * iptables): the node ends with exactly flannel's FLANNEL-POSTRTG and FLANNEL-FWD rules, a pod
 * address talking to an underlay-only host is seen from the node's IP while pod <-> pod keeps the
 * pod address, a rule deleted by hand comes back within the resync period (counted in /metrics),
 * the blackhole route is there, and after a stop the rules stay (as flanneld leaves them) and a
 * restart does not duplicate them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Testbed, DEFAULT_METRICS_PORT } from '../../src/testing/testbed';
import { sleep } from '../../src/testing/shell';
import { masqRules, forwardRules, ruleText } from '../../src/control/iptables';
import {
  CONFIG,
  needRoot,
  nodeInfo,
  startAll,
  waitRoutes,
  waitUntil,
  type NodeInfo,
} from './cluster-helpers';

/** OUTSIDE is an underlay-only host (on the switch's bridge): it has no route to 10.244.0.0/16. */
const OUTSIDE = '192.0.2.254';
const PORT = 9999;

/** saveLines returns the `:CHAIN` declarations of user chains and every `-A` line of a table. */
function saveLines(tb: Testbed, ns: string, table: 'nat' | 'filter'): { chains: string[]; rules: string[] } {
  const out = tb.execIn(ns, 'iptables-save', ['-t', table]);
  const lines = out.split('\n');
  return {
    chains: lines.filter((l) => /^:\S+ - /.test(l)).map((l) => l.split(' ')[0]!.slice(1)),
    rules: lines.filter((l) => l.startsWith('-A ')),
  };
}

function expectedNat(n: NodeInfo): string[] {
  return masqRules({ network: '10.244.0.0/16', podSubnet: n.subnet, randomFully: true }).map((r) =>
    ruleText(r),
  );
}

function expectedFilter(): string[] {
  return forwardRules('10.244.0.0/16').map((r) => ruleText(r));
}

/** udpPeer sends one datagram from `bind` to `dst`:PORT inside `ns`; returns the echoed peer address. */
function udpPeer(tb: Testbed, ns: string, bind: string, dst: string): string {
  try {
    return tb
      .execIn(ns, 'socat', ['-t', '2', '-T', '3', '-', `UDP4:${dst}:${PORT},bind=${bind}`], {
        input: 'who am i\n',
        timeoutMs: 15_000,
      })
      .trim();
  } catch (e) {
    return `no answer: ${(e as Error).message}`;
  }
}

/**
 * echoServer answers every datagram on addr:PORT with the sender's address, from one process that
 * is running before the first datagram: a fork and exec per datagram (socat's `fork` +
 * `SYSTEM:echo`) can outlast the client's reply window on a loaded machine, and that would be the
 * instrument's delay, not the path's.
 */
async function echoServer(tb: Testbed, ns: string, addr: string): Promise<void> {
  const script =
    "const s = require('dgram').createSocket('udp4');" +
    "s.on('message', (_m, r) => s.send(r.address + '\\n', r.port, r.address));" +
    `s.bind(${PORT}, '${addr}');`;
  tb.spawnIn(ns, `udp echo ${addr}`, process.execPath, ['-e', script]);
  await waitUntil(
    () => tb.execIn(ns, 'ss', ['-Hnlu', `src ${addr}:${PORT}`]).includes(`${addr}:${PORT}`),
    5000,
    `udp echo server on ${addr}:${PORT}`,
  );
}

test(
  'weft run --ip-masq: flannel iptables rules, masquerade, resync, blackhole route',
  { timeout: 120_000 },
  async (t) => {
    needRoot();
    const tb = await Testbed.create({ nodes: 2, store: 'embedded', tag: 'tm' });
    t.after(() => tb.cleanup());
    tb.writeConfig(CONFIG);
    tb.execIn(tb.sw, 'ip', ['addr', 'add', `${OUTSIDE}/24`, 'dev', 'br0']);
    const flags = ['--ip-masq', '--iptables-resync', '1', '--ip-blackhole-route'];
    const nodes = await startAll(tb, tb.nodes, flags);
    const [n1, n2] = nodes as [NodeInfo, NodeInfo];
    await waitRoutes(tb, n1.nd, [n2.subnet]);
    await waitRoutes(tb, n2.nd, [n1.subnet]);
    assert.match(n1.env, /^FLANNEL_IPMASQ=true$/m);

    // Exactly flannel's chains and rules (iptables-save of the node's namespace).
    for (const n of nodes) {
      const nat = saveLines(tb, n.nd.ns, 'nat');
      assert.deepEqual(nat.chains, ['FLANNEL-POSTRTG'], `node${n.nd.index} nat chains`);
      assert.deepEqual(nat.rules, expectedNat(n), `node${n.nd.index} nat rules`);
      const filter = saveLines(tb, n.nd.ns, 'filter');
      assert.deepEqual(filter.chains, ['FLANNEL-FWD'], `node${n.nd.index} filter chains`);
      assert.deepEqual(filter.rules, expectedFilter(), `node${n.nd.index} filter rules`);
    }
    const stale = /installs no iptables rules|DirectRouting is not implemented/;
    assert.ok(!n1.nd.weft!.events.some((e) => stale.test(e.msg)), 'no warning that is no longer true');

    // Pod -> outside: masqueraded to the node's underlay IP. Pod <-> pod: the pod address stays.
    await echoServer(tb, tb.sw, OUTSIDE);
    assert.equal(
      udpPeer(tb, n1.nd.ns, n1.podIp, OUTSIDE),
      n1.nd.ip,
      'pod -> outside is seen from the node IP',
    );
    await echoServer(tb, n2.nd.ns, n2.podIp);
    assert.equal(udpPeer(tb, n1.nd.ns, n1.podIp, n2.podIp), n1.podIp, 'pod -> pod keeps the pod address');
    // Control: a host address outside the cluster network is not touched by flannel's rules.
    assert.equal(udpPeer(tb, n1.nd.ns, n1.nd.ip, OUTSIDE), n1.nd.ip);

    // The blackhole route for the node's own subnet.
    for (const n of nodes) {
      const bh = tb.execIn(n.nd.ns, 'ip', ['route', 'show', 'type', 'blackhole']);
      assert.match(
        bh,
        new RegExp(`^blackhole ${n.subnet.replace(/\./g, '\\.')}\\s*$`, 'm'),
        `node${n.nd.index}: ${bh}`,
      );
    }

    // A rule deleted by hand comes back within the resync period (1 s), in its place; counted.
    const masqLine = expectedNat(n1)[5]!;
    const del = masqRules({ network: '10.244.0.0/16', podSubnet: n1.subnet, randomFully: true })[5]!;
    tb.execIn(n1.nd.ns, 'iptables', ['-t', 'nat', '-D', del.chain, ...del.spec]);
    assert.ok(!saveLines(tb, n1.nd.ns, 'nat').rules.includes(masqLine));
    const deleted = Date.now();
    await waitUntil(
      () => saveLines(tb, n1.nd.ns, 'nat').rules.includes(masqLine),
      3000,
      'the MASQUERADE rule reinstalled',
      () => n1.nd.weft!.log.slice(-3000),
    );
    assert.ok(Date.now() - deleted < 3000);
    assert.deepEqual(saveLines(tb, n1.nd.ns, 'nat').rules, expectedNat(n1));
    await n1.nd.weft!.waitForEvent(/^Some iptables rules are missing; deleting and recreating rules$/, 2000);
    // The whole FLANNEL-FWD chain removed by hand is recreated too.
    tb.execIn(n1.nd.ns, 'iptables', [
      '-t',
      'filter',
      '-D',
      'FORWARD',
      ...forwardRules('10.244.0.0/16')[0]!.spec,
    ]);
    tb.execIn(n1.nd.ns, 'iptables', ['-t', 'filter', '-F', 'FLANNEL-FWD']);
    tb.execIn(n1.nd.ns, 'iptables', ['-t', 'filter', '-X', 'FLANNEL-FWD']);
    await waitUntil(
      () => saveLines(tb, n1.nd.ns, 'filter').rules.join('\n') === expectedFilter().join('\n'),
      3000,
      'FLANNEL-FWD recreated',
    );
    const m = tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`).body;
    assert.match(m, /^weft_iptables_reinstalls_total\{chain="FLANNEL-POSTRTG"\} 1$/m);
    assert.match(m, /^weft_iptables_reinstalls_total\{chain="FLANNEL-FWD"\} 1$/m);
    assert.doesNotMatch(m, /^weft_iptables_errors_total\{/m);
    assert.equal(udpPeer(tb, n1.nd.ns, n1.podIp, OUTSIDE), n1.nd.ip, 'masquerading again');

    // Stop: as flanneld, the rules and the blackhole route stay; the restart adds no duplicates.
    assert.equal(await n1.nd.weft!.stop(), 0);
    assert.ok(
      n1.nd.weft!.events.some((e) => e.msg === 'iptables rules left in place, as flanneld leaves them'),
    );
    assert.deepEqual(saveLines(tb, n1.nd.ns, 'nat').rules, expectedNat(n1));
    assert.deepEqual(saveLines(tb, n1.nd.ns, 'filter').rules, expectedFilter());
    assert.match(
      tb.execIn(n1.nd.ns, 'ip', ['route', 'show', 'type', 'blackhole']),
      new RegExp(`blackhole ${n1.subnet}`),
    );
    tb.startWeft(n1.nd, flags);
    const again = nodeInfo(tb, n1.nd, await tb.waitReady(n1.nd, 30_000), false);
    assert.equal(again.subnet, n1.subnet);
    await sleep(1500); // at least one resync
    assert.deepEqual(saveLines(tb, n1.nd.ns, 'nat').rules, expectedNat(n1));
    assert.deepEqual(saveLines(tb, n1.nd.ns, 'filter').rules, expectedFilter());
    assert.equal(
      tb.execIn(n1.nd.ns, 'ip', ['route', 'show', 'type', 'blackhole']).trim().split('\n').length,
      1,
      'one blackhole route',
    );
    assert.ok(n1.nd.weft!.events.some((e) => e.msg === 'the blackhole route is already there'));
    assert.equal(udpPeer(tb, n1.nd.ns, n1.podIp, OUTSIDE), n1.nd.ip);
    assert.ok(fs.existsSync(n1.nd.subnetFile));
  },
);

test(
  'weft run --ip-masq-fully-random-disable --iptables-forward-rules=false',
  { timeout: 60_000 },
  async (t) => {
    needRoot();
    const tb = await Testbed.create({ nodes: 1, store: 'embedded', tag: 'tr' });
    t.after(() => tb.cleanup());
    tb.writeConfig(CONFIG);
    const [n1] = await startAll(tb, tb.nodes, [
      '--ip-masq',
      '--ip-masq-fully-random-disable',
      '--iptables-forward-rules=false',
    ]);
    const want = masqRules({ network: '10.244.0.0/16', podSubnet: n1!.subnet, randomFully: false }).map((r) =>
      ruleText(r),
    );
    assert.deepEqual(saveLines(tb, n1!.nd.ns, 'nat').rules, want);
    assert.ok(want.every((l) => !l.includes('--random-fully')));
    assert.deepEqual(saveLines(tb, n1!.nd.ns, 'filter'), { chains: [], rules: [] });
    assert.deepEqual(
      tb.execIn(n1!.nd.ns, 'ip', ['route', 'show', 'type', 'blackhole']).trim(),
      '',
      'no blackhole without the flag',
    );
  },
);
