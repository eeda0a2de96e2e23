/**
 * The commands' flag parsing on src/cli/args.ts: defaults, values and the exact usage messages
 * for demo, trace, explain and pcap (link, capture, mtu-probe and bench have their own tests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDemoArgs } from '../../src/cli/commands/demo';
import { DEFAULT_TRACE_NODE, parseTraceArgs } from '../../src/cli/commands/trace';
import { parseExplainArgs } from '../../src/cli/commands/explain';
import { parsePcapArgs } from '../../src/cli/commands/pcap';
import { DEFAULT_FLANNEL_UDP_PORTS, DEFAULT_VXLAN_PORTS } from '../../src/explain';
import { ConfigError, FlagValueError, UsageError } from '../../src/errors';

const fails = (
  fn: () => unknown,
  type: typeof UsageError | typeof ConfigError | typeof FlagValueError,
  message: string,
): void =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.equal((err as Error).message, message);
    return true;
  });

test('demo: defaults, values, and its messages', () => {
  assert.deepEqual(parseDemoArgs([]), { kube: false, store: 'embedded', keep: false, iperfSeconds: 3 });
  assert.deepEqual(parseDemoArgs(['--kube', '--keep']), {
    kube: true,
    store: 'embedded',
    keep: true,
    iperfSeconds: 3,
  });
  fails(
    () => parseDemoArgs(['--kube', '--store', 'etcd']),
    UsageError,
    '--kube runs no store and no iperf3: --store and --iperf-seconds do not apply',
  );
  assert.deepEqual(parseDemoArgs(['--store=etcd', '--keep', '--iperf-seconds', '10']), {
    kube: false,
    store: 'etcd',
    keep: true,
    iperfSeconds: 10,
  });
  fails(() => parseDemoArgs(['--bogus']), UsageError, 'unknown flag: --bogus');
  fails(() => parseDemoArgs(['stray']), UsageError, 'unknown flag: stray');
  fails(() => parseDemoArgs(['--store']), UsageError, 'flag needs an argument: --store');
  fails(() => parseDemoArgs(['--store', 'x']), FlagValueError, '--store: must be embedded or etcd ("x")');
  fails(
    () => parseDemoArgs(['--iperf-seconds=61']),
    FlagValueError,
    '--iperf-seconds: must be an integer in 1..60 ("61")',
  );
});

test('trace: DST_IP positional, flags, and its messages', () => {
  assert.deepEqual(parseTraceArgs(['10.244.1.5']), {
    dst: '10.244.1.5',
    node: DEFAULT_TRACE_NODE,
    src: undefined,
    size: undefined,
    json: false,
  });
  assert.deepEqual(
    parseTraceArgs([
      '--node=http://192.0.2.1:9464//',
      '10.244.1.5',
      '--src',
      '10.244.0.7',
      '--size',
      '0',
      '--json',
    ]),
    { dst: '10.244.1.5', node: 'http://192.0.2.1:9464', src: '10.244.0.7', size: 0, json: true },
  );
  fails(() => parseTraceArgs([]), UsageError, 'DST_IP is required');
  fails(() => parseTraceArgs(['10.0.0.1', '10.0.0.2']), UsageError, 'unexpected argument: 10.0.0.2');
  fails(() => parseTraceArgs(['10.0.0.1', '--bogus']), UsageError, 'unknown flag: --bogus');
  fails(() => parseTraceArgs(['10.0.0.1', '--node']), UsageError, 'flag needs an argument: --node');
  fails(
    () => parseTraceArgs(['10.0.0.1', '--size', '1401']),
    ConfigError,
    '--size: must be an integer in 0..1400 ("1401")',
  );
  fails(() => parseTraceArgs(['nope']), FlagValueError, 'DST_IP: must be an IPv4 address ("nope")');
  fails(
    () => parseTraceArgs(['10.0.0.1', '--src=x']),
    FlagValueError,
    '--src: must be an IPv4 address ("x")',
  );
});

test('explain: HEX parts are anything not starting with --; repeated --port puts the last first', () => {
  const o = parseExplainArgs(['45', '-00', '--port=4789', '--port', '9', '--udp-port', '10', '--link', 'ip']);
  assert.deepEqual(o.hexParts, ['45', '-00']);
  assert.deepEqual(o.vxlanPorts, [9, 4789, ...DEFAULT_VXLAN_PORTS]);
  assert.deepEqual(o.udpPorts, [10, ...DEFAULT_FLANNEL_UDP_PORTS]);
  assert.equal(o.link, 'ip');
  const p = parseExplainArgs(['--pcap', 'f.pcap', '--frame', '3']);
  assert.equal(p.pcap, 'f.pcap');
  assert.equal(p.frame, 3);
  assert.deepEqual(p.hexParts, []);
  fails(() => parseExplainArgs(['--no-such-flag']), UsageError, 'unknown flag --no-such-flag');
  fails(() => parseExplainArgs(['--bogus=1']), UsageError, 'unknown flag --bogus');
  fails(() => parseExplainArgs(['--pcap']), UsageError, '--pcap needs a value');
  fails(() => parseExplainArgs(['--link', 'x']), ConfigError, '--link: must be eth or ip ("x")');
  fails(
    () => parseExplainArgs(['--frame', '0']),
    ConfigError,
    '--frame: must be an integer in 1..2147483648 ("0")',
  );
});

test('pcap: mode and files as positionals, flags by name', () => {
  const e = parsePcapArgs(['encap', 'in.pcap', '--local-ip', '192.0.2.1', 'out.pcap', '--no-udp-checksum']);
  assert.equal(e.mode, 'encap');
  assert.equal(e.input, 'in.pcap');
  assert.equal(e.output, 'out.pcap');
  assert.equal(e.flags.get('--local-ip'), '192.0.2.1');
  assert.equal(e.flags.has('--no-udp-checksum'), true);
  assert.equal(e.flags.has('--remote-ip'), false);
  fails(() => parsePcapArgs(['-x', 'decap', 'a', 'b']), UsageError, 'first argument must be decap or encap');
  fails(() => parsePcapArgs(['decap', 'a']), UsageError, 'weft pcap decap needs IN.pcap and OUT.pcap');
  fails(() => parsePcapArgs(['decap', 'a', 'b', 'c']), UsageError, 'unexpected argument c');
  fails(() => parsePcapArgs(['decap', 'a', 'b', '--bogus=1']), UsageError, 'unknown flag --bogus');
  fails(() => parsePcapArgs(['decap', 'a', 'b', '--port']), UsageError, '--port needs a value');
  fails(
    () => parsePcapArgs(['decap', 'a', 'b', '--no-udp-checksum=1']),
    UsageError,
    'unknown flag --no-udp-checksum=1',
  );
});
