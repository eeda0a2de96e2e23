/**
 * netdev (iproute2 wrappers) against a veth pair in a fresh namespace: MTU, address, up,
 * routes with `via ... onlink`, errors with errno names, link deletion. Needs root.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupFor, Netns, requireRoot, uniqueName } from '../helpers/netns';
import {
  addAddress,
  addRoute,
  deleteLink,
  delRoute,
  errnoFromIpStderr,
  ip,
  linkExists,
  replaceRoute,
  setAddress,
  setMtu,
  setUp,
} from '../../src/io/netdev';
import { SystemError } from '../../src/errors';

describe('netdev', () => {
  test('configures a link, adds and deletes an onlink route, reports errors with errno names', async (t) => {
    requireRoot();
    const cleanup = cleanupFor(t);
    const ns = Netns.create(cleanup, 'wnd');
    const dev = uniqueName('wnd');
    const peer = uniqueName('wnp');
    ns.ip('link', 'add', dev, 'type', 'veth', 'peer', 'name', peer);
    const o = { netns: ns.name };

    await setMtu(dev, 1450, o);
    await setAddress(dev, '10.244.3.0/32', o);
    await setAddress(dev, '10.244.3.0/32', o); // replace: idempotent
    await setUp(dev, o);
    const link = await ip(['-j', 'link', 'show', 'dev', dev], o);
    const info = JSON.parse(link) as Array<{ mtu: number; flags: string[] }>;
    assert.equal(info[0]!.mtu, 1450);
    assert.ok(info[0]!.flags.includes('UP'));
    assert.match(await ip(['-4', 'addr', 'show', 'dev', dev], o), /inet 10\.244\.3\.0\/32/);

    // flannel's VXLAN route shape: <peer subnet> via <peer subnet>.0 dev flannel.1 onlink
    await addRoute({ dst: '10.244.9.0/24', via: '10.244.9.0', dev, onlink: true }, o);
    assert.match(await ip(['route', 'show', '10.244.9.0/24'], o), /via 10\.244\.9\.0 dev \S+ onlink/);
    await assert.rejects(
      addRoute({ dst: '10.244.9.0/24', via: '10.244.9.0', dev, onlink: true }, o),
      (err: unknown) => err instanceof SystemError && err.errno === 'EEXIST',
    );
    await replaceRoute({ dst: '10.244.9.0/24', via: '10.244.9.0', dev, onlink: true, mtu: 1400 }, o);
    assert.match(await ip(['route', 'show', '10.244.9.0/24'], o), /mtu 1400/);
    await delRoute({ dst: '10.244.9.0/24', via: '10.244.9.0', dev, onlink: true }, o);
    assert.equal((await ip(['route', 'show', '10.244.9.0/24'], o)).trim(), '');

    await assert.rejects(addAddress('nosuchdev0', '10.244.4.1/24', o), (err: unknown) => {
      assert.ok(err instanceof SystemError);
      assert.equal(err.errno, 'ENODEV');
      assert.match(err.syscall, /^ip -n \S+ addr add/);
      return true;
    });

    assert.ok(await linkExists(dev, o));
    await deleteLink(dev, o);
    assert.equal(await linkExists(dev, o), false);
    assert.equal(await linkExists(peer, o), false, 'deleting one end of a veth removes both');
  });

  test('errnoFromIpStderr maps iproute2 messages', () => {
    assert.equal(errnoFromIpStderr('RTNETLINK answers: File exists'), 'EEXIST');
    assert.equal(errnoFromIpStderr('Cannot find device "x"'), 'ENODEV');
    assert.equal(errnoFromIpStderr('RTNETLINK answers: Operation not permitted'), 'EPERM');
    assert.equal(errnoFromIpStderr('something new'), 'UNKNOWN');
  });
});
