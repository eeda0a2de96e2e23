/**
 * The CLI's error conventions, end to end through bin/weft: a file that cannot be read or written
 * is one line naming the path and the reason (no stack trace), outputs are checked before work
 * starts, `--version`, `help nosuch`, one exit code for bad flag values (2) in every command, and
 * errors that must name what is wrong rather than pass silently (mtu-probe --dev, link --dev on a
 * veth, pcap decap F F). The link --dev check needs a namespace and lives in errors.netns.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { version } from '../../src/cli/main';
import { REPO_ROOT } from '../helpers/paths';
import { assertOneLine as oneLine, runWeft as weft } from '../helpers/weft-cli';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'kernel-vxlan-8472.pcap');

test('weft --version prints the package version; weft help nosuch exits 2', () => {
  for (const flag of ['--version', '-V', 'version']) {
    const r = weft([flag]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `weft ${version()}\n`);
  }
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version(), pkg.version);
  const h = weft(['help', 'nosuch']);
  assert.equal(h.status, 2);
  assert.equal(h.stdout, '');
  assert.match(h.stderr, /unknown command 'nosuch'/);
});

test('a missing or unwritable file is one line naming the path and the reason', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-errs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'nope.pcap');
  const noDir = join(dir, 'no', 'such', 'dir', 'out.pcap');

  oneLine(
    weft(['explain', '--pcap', missing, '--frame', '1']),
    1,
    /^weft explain: .*nope\.pcap: no such file or directory \(ENOENT\) \[WEFT_ERR_FILE\]$/,
  );
  oneLine(
    weft(['explain', '--hex-file', missing]),
    1,
    /nope\.pcap: no such file or directory.*\[WEFT_ERR_FILE\]$/,
  );
  oneLine(
    weft(['explain', '--hex-file', dir]),
    1,
    /--hex-file .*: is a directory, not a file \[WEFT_ERR_FILE\]$/,
  );
  oneLine(weft(['pcap', 'decap', missing, join(dir, 'o.pcap')]), 1, /nope\.pcap: no such file or directory/);
  oneLine(weft(['pcap', 'encap', missing, join(dir, 'o.pcap'), '--local-ip', '192.0.2.1', '--remote-ip', '192.0.2.2', '--backend', 'udp']), 1, /nope\.pcap: no such file/); // prettier-ignore
  oneLine(
    weft(['pcap', 'decap', FIXTURE, noDir]),
    1,
    /^weft pcap: OUT\.pcap .*out\.pcap: directory .*dir does not exist \[WEFT_ERR_FILE\]$/,
  );
  oneLine(weft(['pcap', 'decap', FIXTURE, dir]), 1, /is a directory, not a file/);
  oneLine(
    weft(['capture', '-r', missing]),
    1,
    /^weft capture: -r .*nope\.pcap: no such file or directory \(ENOENT\) \[WEFT_ERR_FILE\]$/,
  );
  oneLine(
    weft(['capture', '-r', dir]),
    1,
    /^weft capture: -r .*: is a directory, not a file \[WEFT_ERR_FILE\]$/,
  );
  // capture -w is checked before the capture opens (so this needs no root and no interface).
  oneLine(
    weft(['capture', '-i', 'lo', '-w', noDir]),
    1,
    /^weft capture: -w .*directory .*does not exist \[WEFT_ERR_FILE\]$/,
  );

  // A path "under" a regular file.
  const file = join(dir, 'plain');
  writeFileSync(file, '');
  oneLine(
    weft(['bench', '--csv', join(file, 'x.csv')]),
    1,
    /^weft bench: --csv .*plain\/x\.csv: a component of the path is not a directory \(ENOTDIR\) \[WEFT_ERR_FILE\]$/,
  );
});

test('bench checks --json/--svg/--csv before benchmarking, and fails in well under a second of work', () => {
  for (const flag of ['--json', '--svg', '--csv']) {
    const r = weft(['bench', flag, '/nonexistent-weft-dir/x.out', '--cases', 'veth', '--quick']);
    oneLine(
      r,
      1,
      new RegExp(
        `^weft bench: ${flag} /nonexistent-weft-dir/x.out: directory /nonexistent-weft-dir does not exist \\[WEFT_ERR_FILE\\]$`,
      ),
    );
    assert.doesNotMatch(r.stderr, /MTU|iperf|namespace/i, 'no benchmark progress before the error');
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
  }
});

test('pcap decap F F refuses to overwrite its input, also through another spelling of the path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'in.pcap');
  copyFileSync(FIXTURE, f);
  const before = readFileSync(f);
  for (const out of [f, join(dir, '.', 'in.pcap'), join(dir, '..', dir.split('/').at(-1)!, 'in.pcap')]) {
    const r = weft(['pcap', 'decap', f, out]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /is the input file; write to another file \[WEFT_ERR_USAGE\]/);
  }
  assert.deepEqual(readFileSync(f), before, 'input unchanged');
  assert.equal(weft(['pcap', 'decap', f, join(dir, 'out.pcap')]).status, 0);
});

test('a bad flag value exits 2 in every command, naming the flag', (t) => {
  // An output path of our own: a shared /tmp/x.pcap may belong to another user.
  const outDir = mkdtempSync(join(tmpdir(), 'weft-errors-'));
  t.after(() => rmSync(outDir, { recursive: true, force: true }));
  const outPcap = join(outDir, 'x.pcap');
  const cases: Array<[string[], RegExp]> = [
    [['link', '--backend', 'udp', '--dev', 'w0', '--local', '192.0.2.1', '--address', '10.0.0.1/24', '--vni', 'x', '--peer', '10.1.0.0/16=192.0.2.2'], /--vni: must be an integer in 0\.\.16777215 \("x"\)/], // prettier-ignore
    [['link', '--backend', 'udp', '--dev', 'w0', '--local', '192.0.2', '--address', '10.0.0.1/24', '--peer', '10.1.0.0/16=192.0.2.2'], /--local/], // prettier-ignore
    [['capture', '--vni', 'x'], /--vni: must be an integer/],
    [['capture', '--backend', 'geneve'], /--backend: must be auto, vxlan or udp \("geneve"\)/],
    [['mtu-probe', '10.244.1.1', '--timeout', 'x'], /--timeout: must be an integer in 10\.\.60000/],
    [['mtu-probe', 'nope'], /PEER_OVERLAY_IP: must be an IPv4 address/],
    [['bench', '--rounds', '0'], /--rounds: must be an integer in 1\.\.20 \("0"\)/],
    [['bench', '--cases', 'wireguard'], /--cases: must be a comma-separated list of/],
    [['explain', '--frame', '0', '--pcap', FIXTURE], /--frame: must be an integer/],
    [['explain', '--link', 'x', 'ff'], /--link: must be eth or ip/],
    [['pcap', 'decap', FIXTURE, outPcap, '--vni', '99999999'], /--vni: must be an integer in 0\.\.16777215/],
    [['pcap', 'encap', FIXTURE, outPcap, '--local-ip', '1.2.3', '--remote-ip', '192.0.2.2'], /--local-ip/],
    [['trace', '10.244.1.1', '--size', 'x'], /--size: must be an integer in 0\.\.1400/],
    [['demo', '--store', 'consul'], /--store: must be embedded or etcd/],
  ];
  for (const [args, re] of cases) {
    const r = weft(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.match(r.stderr, /\[WEFT_ERR_CONFIG\]/, args.join(' '));
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  }
  // weft run logs JSON, and a bad flag value is a bad command line there too.
  const run = weft(['run', '--subnet-lease-renew-margin', '0']);
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /"field":"--subnet-lease-renew-margin"/);
});

test('mtu-probe --dev names a device that does not exist: an error, not ignored', () => {
  const r = weft(['mtu-probe', '10.244.1.1', '--dev', 'nosuch0', '--timeout', '50']);
  oneLine(
    r,
    1,
    /^weft mtu-probe: --dev: must name an existing network device \(ip link show\) \("nosuch0"\) \[WEFT_ERR_CONFIG\]$/,
  );
});
