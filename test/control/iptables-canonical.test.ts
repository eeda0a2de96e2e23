/**
 * iptables-canonical: the `iptables -S` text predicted for each rule weft writes, and for the
 * inputs iptables rewrites (host bits, no prefix, quoting, marks, option order), against lines
 * printed by iptables-nft and iptables-legacy 1.8.9; specs it cannot predict give null. Then the
 * number of processes a check pass costs against the in-memory iptables: one listing per table,
 * `iptables -C` only for a rule whose text is not predicted (counted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalCidr,
  canonicalRuleText,
  parseTableListing,
  saveString,
} from '../../src/control/iptables-canonical';
import {
  FWD_CHAIN,
  Iptables,
  MASQ_CHAIN,
  forwardRules,
  masqRules,
  ruleText,
  type IptablesRule,
} from '../../src/control/iptables';
import { FakeIptables } from './fake-iptables';

const NET = '10.244.0.0/16';
const POD = '10.244.3.0/24';

test('canonicalRuleText: every rule weft writes is predicted as iptables prints it', () => {
  // These are iptables-save's forms (ruleText); iptables -S prints the same for these rules.
  for (const randomFully of [true, false]) {
    for (const r of masqRules({ network: NET, podSubnet: POD, randomFully }))
      assert.equal(canonicalRuleText(r.chain, r.spec), ruleText(r));
  }
  for (const r of forwardRules(NET)) assert.equal(canonicalRuleText(r.chain, r.spec), ruleText(r));
});

test('canonicalRuleText: what iptables rewrites (lines printed by iptables 1.8.9 -S)', () => {
  const cases: [string[], string][] = [
    [
      ['-s', '10.244.1.7/16', '-d', '10.244.3.1', '-m', 'comment', '--comment', `a"b'c\\d`, '-j', 'MASQUERADE'],
      `-A C -s 10.244.0.0/16 -d 10.244.3.1/32 -m comment --comment "a\\"b\\'c\\\\d" -j MASQUERADE`,
    ],
    [
      ['-s', '10.244.1.7/32', '-m', 'mark', '--mark', '0x10', '-m', 'comment', '--comment', 'one', '-j', 'RETURN'],
      '-A C -s 10.244.1.7/32 -m mark --mark 0x10 -m comment --comment one -j RETURN',
    ],
    [
      ['-m', 'mark', '--mark', '0x0010/0xffffffff', '-m', 'comment', '--comment', 'x', '-j', 'RETURN'],
      '-A C -m mark --mark 0x10 -m comment --comment x -j RETURN',
    ],
    [
      ['-m', 'comment', '--comment', 'x', '-m', 'mark', '--mark', '0x4000/0x4000', '-s', '10.1.0.0/16', '-j', 'RETURN'],
      '-A C -s 10.1.0.0/16 -m comment --comment x -m mark --mark 0x4000/0x4000 -j RETURN',
    ],
    [['-s', '0.0.0.0/0', '-j', 'RETURN'], '-A C -j RETURN'],
    [['-d', '10.0.0.0/8', '!', '-s', '10.244.0.0/16', '-j', 'FLANNEL-FWD'], '-A C ! -s 10.244.0.0/16 -d 10.0.0.0/8 -j FLANNEL-FWD'],
    [['-m', 'mark', '--mark', '16384/16384', '-j', 'ACCEPT'], '-A C -m mark --mark 0x4000/0x4000 -j ACCEPT'],
  ]; // prettier-ignore
  for (const [spec, want] of cases) assert.equal(canonicalRuleText('C', spec), want, spec.join(' '));
});

test('canonicalRuleText: null for what it does not model (the caller falls back to -C)', () => {
  const unknown: string[][] = [
    ['-p', 'tcp', '-j', 'ACCEPT'],
    ['-s', 'node1.example', '-j', 'ACCEPT'],
    ['-s', '10.0.0.0/255.0.0.0', '-j', 'ACCEPT'],
    ['-s', '10.0.0.0/33', '-j', 'ACCEPT'],
    ['-s', '10.0.0.0/8', '-s', '10.1.0.0/16', '-j', 'ACCEPT'],
    ['!', '-s', '0.0.0.0/0', '-j', 'ACCEPT'],
    ['-m', 'mark', '--mark', '010', '-j', 'ACCEPT'],
    ['-m', 'mark', '!', '--mark', '0x1', '-j', 'ACCEPT'],
    ['-m', 'comment', '--comment', 'x'.repeat(256), '-j', 'ACCEPT'],
    ['-j', 'LOG'],
    ['-j', 'MASQUERADE', '--to-ports', '1024-2048'],
    ['-j', 'MASQUERADE', '--random-fully', '--random-fully'],
    ['-m', 'comment', '--comment', 'x'],
    ['!', '-j', 'ACCEPT'],
  ];
  for (const spec of unknown) assert.equal(canonicalRuleText('C', spec), null, spec.join(' '));
});

test('canonicalCidr, saveString, parseTableListing', () => {
  assert.equal(canonicalCidr('10.244.255.255/16'), '10.244.0.0/16');
  assert.equal(canonicalCidr('192.0.2.1'), '192.0.2.1/32');
  assert.equal(canonicalCidr('255.255.255.255/1'), '128.0.0.0/1');
  assert.equal(canonicalCidr('1.2.3.4/0'), '0.0.0.0/0');
  assert.equal(canonicalCidr('256.0.0.0/8'), null);
  // iptables may read a leading zero as octal: not predicted, so -C decides.
  assert.equal(canonicalCidr('010.244.0.0/16'), null);
  assert.equal(saveString('flanneld masq'), '"flanneld masq"');
  assert.equal(saveString('flanneld_masq-1'), 'flanneld_masq-1');
  assert.equal(saveString(''), '""');
  const l = parseTableListing(
    '-P POSTROUTING ACCEPT\n-N FLANNEL-POSTRTG\n-A FLANNEL-POSTRTG -j RETURN \n# Warning: legacy tables present\n',
  );
  assert.deepEqual([...l.chains], ['POSTROUTING', 'FLANNEL-POSTRTG']);
  assert.deepEqual([...l.rules], ['-A FLANNEL-POSTRTG -j RETURN']);
});

/** processes counts the iptables / iptables-restore runs after `from` (not --version). */
const processes = (fake: FakeIptables, from: number): string[] =>
  fake.calls.slice(from).filter((c) => !c.includes('--version'));

