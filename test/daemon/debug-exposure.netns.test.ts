/**
 * Who can read what a node serves, in namespaces (needs root; CI runs as root). With
 * `--metrics-port`/`--healthz-port` and no address, the servers listen on 0.0.0.0 (flanneld's
 * healthz does), so /healthz and /metrics answer a host on the underlay; the `--debug` endpoints
 * (lease keys, public IPs, VTEP MACs, inner 5-tuples) answer only on loopback. With an address
 * given explicitly (`--metrics-ip 0.0.0.0`), the operator chose who may connect: /debug answers
 * there too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Testbed, DEFAULT_HEALTHZ_PORT, DEFAULT_METRICS_PORT } from '../../src/testing/testbed';
import { CONFIG, needRoot } from './cluster-helpers';

/** argsWithout drops `--flag value` pairs from `args`. */
function argsWithout(args: string[], flags: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (flags.includes(args[i]!)) {
      i++;
      continue;
    }
    out.push(args[i]!);
  }
  return out;
}

const DEBUG_PATHS = ['/debug/routes', '/debug/stats', '/debug/flows'];

test('weft run --debug: /debug on loopback only unless an address is given; healthz and metrics on 0.0.0.0', async (t) => {
  needRoot();
  const tb = await Testbed.create({ nodes: 2, tag: 'dx' });
  t.after(() => tb.cleanup());
  tb.writeConfig(CONFIG);
  const [n1, n2] = tb.nodes as [(typeof tb.nodes)[0], (typeof tb.nodes)[0]];
  const base = argsWithout(tb.weftArgs(n1), ['--healthz-ip', '--metrics-ip']);

  await t.test('no address: healthz and metrics reach the underlay, /debug only loopback', async () => {
    const p = tb.spawnIn(n1.ns, 'weft run (defaults)', process.execPath, [tb.weftBin, 'run', ...base]);
    n1.weft = p;
    await tb.waitReady(n1, 30_000);
    const remote = (path: string, port = DEFAULT_METRICS_PORT) =>
      tb.httpGet(n2.ns, `http://${n1.ip}:${port}${path}`);
    assert.equal(remote('/healthz', DEFAULT_HEALTHZ_PORT).status, 200, 'healthz on 0.0.0.0 (flanneld)');
    assert.equal(remote('/metrics').status, 200, 'metrics on 0.0.0.0');
    for (const path of DEBUG_PATHS) {
      const r = remote(path);
      assert.equal(r.status, 403, `${path} from the underlay: ${r.status} ${r.body.slice(0, 200)}`);
      assert.doesNotMatch(r.body, /10\.244\.|publicIp|vtepMac/, 'nothing of the node leaks');
      assert.match(r.body, /loopback/);
      const local = tb.httpGet(n1.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}${path}`);
      assert.equal(local.status, 200, `${path} on loopback`);
    }
    // The node's own underlay address is not loopback either: a local process must use 127.0.0.1.
    assert.equal(tb.httpGet(n1.ns, `http://${n1.ip}:${DEFAULT_METRICS_PORT}/debug/routes`).status, 403);
    assert.ok(
      p.events.some((e) => /\/debug/.test(e.msg) && /loopback/.test(e.msg)),
      'the start-up log says where /debug answers',
    );
    await p.stop(5000);
  });

  await t.test('--metrics-ip 0.0.0.0 given explicitly: /debug answers on it', async () => {
    const args = [...base, '--metrics-ip', '0.0.0.0'];
    const p = tb.spawnIn(n1.ns, 'weft run (explicit)', process.execPath, [tb.weftBin, 'run', ...args]);
    n1.weft = p;
    await tb.waitReady(n1, 30_000);
    for (const path of DEBUG_PATHS) {
      const r = tb.httpGet(n2.ns, `http://${n1.ip}:${DEFAULT_METRICS_PORT}${path}`);
      assert.equal(r.status, 200, `${path}: ${r.body.slice(0, 200)}`);
    }
    await p.stop(5000);
  });
});
