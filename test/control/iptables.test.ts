/**
 * iptables rule generation and operations: the exact rule lists of flannel's `masqRules` and
 * `forwardRules` (flannel `pkg/trafficmngr/iptables/iptables.go`, IPv4), the iptables-restore
 * payload of `buildIPTablesRestorePayload`, the version gates, and bootstrap / missing / teardown
 * against an in-memory iptables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FWD_CHAIN,
  Iptables,
  MASQ_CHAIN,
  flannelChainOf,
  forwardRules,
  masqRules,
  parseIptablesVersion,
  restorePayload,
  ruleText,
} from '../../src/control/iptables';
import { SystemError, ToolMissingError } from '../../src/errors';
import { FakeIptables, tokenize } from './fake-iptables';

const NET = '10.244.0.0/16';
const POD = '10.244.3.0/24';

// flannel's masqRules for cluster_cidr 10.244.0.0/16, pod_cidr 10.244.3.0/24, as iptables-save
// prints them (table, then the rule), in flannel's order. Transcribed from iptables.go.
const FLANNEL_MASQ_RANDOM_FULLY = [
  '-t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
  '-t nat -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
  '-t nat -A FLANNEL-POSTRTG -s 10.244.3.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
  '-t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
  '-t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
];

const FLANNEL_FORWARD = [
  '-t filter -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
  '-t filter -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
  '-t filter -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
];

const show = (rules: ReturnType<typeof masqRules>): string[] =>
  rules.map((r) => `-t ${r.table} ${ruleText(r)}`);

test('masqRules: exactly flannel rules, order and comments (with --random-fully)', () => {
  assert.deepEqual(
    show(masqRules({ network: NET, podSubnet: POD, randomFully: true })),
    FLANNEL_MASQ_RANDOM_FULLY,
  );
});

test('masqRules: without --random-fully (old iptables or --ip-masq-fully-random-disable)', () => {
  const want = FLANNEL_MASQ_RANDOM_FULLY.map((l) => l.replace(' --random-fully', ''));
  const got = show(masqRules({ network: NET, podSubnet: POD, randomFully: false }));
  assert.deepEqual(got, want);
  assert.equal(got.filter((l) => l.includes('MASQUERADE')).length, 2);
});

test('forwardRules: exactly flannel rules', () => {
  assert.deepEqual(show(forwardRules(NET)), FLANNEL_FORWARD);
});

test('flannelChainOf: the chain a rule lives in or jumps to', () => {
  const [jump, mark] = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  assert.equal(flannelChainOf(jump!), MASQ_CHAIN);
  assert.equal(flannelChainOf(mark!), MASQ_CHAIN);
  assert.equal(flannelChainOf(forwardRules(NET)[0]!), FWD_CHAIN);
  assert.equal(flannelChainOf({ table: 'nat', chain: 'POSTROUTING', spec: ['-j', 'MASQUERADE'] }), null);
});

test('restorePayload: per table, ops in order, comments quoted, COMMIT (flannel buildIPTablesRestorePayload)', () => {
  const [jump] = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  const [fwd] = forwardRules(NET);
  const text = restorePayload([
    { op: '-D', rule: jump! },
    { op: '-A', rule: jump! },
    { op: '-A', rule: fwd! },
  ]);
  assert.equal(
    text,
    '*nat\n' +
      '-D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG\n' +
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG\n' +
      'COMMIT\n' +
      '*filter\n' +
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n' +
      'COMMIT\n',
  );
  assert.deepEqual(tokenize('-A X -m comment --comment "flanneld masq" -j Y'), [
    '-A', 'X', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'Y',
  ]); // prettier-ignore
  assert.equal(restorePayload([]), '');
});

test('parseIptablesVersion and the go-iptables gates (--random-fully from 1.6.2)', async () => {
  assert.deepEqual(parseIptablesVersion('iptables v1.8.9 (nf_tables)'), {
    major: 1,
    minor: 8,
    patch: 9,
    mode: 'nf_tables',
  });
  assert.equal(parseIptablesVersion('iptables v1.4.21')!.mode, 'legacy');
  assert.equal(parseIptablesVersion('no version here'), null);
  for (const [v, rf] of [
    ['iptables v1.6.1', false],
    ['iptables v1.6.2', true],
    ['iptables v1.8.9 (legacy)', true],
    ['iptables v2.0.0 (nf_tables)', true],
  ] as const) {
    const fake = new FakeIptables();
    fake.version = v;
    const info = await new Iptables(fake.run).probe();
    assert.equal(info.randomFully, rf, v);
  }
});

test('probe: a missing binary is a ToolMissingError naming the package', async () => {
  const ipt = new Iptables(() =>
    Promise.reject(new ToolMissingError('iptables', 'apt-get install iptables')),
  );
  await assert.rejects(
    ipt.probe(),
    (e: unknown) => e instanceof ToolMissingError && /apt-get install iptables/.test(e.message),
  );
});

test('bootstrap: creates the chain and appends every rule in order through one iptables-restore', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  const rules = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  await ipt.bootstrap(rules);
  assert.ok(fake.hasChain('nat', MASQ_CHAIN));
  assert.deepEqual(
    [...fake.rules('nat', 'POSTROUTING'), ...fake.rules('nat', MASQ_CHAIN)].map((l) => `-t nat ${l}`),
    FLANNEL_MASQ_RANDOM_FULLY.map((l) => l.replace(/"/g, '')),
  );
  const restores = fake.calls.filter((c) => c.startsWith('iptables-restore'));
  assert.equal(restores.length, 1);
  assert.match(restores[0]!, /^iptables-restore --noflush -w\n\*nat\n/);
  // Every plain iptables call waits for the xtables lock, as go-iptables does.
  assert.ok(
    fake.calls
      .filter((c) => c.startsWith('iptables ') && !c.includes('--version'))
      .every((c) => c.startsWith('iptables -w ')),
  );
  assert.deepEqual(await ipt.missing(rules), []);
});

test('bootstrap: existing rules are deleted and re-appended so the order is right; foreign rules stay', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  const rules = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  const spec = (i: number): string => rules[i]!.spec.join(' ');
  fake.add('nat', MASQ_CHAIN, spec(5)); // a MASQUERADE before the RETURNs: wrong order
  fake.add('nat', MASQ_CHAIN, '-s 192.0.2.0/24 -j ACCEPT'); // someone else's rule
  fake.add('nat', 'POSTROUTING', '-j KUBE-POSTROUTING');
  fake.add('nat', 'POSTROUTING', spec(0));
  const payload = await ipt.bootstrap(rules);
  assert.match(
    payload,
    /-D FLANNEL-POSTRTG -s 10\.244\.0\.0\/16 ! -d 224\.0\.0\.0\/4 .*\n-A FLANNEL-POSTRTG -s 10\.244\.0\.0\/16 ! -d/,
  );
  assert.deepEqual(fake.rules('nat', MASQ_CHAIN), [
    '-A FLANNEL-POSTRTG -s 192.0.2.0/24 -j ACCEPT',
    ...rules.slice(1).map((r) => `-A FLANNEL-POSTRTG ${r.spec.join(' ')}`),
  ]);
  assert.deepEqual(fake.rules('nat', 'POSTROUTING'), [
    '-A POSTROUTING -j KUBE-POSTROUTING',
    `-A POSTROUTING ${spec(0)}`,
  ]);
});

test('missing: a deleted rule, and every rule of a deleted chain', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  const rules = forwardRules(NET);
  await ipt.bootstrap(rules);
  fake.remove('filter', FWD_CHAIN, rules[2]!.spec.join(' '));
  assert.deepEqual(
    (await ipt.missing(rules)).map((r) => ruleText(r)),
    [ruleText(rules[2]!)],
  );
  fake.tables.get('filter')!.delete(FWD_CHAIN);
  assert.equal((await ipt.missing(rules)).length, 3, 'the jump counts as missing when its chain is gone');
  await ipt.bootstrap(rules);
  assert.deepEqual(await ipt.missing(rules), []);
});

test('clearChain: creates a missing chain, flushes an existing one', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  await ipt.clearChain('nat', MASQ_CHAIN);
  assert.ok(fake.hasChain('nat', MASQ_CHAIN));
  fake.add('nat', MASQ_CHAIN, '-j RETURN');
  await ipt.clearChain('nat', MASQ_CHAIN);
  assert.deepEqual(fake.rules('nat', MASQ_CHAIN), []);
});

test('teardown: deletes only the rules that exist, in one transaction', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  const rules = masqRules({ network: NET, podSubnet: POD, randomFully: false });
  assert.equal(await ipt.teardown(rules), 0, 'nothing to delete, no chain');
  await ipt.bootstrap(rules);
  fake.remove('nat', MASQ_CHAIN, rules[3]!.spec.join(' '));
  assert.equal(await ipt.teardown(rules), rules.length - 1);
  assert.deepEqual(fake.rules('nat', MASQ_CHAIN), []);
  assert.deepEqual(fake.rules('nat', 'POSTROUTING'), []);
});

test('errors name the command, the rule and stderr (SystemError)', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  const rules = forwardRules(NET);
  fake.failWith = (cmd) =>
    cmd === 'iptables-restore'
      ? { code: 4, stdout: '', stderr: 'iptables-restore: line 2 failed: Permission denied' }
      : null;
  await assert.rejects(ipt.bootstrap(rules), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.equal(e.syscall, 'iptables-restore --noflush -w');
    assert.equal(e.errno, 'exit 4');
    assert.match(e.message, /Permission denied/);
    assert.match(
      e.message,
      /-A FLANNEL-FWD -s 10\.244\.0\.0\/16 -m comment --comment "flanneld forward" -j ACCEPT/,
    );
    return true;
  });
  fake.failWith = (cmd, args) =>
    cmd === 'iptables' && args.includes('-S')
      ? { code: 4, stdout: '', stderr: 'Another app is currently holding the xtables lock' }
      : null;
  await assert.rejects(ipt.missing(rules), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.equal(e.syscall, 'iptables -w -t filter -S');
    assert.equal(e.errno, 'exit 4');
    assert.match(e.message, /xtables lock \(table filter\)/);
    return true;
  });
  // A rule checked with -C (its text not predicted) reports that command and the rule.
  const odd = { table: 'filter' as const, chain: 'FORWARD', spec: ['-p', 'tcp', '-j', 'ACCEPT'] };
  fake.failWith = (cmd, args) =>
    cmd === 'iptables' && args.includes('-C') ? { code: 4, stdout: '', stderr: 'xtables lock' } : null;
  await assert.rejects(ipt.missing([odd]), (e: unknown) => {
    assert.ok(e instanceof SystemError);
    assert.equal(e.syscall, 'iptables -w -t filter -C FORWARD -p tcp -j ACCEPT');
    assert.match(e.message, /xtables lock \(-A FORWARD -p tcp -j ACCEPT\)/);
    return true;
  });
  // A failure leaves the next call working (the internal queue is not poisoned).
  fake.failWith = null;
  assert.equal((await ipt.missing(rules)).length, 3);
});
