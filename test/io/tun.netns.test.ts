/**
 * Tun against the real kernel: a TUN device in a fresh namespace, pinged from the kernel side.
 * The TUN work runs in a child (helpers/tun-echo.ts) started with `ip netns exec`, because a TUN
 * device belongs to the namespace of the process that opens it. Needs root.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanupFor, Netns, requireRoot, uniqueName } from '../helpers/netns';
import { Tun } from '../../src/io/tun';
import { SystemError } from '../../src/errors';
import type { TunEchoReport } from './helpers/tun-echo';

const TUN_ECHO = join(__dirname, 'helpers', 'tun-echo.js');

describe('Tun', () => {
  test('ICMP echo requests arrive in readBatch with their length and replies written with writeBatch reach ping', async (t) => {
    requireRoot();
    const cleanup = cleanupFor(t);
    const ns = Netns.create(cleanup, 'wio');
    const dev = uniqueName('wtun');
    const child = ns.spawn('tun-echo', process.execPath, [TUN_ECHO, dev]);
    const code = await child.exited;
    assert.equal(code, 0, `tun-echo failed:\n${child.log}`);
    const line = child.lines.find((l) => l.startsWith('{'));
    assert.ok(line, `no report from tun-echo:\n${child.log}`);
    const r = JSON.parse(line) as TunEchoReport;

    assert.equal(r.name, dev);
    assert.ok(r.fd > 2, 'a real fd');
    assert.equal(r.mtu, 1400, 'MTU set through iproute2 and read back through SIOCGIFMTU');
    // ping -s 56: IPv4 20 + ICMP 8 + 56 = 84 bytes; -s 1000: 1028 bytes.
    assert.deepEqual(r.requestLengths, [84, 84, 84, 1028, 1028]);
    assert.ok(r.pingSmallOk, 'ping with 56-byte payload answered through writeBatch');
    assert.ok(r.pingLargeOk, 'ping with 1000-byte payload answered through writeBatch');

    assert.equal(r.badDescriptorWritten, 0, 'a descriptor outside the buffer is not written');
    assert.equal(r.badDescriptorErrors, 1, 'and is counted in txErrors');

    assert.equal(r.truncatedPingOk, false, 'a packet larger than its slot is not echoed');
    assert.equal(r.truncated, 1, 'and is counted in rxTruncated');

    assert.ok(r.counters.rxPackets! >= 5);
    assert.equal(r.counters.txPackets, 5, 'five echo replies written');
    assert.equal(r.counters.txBytes, 3 * 84 + 2 * 1028);
    assert.ok(r.counters.rxSyscalls! > r.counters.rxPackets!, 'each drain ends with an EAGAIN read');
    assert.ok(r.counters.rxEagain! >= 1);
    assert.equal(r.counters.rxErrors, 0);
    assert.ok(r.goneAfterClose, 'closing the fd removes the non-persistent device');
  });

  test('open with a name longer than 15 bytes fails with ENAMETOOLONG from TUNSETIFF', () => {
    requireRoot();
    assert.throws(
      () => Tun.open('weft-name-20-chars-x'),
      (err: unknown) => {
        assert.ok(err instanceof SystemError);
        assert.equal(err.errno, 'ENAMETOOLONG');
        assert.equal(err.syscall, 'TUNSETIFF');
        assert.equal(err.code, 'WEFT_ERR_SYSTEM');
        return true;
      },
    );
  });
});
