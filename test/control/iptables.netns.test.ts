/**
 * Real iptables (iptables-nft, the system default, and iptables-legacy) in a namespace: for every
 * rule family weft writes, the text a check pass predicts is exactly what `iptables -S` prints,
 * a pass costs one listing per table with no `iptables -C`, and its verdicts (rule present,
 * deleted, chain flushed or deleted) agree with `iptables -C` rule by rule. Rules given in forms
 * iptables rewrites are predicted too. Needs root (namespaces); CI runs as root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  FWD_CHAIN,
  Iptables,
  MASQ_CHAIN,
  forwardRules,
  masqRules,
  type IptablesRule,
  type IptablesRunner,
  type IptablesTable,
} from '../../src/control/iptables';
import { canonicalRuleText } from '../../src/control/iptables-canonical';
import { Netns, cleanupFor, requireRoot, run } from '../helpers/netns';

const NET = '10.244.0.0/16';
const POD = '10.244.3.0/24';

/** nsRunner runs the `variant` binaries inside `ns`, counting the processes. */
function nsRunner(ns: string, variant: 'iptables' | 'iptables-legacy', calls: string[]): IptablesRunner {
  return (cmd, args, input) =>
    new Promise((resolve, reject) => {
      const bin = cmd === 'iptables' ? variant : `${variant}-restore`;
      calls.push([bin, ...args].join(' '));
      const child = spawn('ip', ['netns', 'exec', ns, bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(input ?? '');
    });
}

for (const variant of ['iptables', 'iptables-legacy'] as const) {
  test(`${variant}: a check pass reads each table once and agrees with iptables -C`, async (t) => {
    requireRoot();
    const cleanup = cleanupFor(t);
    const ns = Netns.create(cleanup, 'ipts').name;
    const calls: string[] = [];
    const ipt = new Iptables(nsRunner(ns, variant, calls));
    const listing = (table: IptablesTable): string[] =>
      run('ip', ['netns', 'exec', ns, variant, '-t', table, '-S']).split('\n');
    /** agree checks that missing() says what iptables -C says, rule by rule. */
    const agree = async (rules: readonly IptablesRule[]): Promise<IptablesRule[]> => {
      const missing = await ipt.missing(rules);
      for (const r of rules) {
        // -C on a deleted chain fails: that rule is absent too.
        const viaC = await ipt.exists(r).catch(() => false);
        assert.equal(
          !missing.includes(r),
          viaC,
          `-C and the listing disagree on ${r.chain} ${r.spec.join(' ')}`,
        );
      }
      return missing;
    };

    const masq = masqRules({ network: NET, podSubnet: POD, randomFully: (await ipt.probe()).randomFully });
    const masqPlain = masqRules({ network: '10.245.0.0/16', podSubnet: '10.245.9.0/24', randomFully: false });
    const fwd = forwardRules(NET);
    await ipt.bootstrap(masq);
    await ipt.bootstrap(fwd);
    for (const r of [...masq, ...fwd]) {
      const lines = listing(r.table);
      assert.ok(
        lines.includes(canonicalRuleText(r.chain, r.spec)!),
        `${canonicalRuleText(r.chain, r.spec)} in\n${lines.join('\n')}`,
      );
    }
    // Resync: two processes (one per table) for ten rules; nothing falls back to -C.
    let from = calls.length;
    assert.deepEqual(await ipt.missing([...masq, ...fwd]), []);
    assert.deepEqual(calls.slice(from), [`${variant} -w -t nat -S`, `${variant} -w -t filter -S`]);
    assert.equal(ipt.stats.fallbackChecks, 0);
    // The jump and kube-proxy's mark rule are the same in both sets; the rest are absent.
    assert.deepEqual(await agree([...masq, ...fwd, ...masqPlain]), masqPlain.slice(2));

    // Without --random-fully (old iptables, --ip-masq-fully-random-disable): its own chain set.
    run('ip', ['netns', 'exec', ns, variant, '-t', 'nat', '-F', MASQ_CHAIN]);
    run('ip', ['netns', 'exec', ns, variant, '-t', 'nat', '-D', 'POSTROUTING', ...masq[0]!.spec]);
    await ipt.bootstrap(masqPlain);
    assert.deepEqual(await agree(masqPlain), []);
    assert.deepEqual(await agree(masq), masq.slice(2));

    // A rule deleted by hand, then a flushed and deleted chain.
    run('ip', ['netns', 'exec', ns, variant, '-t', 'nat', '-D', MASQ_CHAIN, ...masqPlain[4]!.spec]);
    assert.deepEqual(await agree(masqPlain), [masqPlain[4]]);
    run('ip', ['netns', 'exec', ns, variant, '-t', 'filter', '-F', FWD_CHAIN]);
    assert.deepEqual(await agree(fwd), fwd.slice(1));
    run('ip', ['netns', 'exec', ns, variant, '-t', 'filter', '-D', 'FORWARD', ...fwd[0]!.spec]);
    run('ip', ['netns', 'exec', ns, variant, '-t', 'filter', '-X', FWD_CHAIN]);
    assert.deepEqual(await agree(fwd), fwd);
    await ipt.bootstrap(fwd);
    await ipt.bootstrap(masqPlain);
    from = calls.length;
    assert.deepEqual(await ipt.missing([...masqPlain, ...fwd]), []);
    assert.equal(calls.length - from, 2);
    assert.equal(listing('filter').filter((l) => l.includes('flanneld forward')).length, 3, 'no duplicates');
    assert.equal(ipt.stats.fallbackChecks, 0);
  });

  test(`${variant}: rules in forms iptables rewrites are predicted as it prints them`, async (t) => {
    requireRoot();
    const cleanup = cleanupFor(t);
    const ns = Netns.create(cleanup, 'ipts').name;
    const ipt = new Iptables(nsRunner(ns, variant, []));
    const specs: string[][] = [
      ['-s', '10.244.1.7/16', '-d', '10.244.3.1', '-m', 'comment', '--comment', `a"b'c\\d`, '-j', 'MASQUERADE'],
      ['-m', 'mark', '--mark', '0x0010/0xffffffff', '-m', 'comment', '--comment', 'x', '-j', 'RETURN'],
      ['-m', 'comment', '--comment', 'x y', '-m', 'mark', '--mark', '16384/16384', '-s', '10.1.0.0/16', '-j', 'RETURN'],
      ['-d', '10.0.0.0/8', '!', '-s', '10.244.0.0/16', '-j', 'RETURN'],
      ['-s', '0.0.0.0/0', '-m', 'comment', '--comment', 'flanneld_masq', '-j', 'MASQUERADE', '--random-fully'],
    ]; // prettier-ignore
    for (const spec of specs) {
      run('ip', ['netns', 'exec', ns, variant, '-t', 'nat', '-A', 'POSTROUTING', ...spec]);
      const want = canonicalRuleText('POSTROUTING', spec);
      const lines = run('ip', ['netns', 'exec', ns, variant, '-t', 'nat', '-S']).split('\n');
      assert.ok(want !== null && lines.includes(want), `${want} in\n${lines.join('\n')}`);
    }
    const rules = specs.map((spec): IptablesRule => ({ table: 'nat', chain: 'POSTROUTING', spec }));
    assert.deepEqual(await ipt.missing(rules), []);
    assert.equal(ipt.stats.fallbackChecks, 0);
  });
}
