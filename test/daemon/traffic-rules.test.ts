/**
 * TrafficRules (the daemon's `--ip-masq` / `--iptables-forward-rules` / `--iptables-resync`)
 * against an in-memory iptables: what start installs, what a resync reinstalls and counts, the
 * recycle of a previous subnet's rules, errors logged and counted but never thrown, and rules left
 * in place at stop (as flanneld leaves them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FWD_CHAIN, Iptables, MASQ_CHAIN, forwardRules, masqRules } from '../../src/control/iptables';
import { TrafficRules, type TrafficRulesOptions } from '../../src/daemon/traffic-rules';
import { newDaemonCounters } from '../../src/metrics/metrics';
import type { Logger } from '../../src/daemon/log';
import { FakeIptables } from '../control/fake-iptables';

const NET = '10.244.0.0/16';
const POD = '10.244.3.0/24';

function capture(): {
  log: Logger;
  lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }>;
} {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const at =
    (level: string) =>
    (msg: string, fields?: Record<string, unknown>): void =>
      void lines.push({ level, msg, fields });
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

function setup(o: Partial<TrafficRulesOptions> = {}): {
  fake: FakeIptables;
  tr: TrafficRules;
  counters: ReturnType<typeof newDaemonCounters>;
  lines: ReturnType<typeof capture>['lines'];
} {
  const fake = new FakeIptables();
  const counters = newDaemonCounters();
  const { log, lines } = capture();
  const tr = new TrafficRules({
    iptables: new Iptables(fake.run),
    log,
    counters,
    network: NET,
    subnet: POD,
    ipMasq: true,
    randomFullyDisable: false,
    forwardRules: true,
    resyncSeconds: 3600,
    previous: null,
    ...o,
  });
  return { fake, tr, counters, lines };
}

const specs = (rules: ReturnType<typeof masqRules>): string[] =>
  rules.map((r) => `-A ${r.chain} ${r.spec.join(' ')}`);

test('start: FLANNEL-POSTRTG then FLANNEL-FWD, exactly flannel rules; stop leaves them', async (t) => {
  const { fake, tr, counters, lines } = setup();
  t.after(() => tr.stop());
  await tr.start();
  const masq = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  assert.deepEqual([...fake.rules('nat', 'POSTROUTING'), ...fake.rules('nat', MASQ_CHAIN)], specs(masq));
  const fwd = forwardRules(NET);
  assert.deepEqual([...fake.rules('filter', 'FORWARD'), ...fake.rules('filter', FWD_CHAIN)], specs(fwd));
  assert.deepEqual(
    tr.sets.map((s) => s.chain),
    [MASQ_CHAIN, FWD_CHAIN],
  );
  assert.equal(counters.iptablesErrors.size, 0);
  await tr.stop();
  assert.deepEqual(fake.rules('nat', MASQ_CHAIN), specs(masq).slice(1), 'rules stay after stop');
  assert.ok(lines.some((l) => l.msg === 'iptables rules left in place, as flanneld leaves them'));
});

test('start: --ip-masq-fully-random-disable drops --random-fully; forward rules can be off', async () => {
  const { fake, tr } = setup({ randomFullyDisable: true, forwardRules: false });
  await tr.start();
  await tr.stop();
  assert.ok(!fake.rules('nat', MASQ_CHAIN).some((l) => l.includes('--random-fully')));
  assert.equal(fake.rules('nat', MASQ_CHAIN).filter((l) => l.endsWith('-j MASQUERADE')).length, 2);
  assert.ok(!fake.hasChain('filter', FWD_CHAIN));
});

test('start: an existing FLANNEL-POSTRTG is flushed first (flannel ClearChain), no duplicates', async () => {
  const { fake, tr } = setup({ forwardRules: false });
  fake.add('nat', MASQ_CHAIN, '-s 10.244.9.0/24 -j RETURN');
  const masq = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  fake.add('nat', 'POSTROUTING', masq[0]!.spec.join(' '));
  await tr.start();
  await tr.stop();
  assert.deepEqual([...fake.rules('nat', 'POSTROUTING'), ...fake.rules('nat', MASQ_CHAIN)], specs(masq));
});

test('resync: a deleted rule is reinstalled in order and counted; nothing happens when complete', async () => {
  const { fake, tr, counters, lines } = setup();
  await tr.start();
  assert.deepEqual(await tr.resync(), []);
  assert.equal(counters.iptablesReinstalls.size, 0);
  const masq = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  fake.remove('nat', MASQ_CHAIN, masq[2]!.spec.join(' '));
  fake.remove('nat', 'POSTROUTING', masq[0]!.spec.join(' '));
  assert.deepEqual(await tr.resync(), [MASQ_CHAIN]);
  assert.equal(counters.iptablesReinstalls.get(MASQ_CHAIN), 1);
  assert.equal(counters.iptablesReinstalls.get(FWD_CHAIN), undefined);
  assert.deepEqual([...fake.rules('nat', 'POSTROUTING'), ...fake.rules('nat', MASQ_CHAIN)], specs(masq));
  const warn = lines.find((l) => l.msg === 'Some iptables rules are missing; deleting and recreating rules');
  assert.deepEqual(warn?.fields?.missing, [
    '-t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    '-t nat -A FLANNEL-POSTRTG -s 10.244.3.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
  ]);
  // The whole filter chain removed by hand comes back too.
  fake.tables.get('filter')!.delete(FWD_CHAIN);
  fake.remove('filter', 'FORWARD', forwardRules(NET)[0]!.spec.join(' '));
  assert.deepEqual(await tr.resync(), [FWD_CHAIN]);
  assert.deepEqual(
    [...fake.rules('filter', 'FORWARD'), ...fake.rules('filter', FWD_CHAIN)],
    specs(forwardRules(NET)),
  );
  await tr.stop();
});

test('resync: the timer runs every --iptables-resync seconds and stops with stop()', async () => {
  const { fake, tr, counters } = setup({ resyncSeconds: 0.05, forwardRules: false });
  await tr.start();
  const masq = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  fake.remove('nat', MASQ_CHAIN, masq[6]!.spec.join(' '));
  const deadline = Date.now() + 5000;
  while (!counters.iptablesReinstalls.get(MASQ_CHAIN) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(counters.iptablesReinstalls.get(MASQ_CHAIN), 1);
  assert.deepEqual(fake.rules('nat', MASQ_CHAIN), specs(masq).slice(1));
  await tr.stop();
  const calls = fake.calls.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(fake.calls.length, calls, 'no iptables call after stop');
});

test('errors: logged with the rule and stderr, counted by chain, retried by the next resync', async () => {
  const { fake, tr, counters, lines } = setup({ forwardRules: false });
  fake.failWith = (cmd) =>
    cmd === 'iptables-restore'
      ? { code: 1, stdout: '', stderr: "iptables-restore: Couldn't load target `MASQUERADE'" }
      : null;
  await tr.start(); // does not throw
  assert.equal(counters.iptablesErrors.get(MASQ_CHAIN), 1);
  const err = lines.find((l) => l.msg === 'Failed to bootstrap IPTables');
  assert.ok(err, JSON.stringify(lines));
  assert.equal(err.fields?.code, 'WEFT_ERR_SYSTEM');
  assert.match(String(err.fields?.error), /Couldn't load target `MASQUERADE'/);
  assert.match(String(err.fields?.error), /-A FLANNEL-POSTRTG -s 10\.244\.0\.0\/16 ! -d 224\.0\.0\.0\/4/);
  assert.deepEqual(fake.rules('nat', MASQ_CHAIN), []);
  fake.failWith = null;
  assert.deepEqual(await tr.resync(), [MASQ_CHAIN]);
  assert.equal(fake.rules('nat', MASQ_CHAIN).length, 6);
  // A failing check (the table listing) is an error too, not a crash.
  fake.failWith = (_cmd, args) =>
    args.includes('-S') ? { code: 4, stdout: '', stderr: 'resource problem' } : null;
  assert.deepEqual(await tr.resync(), []);
  assert.equal(counters.iptablesErrors.get(MASQ_CHAIN), 2);
  const check = lines.find((l) => l.msg === 'Failed to ensure iptables rules');
  assert.equal(check?.fields?.code, 'WEFT_ERR_SYSTEM');
  assert.match(String(check?.fields?.error), /iptables -w -t nat -S.*resource problem \(table nat\)/);
  await tr.stop();
});

test('recycle: a previous subnet (from subnet.env) has its old rules deleted', async () => {
  const { fake, tr, lines } = setup({
    forwardRules: false,
    previous: { network: NET, subnet: '10.244.7.0/24' },
  });
  const old = masqRules({ network: NET, podSubnet: '10.244.7.0/24', randomFully: true });
  fake.add('nat', 'POSTROUTING', '-j KUBE-POSTROUTING');
  for (const r of old) fake.add('nat', r.chain, r.spec.join(' '));
  await tr.start();
  await tr.stop();
  assert.ok(
    lines.some((l) => /is not equal to previous one .*trying to recycle old iptables rules/.test(l.msg)),
  );
  const masq = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  assert.deepEqual(fake.rules('nat', 'POSTROUTING'), ['-A POSTROUTING -j KUBE-POSTROUTING', specs(masq)[0]]);
  assert.deepEqual(fake.rules('nat', MASQ_CHAIN), specs(masq).slice(1));
  assert.ok(!fake.rules('nat', MASQ_CHAIN).some((l) => l.includes('10.244.7.0/24')));
});

test('a resync period beyond setTimeout range (~24.8 days) waits, it does not spin', async (t) => {
  const { fake, tr } = setup({ resyncSeconds: 3_000_000 });
  t.after(() => tr.stop());
  // Node turns an out-of-range delay into 1 ms (with a TimeoutOverflowWarning).
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  await tr.start();
  const atStart = fake.calls.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fake.calls.length, atStart, 'no resync ran within 100 ms');
  assert.ok(!warnings.includes('TimeoutOverflowWarning'), 'no timer overflow');
});

test('removeNew (a start that failed later) deletes the rules and chains this start created', async () => {
  const { fake, tr } = setup();
  await tr.start();
  assert.deepEqual((await tr.removeNew()).sort(), [FWD_CHAIN, MASQ_CHAIN].sort());
  for (const [table, chain, jumpFrom] of [
    ['nat', MASQ_CHAIN, 'POSTROUTING'],
    ['filter', FWD_CHAIN, 'FORWARD'],
  ] as const) {
    assert.equal(await new Iptables(fake.run).chainExists(table, chain), false, `${chain} deleted`);
    assert.deepEqual(fake.rules(table, jumpFrom), [], `the jump from ${jumpFrom} deleted`);
  }
});

test('removeNew keeps chains a previous run left (they were there before this start)', async () => {
  const first = setup();
  await first.tr.start();
  await first.tr.stop();
  const again = new TrafficRules({
    iptables: new Iptables(first.fake.run),
    log: capture().log,
    counters: newDaemonCounters(),
    network: NET,
    subnet: POD,
    ipMasq: true,
    randomFullyDisable: false,
    forwardRules: true,
    resyncSeconds: 3600,
    previous: null,
  });
  await again.start();
  assert.deepEqual(await again.removeNew(), []);
  const masq = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  assert.deepEqual(first.fake.rules('nat', MASQ_CHAIN), specs(masq).slice(1), 'the old rules stay');
});
