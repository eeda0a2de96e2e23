import { test } from 'node:test';
import assert from 'node:assert/strict';
import { searchPathMtu, type ProbeOutcome } from '../../src/mtu/search';
import { buildReport } from '../../src/mtu/report';
import { buildEchoRequest, parseIcmpPacket } from '../../src/mtu/icmp-prober';
import { internetChecksum } from '../../src/wire/checksum';
import { parseMtuProbeArgs } from '../../src/cli/commands/mtu-probe';
import { FlagValueError, UsageError } from '../../src/errors';

/** fakePath models a path: sizes <= pathMtu reply; device MTU gives EMSGSIZE; between, `mode` decides. */
function fakePath(o: { pathMtu: number; deviceMtu: number; mode: 'drop' | 'frag-needed' | 'tunnel' }) {
  let cached: number | undefined;
  const sent: number[] = [];
  const probe = async (size: number): Promise<ProbeOutcome> => {
    sent.push(size);
    if (size > o.deviceMtu) return { kind: 'emsgsize' };
    if (cached !== undefined && size > cached) return { kind: 'emsgsize' };
    if (size <= o.pathMtu) return { kind: 'reply', rttMs: 1 };
    if (o.mode === 'drop') return { kind: 'timeout' };
    cached = o.pathMtu;
    if (o.mode === 'frag-needed') return { kind: 'frag-needed', mtu: o.pathMtu, from: '192.0.2.254' };
    return { kind: 'reply', rttMs: 1 }; // the tunnel fragmented it once, and cached the PMTU
  };
  return { probe, sent };
}

for (const mode of ['drop', 'frag-needed', 'tunnel'] as const) {
  test(`search finds the path MTU behind a ${mode} hop`, async () => {
    const p = fakePath({ pathMtu: 1350, deviceMtu: 1450, mode });
    const r = await searchPathMtu(p.probe, { min: 68, max: 1450, deviceMtu: 1450, attempts: 2 });
    assert.equal(r.pathMtu, 1350);
    assert.equal(r.atMax, false);
    const expected = { drop: 'silent-drop', 'frag-needed': 'frag-needed', tunnel: 'tunnel-fragmentation' }[
      mode
    ];
    assert.equal(r.limit, expected);
    assert.equal(r.tunnelFragmentation, mode === 'tunnel');
    if (mode === 'frag-needed') assert.equal(r.reportedMtu, 1350);
    assert.ok(r.probes < 40, `${r.probes} probes`);
  });
}

test('search: everything passes -> atMax; nothing passes -> pathMtu 0 with a reason', async () => {
  const ok = await searchPathMtu(async () => ({ kind: 'reply', rttMs: 0 }), { min: 68, max: 1450 });
  assert.equal(ok.pathMtu, 1450);
  assert.equal(ok.atMax, true);
  assert.equal(ok.limit, 'none');
  const dead = await searchPathMtu(async () => ({ kind: 'timeout' }), { min: 68, max: 1450 });
  assert.equal(dead.pathMtu, 0);
  assert.match(dead.failure ?? '', /no echo reply at the minimum size 68/);
});

test('search: one lost echo is retried and does not shrink the result', async () => {
  let lost = false;
  const r = await searchPathMtu(
    async (size) => {
      if (size === 1450 && !lost) {
        lost = true;
        return { kind: 'timeout' };
      }
      return size <= 1450 ? { kind: 'reply', rttMs: 0 } : { kind: 'emsgsize' };
    },
    { min: 68, max: 1450 },
  );
  assert.equal(r.pathMtu, 1450);
});

test('report: overlay 1350 over VXLAN implies underlay 1400 and warns about a 1450 device', () => {
  const rep = buildReport(
    { pathMtu: 1350, limit: 'tunnel-fragmentation', atMax: false, probes: 20, tunnelFragmentation: true },
    {
      peer: '10.244.1.1',
      backend: 'vxlan',
      dev: { name: 'flannel.1', mtu: 1450, kind: 'vxlan' },
      lower: { name: 'eth0', mtu: 1400 },
    },
    1450,
  );
  assert.equal(rep.overlayPathMtu, 1350);
  assert.equal(rep.impliedUnderlayMtu, 1400);
  assert.ok(rep.warnings.some((w) => /flannel\.1 MTU 1450 is larger than the path MTU 1350/.test(w)));
  const udp = buildReport(
    { pathMtu: 1472, limit: 'none', atMax: true, probes: 2, tunnelFragmentation: false },
    { peer: '10.244.1.1', backend: 'udp', dev: { name: 'flannel0', mtu: 1472, kind: 'tun' } },
    1472,
  );
  assert.equal(udp.impliedUnderlayMtu, 1500);
  assert.deepEqual(udp.warnings, []);
  const small = buildReport(
    { pathMtu: 1300, limit: 'none', atMax: true, probes: 2, tunnelFragmentation: false },
    {
      peer: '10.244.1.1',
      backend: 'vxlan',
      dev: { name: 'flannel.1', mtu: 1300, kind: 'vxlan' },
      lower: { name: 'eth0', mtu: 1500 },
    },
    1300,
  );
  assert.ok(small.warnings.some((w) => /wasted capacity/.test(w)));
});

test('echo request has the asked IP size and a valid checksum; replies and frag-needed parse', () => {
  const req = buildEchoRequest(1350, 0x1234, 7);
  assert.equal(req.length + 20, 1350);
  assert.equal(internetChecksum(req, 0, req.length), 0);
  const ipHdr = Buffer.alloc(20);
  ipHdr[0] = 0x45;
  ipHdr[9] = 1;
  const reply = Buffer.concat([ipHdr, Buffer.from(req)]);
  reply[20] = 0;
  assert.deepEqual(parseIcmpPacket(reply, '10.244.1.1'), {
    kind: 'reply',
    id: 0x1234,
    seq: 7,
    from: '10.244.1.1',
  });
  const err = Buffer.alloc(8);
  err[0] = 3;
  err[1] = 4;
  err.writeUInt16BE(1400, 6);
  const quoted = Buffer.concat([ipHdr, req.subarray(0, 8)]);
  const fn = parseIcmpPacket(Buffer.concat([ipHdr, err, quoted]), '192.0.2.254');
  assert.deepEqual(fn, { kind: 'frag-needed', id: 0x1234, seq: 7, mtu: 1400, from: '192.0.2.254' });
  assert.equal(parseIcmpPacket(Buffer.alloc(10), 'x'), undefined);
});

test('mtu-probe flags', () => {
  const o = parseMtuProbeArgs(['10.244.1.1', '--backend', 'udp', '--timeout', '500', '--max', '1400']);
  assert.equal(o.peer, '10.244.1.1');
  assert.equal(o.backend, 'udp');
  assert.equal(o.timeoutMs, 500);
  assert.equal(o.max, 1400);
  for (const argv of [
    [],
    ['nope'],
    ['10.244.1.1', '--min', '2000', '--max', '1000'],
    ['10.244.1.1', '--x'],
  ]) {
    assert.throws(
      () => parseMtuProbeArgs(argv),
      (e: unknown) => e instanceof UsageError || e instanceof FlagValueError,
    );
  }
});
