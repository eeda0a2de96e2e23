/**
 * The plugin's CNI protocol handling answers exactly as the Debian plugins it delegates to
 * (same checks, order, codes and messages): each case runs /usr/lib/cni/bridge and weft's plugin
 * with the same environment and stdin and compares the output. No root needed; nothing is set up
 * because every case fails before any plugin touches the system.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const WEFT_CNI = path.join(__dirname, '..', '..', '..', 'bin', 'weft-cni');
const BRIDGE = '/usr/lib/cni/bridge';

function runPlugin(
  file: string,
  env: Record<string, string>,
  stdin: string,
): { out: string; code: number | null } {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const r = spawnSync(file, [], { env: { ...base, ...env }, input: stdin, encoding: 'utf8' });
  return { out: r.stdout, code: r.status };
}

const FULL = {
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/nonexistent/ns',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/nonexistent',
};
// `msgPrefix`: Go's and V8's JSON parse errors are worded differently; the code and the rest must match.
const CASES: Array<{ what: string; env: Record<string, string>; stdin: string; msgPrefix?: string }> = [
  { what: 'VERSION', env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"0.3.1"}' },
  {
    what: 'unknown command',
    env: { ...FULL, CNI_COMMAND: 'FOO' },
    stdin: '{"cniVersion":"0.3.1","name":"n"}',
  },
  { what: 'missing variables', env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1' }, stdin: '{}' },
  { what: 'DEL needs no netns', env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1' }, stdin: '{}' },
  {
    what: 'config not JSON',
    env: { ...FULL, CNI_COMMAND: 'ADD' },
    stdin: 'nojson',
    msgPrefix: 'error unmarshall network config: ',
  },
  { what: 'no network name', env: { ...FULL, CNI_COMMAND: 'ADD' }, stdin: '{"cniVersion":"0.3.1"}' },
  {
    what: 'bad container id',
    env: { ...FULL, CNI_COMMAND: 'ADD', CNI_CONTAINERID: '../c1' },
    stdin: '{"cniVersion":"0.3.1","name":"n"}',
  },
  {
    what: 'bad interface name',
    env: { ...FULL, CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0/x' },
    stdin: '{"cniVersion":"0.3.1","name":"n"}',
  },
  {
    what: 'unsupported version',
    env: { ...FULL, CNI_COMMAND: 'ADD' },
    stdin: '{"cniVersion":"0.9.0","name":"n"}',
  },
  {
    what: 'CHECK below 0.4.0',
    env: { ...FULL, CNI_COMMAND: 'CHECK' },
    stdin: '{"cniVersion":"0.3.1","name":"n"}',
  },
];

for (const c of CASES) {
  test(`same answer as the bridge plugin: ${c.what}`, () => {
    const ours = runPlugin(WEFT_CNI, c.env, c.stdin);
    const theirs = runPlugin(BRIDGE, c.env, c.stdin);
    assert.equal(ours.code, theirs.code, `exit codes differ: ${ours.out} vs ${theirs.out}`);
    if (c.msgPrefix) {
      const [o, t] = [JSON.parse(ours.out), JSON.parse(theirs.out)] as Array<{ code: number; msg: string }>;
      assert.equal(o!.code, t!.code);
      assert.ok(o!.msg.startsWith(c.msgPrefix) && t!.msg.startsWith(c.msgPrefix), `${o!.msg} / ${t!.msg}`);
    } else {
      if (c.msgPrefix) {
        const [o, t] = [JSON.parse(ours.out), JSON.parse(theirs.out)] as Array<{ code: number; msg: string }>;
        assert.equal(o!.code, t!.code);
        assert.ok(o!.msg.startsWith(c.msgPrefix) && t!.msg.startsWith(c.msgPrefix), `${o!.msg} / ${t!.msg}`);
      } else {
        assert.equal(ours.out.trim(), theirs.out.trim());
      }
    }
  });
}

test('no CNI_COMMAND: the about text on stderr, exit 0 (as the Go plugins)', () => {
  const r = spawnSync(WEFT_CNI, [], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /CNI Plugin flannel \(weft\)/);
  assert.match(
    r.stderr,
    /CNI protocol versions supported: 0\.1\.0, 0\.2\.0, 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0/,
  );
});
