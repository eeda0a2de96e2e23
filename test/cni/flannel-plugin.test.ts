/**
 * The plugin's commands against a stand-in delegate (a shell script named `bridge` in CNI_PATH
 * that records its environment and stdin and answers as told): what is sent, what is saved, what
 * DEL replays, how a delegate's error comes back. No root: nothing touches the network; the real
 * plugins are exercised in cni.netns.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { flannelPlugin } from '../../src/cni/flannel';
import { pluginMain } from '../../src/cni/skel';

const FAKE = `#!/bin/sh
# Records one invocation, then answers from $DIR/answer (exit code from $DIR/rc).
n=$(ls "$DIR"/calls 2>/dev/null | wc -l)
mkdir -p "$DIR/calls/$n"
cat > "$DIR/calls/$n/stdin"
echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME" > "$DIR/calls/$n/env"
cat "$DIR/answer" 2>/dev/null
exit $(cat "$DIR/rc" 2>/dev/null || echo 0)
`;

function setup(t: { after(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cni-fake-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'bridge'), FAKE, { mode: 0o755 });
  fs.writeFileSync(
    path.join(dir, 'subnet.env'),
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
  );
  const conf = (extra: Record<string, unknown> = {}): string =>
    JSON.stringify({
      cniVersion: '0.4.0',
      name: 'cbr0',
      type: 'flannel',
      delegate: { hairpinMode: true, isDefaultGateway: true },
      subnetFile: path.join(dir, 'subnet.env'),
      dataDir: path.join(dir, 'cache'),
      ...extra,
    });
  const logs: string[] = [];
  const env = { ...process.env, DIR: dir };
  const run = (cmd: string, stdin: string, id = 'ctr1') =>
    pluginMain(
      {
        ...env,
        CNI_COMMAND: cmd,
        CNI_CONTAINERID: id,
        CNI_NETNS: '/var/run/netns/x',
        CNI_IFNAME: 'eth0',
        CNI_PATH: path.join(dir, 'bin'),
      },
      stdin,
      flannelPlugin({ log: (s) => logs.push(s), env }),
      'about',
    );
  const calls = (): Array<{ env: string; stdin: string }> =>
    fs.existsSync(path.join(dir, 'calls'))
      ? fs
          .readdirSync(path.join(dir, 'calls'))
          .sort((a, b) => Number(a) - Number(b))
          .map((n) => ({
            env: fs.readFileSync(path.join(dir, 'calls', n, 'env'), 'utf8').trim(),
            stdin: fs.readFileSync(path.join(dir, 'calls', n, 'stdin'), 'utf8'),
          }))
      : [];
  const answer = (text: string, rc = 0): void => {
    fs.writeFileSync(path.join(dir, 'answer'), text);
    fs.writeFileSync(path.join(dir, 'rc'), String(rc));
  };
  return { dir, conf, run, calls, answer, logs };
}

test('ADD: the delegate gets the rendered config as ADD, its result is printed, the config saved', (t) => {
  const s = setup(t);
  s.answer('{"cniVersion":"0.4.0","ips":[]}');
  const r = s.run('ADD', s.conf());
  assert.equal(r.exitCode, 0, r.stdout);
  assert.equal(r.stdout, '{"cniVersion":"0.4.0","ips":[]}');
  const [c] = s.calls();
  assert.equal(c!.env, 'ADD ctr1 eth0');
  const saved = fs.readFileSync(path.join(s.dir, 'cache', 'ctr1'), 'utf8');
  assert.equal(c!.stdin, saved, 'the bytes sent are the bytes saved');
  assert.match(saved, /^\{"cniVersion":"0\.4\.0","hairpinMode":true,"ipMasq":false,"ipam":/);
  assert.match(s.logs.join(''), /delegateAdd: netconf sent to delegate plugin:\n\{"cniVersion"/);
});

test('DEL replays the saved config and removes it; without one it succeeds and runs nothing', (t) => {
  const s = setup(t);
  s.answer('{"cniVersion":"0.4.0"}');
  s.run('ADD', s.conf());
  s.answer('');
  const r = s.run('DEL', s.conf({ prevResult: { cniVersion: '0.4.0' } }));
  assert.equal(r.exitCode, 0, r.stdout);
  const calls = s.calls();
  assert.equal(calls.length, 2);
  assert.equal(calls[1]!.env, 'DEL ctr1 eth0');
  assert.equal(calls[1]!.stdin, calls[0]!.stdin, 'DEL sends what ADD saved, not the new stdin');
  assert.equal(fs.existsSync(path.join(s.dir, 'cache', 'ctr1')), false);
  assert.equal(s.run('DEL', s.conf()).exitCode, 0);
  assert.equal(s.calls().length, 2, 'no delegate call without a saved config');
});

test("a delegate's error comes back with its code, msg and details; the cache stays for DEL", (t) => {
  const s = setup(t);
  s.answer('{"code":11,"msg":"try again","details":"busy"}', 1);
  const r = s.run('ADD', s.conf());
  assert.equal(r.exitCode, 1);
  assert.deepEqual(JSON.parse(r.stdout), { code: 11, msg: 'try again', details: 'busy' });
  assert.ok(fs.existsSync(path.join(s.dir, 'cache', 'ctr1')));
  // A failing DEL keeps it too, so the runtime's retry can still clean up.
  const d = s.run('DEL', s.conf());
  assert.equal(d.exitCode, 1);
  assert.ok(fs.existsSync(path.join(s.dir, 'cache', 'ctr1')));
  // A delegate that dies without an error JSON is named by its exit status.
  s.answer('', 3);
  assert.equal(
    JSON.parse(s.run('ADD', s.conf(), 'ctr2').stdout).msg,
    'netplugin failed with no error message: exit status 3',
  );
});

test("a delegate missing from CNI_PATH: libcni's message", (t) => {
  const s = setup(t);
  const r = s.run('ADD', s.conf({ delegate: { type: 'macvlan' } }));
  assert.equal(
    JSON.parse(r.stdout).msg,
    `failed to find plugin "macvlan" in path [${path.join(s.dir, 'bin')}]`,
  );
});

test('an unreadable saved config: DEL succeeds and leaves it (as flannel); CHECK says so', (t) => {
  const s = setup(t);
  fs.mkdirSync(path.join(s.dir, 'cache'));
  fs.writeFileSync(path.join(s.dir, 'cache', 'ctr1'), 'not json');
  assert.equal(s.run('DEL', s.conf()).exitCode, 0);
  assert.match(s.logs.join(''), /failed to parse netconf/);
  assert.ok(fs.existsSync(path.join(s.dir, 'cache', 'ctr1')));
  const c = s.run('CHECK', s.conf({ prevResult: {} }));
  assert.equal(c.exitCode, 1);
  assert.match(JSON.parse(c.stdout).msg, /saved delegate config .* is not JSON/);
  assert.equal(s.calls().length, 0);
});

test('CHECK: saved config + prevResult with explicit route gateways, as CHECK', (t) => {
  const s = setup(t);
  s.answer('{}');
  s.run('ADD', s.conf());
  s.answer('');
  const prev = {
    cniVersion: '0.4.0',
    ips: [{ version: '4', address: '10.244.1.2/24', gateway: '10.244.1.1' }],
    routes: [{ dst: '10.244.0.0/16' }],
  };
  const r = s.run('CHECK', s.conf({ prevResult: prev }));
  assert.equal(r.exitCode, 0, r.stdout);
  const sent = JSON.parse(s.calls()[1]!.stdin) as { prevResult: typeof prev; type: string };
  assert.equal(s.calls()[1]!.env, 'CHECK ctr1 eth0');
  assert.equal(sent.type, 'bridge');
  assert.deepEqual(sent.prevResult.routes, [{ dst: '10.244.0.0/16', gw: '10.244.1.1' }]);
});

test("stale bridge: the bridge's message becomes one naming the bridge, both addresses and the fix", (t) => {
  const s = setup(t);
  s.answer(
    '{"code":999,"msg":"failed to set bridge addr: \\"cbr7\\" already has an IP address different from 10.244.1.1/24"}',
    1,
  );
  const r = JSON.parse(s.run('ADD', s.conf()).stdout) as { code: number; msg: string; details: string };
  assert.equal(r.code, 999);
  assert.match(
    r.msg,
    /^stale bridge "cbr7": this node's pod subnet \(FLANNEL_SUBNET in .*subnet\.env\) needs gateway 10\.244\.1\.1\/24 on cbr7/,
  );
  assert.match(r.msg, /Fix: on this node run "ip link delete cbr7"/);
  assert.equal(
    r.details,
    'failed to set bridge addr: "cbr7" already has an IP address different from 10.244.1.1/24',
  );
});