test('missing: one iptables process per table per pass, however many rules (no -C)', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  const masq = masqRules({ network: NET, podSubnet: POD, randomFully: true });
  const fwd = forwardRules(NET);
  await ipt.bootstrap(masq);
  await ipt.bootstrap(fwd);
  let from = fake.calls.length;
  assert.deepEqual(await ipt.missing([...masq, ...fwd]), []);
  assert.deepEqual(processes(fake, from), ['iptables -w -t nat -S', 'iptables -w -t filter -S']);
  assert.deepEqual(ipt.stats.fallbackChecks, 0);
  // A deleted rule and a deleted chain are still found, from the same two listings.
  fake.remove('nat', MASQ_CHAIN, masq[4]!.spec.join(' '));
  fake.remove('filter', 'FORWARD', fwd[0]!.spec.join(' '));
  fake.tables.get('filter')!.get(FWD_CHAIN)!.length = 0;
  fake.tables.get('filter')!.delete(FWD_CHAIN);
  from = fake.calls.length;
  const before = { ...ipt.stats };
  assert.deepEqual(
    (await ipt.missing([...masq, ...fwd])).map((r) => ruleText(r)),
    [masq[4]!, ...fwd].map((r) => ruleText(r)),
  );
  assert.equal(processes(fake, from).length, 2);
  assert.equal(ipt.stats.tableReads - before.tableReads, 2);
  assert.equal(ipt.stats.textChecks - before.textChecks, masq.length);
  assert.equal(ipt.stats.fallbackChecks, 0);
});

test('bootstrap: one listing per table plus the transaction; a reinstall keeps the order', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  const masq = masqRules({ network: NET, podSubnet: POD, randomFully: false });
  fake.add('nat', MASQ_CHAIN, masq[3]!.spec.join(' '));
  let from = fake.calls.length;
  const payload = await ipt.bootstrap(masq);
  // The chain existed: no -N; the rule already there is deleted and re-appended.
  assert.deepEqual(
    processes(fake, from).map((c) => c.split('\n')[0]),
    ['iptables -w -t nat -S', 'iptables-restore --noflush -w'],
  );
  assert.equal(payload.split('\n').filter((l) => l.startsWith('-D ')).length, 1);
  assert.deepEqual(
    fake.rules('nat', MASQ_CHAIN),
    masq.slice(1).map((r) => `-A ${MASQ_CHAIN} ${r.spec.join(' ')}`),
  );
  // A missing chain is created (chainExists + -N, as before) before the transaction.
  fake.tables.get('filter')!.set('FORWARD', []);
  from = fake.calls.length;
  await ipt.bootstrap(forwardRules(NET));
  assert.deepEqual(
    processes(fake, from).map((c) => c.split('\n')[0]),
    [
      'iptables -w -t filter -S',
      `iptables -w -t filter -S ${FWD_CHAIN}`,
      `iptables -w -t filter -N ${FWD_CHAIN}`,
      'iptables-restore --noflush -w',
    ],
  );
  assert.deepEqual(await ipt.missing(forwardRules(NET)), []);
  assert.equal(ipt.stats.fallbackChecks, 0);
});

test('a rule whose text is not predicted is checked with iptables -C, and counted', async () => {
  const fake = new FakeIptables();
  const ipt = new Iptables(fake.run);
  const odd: IptablesRule = { table: 'filter', chain: 'FORWARD', spec: ['-p', 'tcp', '-j', 'ACCEPT'] };
  const rules = [...forwardRules(NET), odd];
  await ipt.bootstrap(rules);
  const from = fake.calls.length;
  assert.deepEqual(await ipt.missing(rules), []);
  assert.deepEqual(processes(fake, from), [
    'iptables -w -t filter -S',
    'iptables -w -t filter -C FORWARD -p tcp -j ACCEPT',
  ]);
  assert.equal(ipt.stats.fallbackChecks, 2, 'one in bootstrap, one in missing');
  fake.remove('filter', 'FORWARD', '-p tcp -j ACCEPT');
  assert.deepEqual(await ipt.missing(rules), [odd]);
  assert.equal(ipt.stats.fallbackChecks, 3);
});
