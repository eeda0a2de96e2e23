/**
 * The CLI's error conventions that need a namespace: `weft link --dev` naming an existing veth says
 * what the device is and what to do. Needs root (CI runs as root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Netns, cleanupFor, requireRoot, uniqueName } from '../helpers/netns';
import { assertOneLine as oneLine, runWeft as weft } from '../helpers/weft-cli';

test('link --dev naming an existing veth says what it is and what to do (root)', (t) => {
  requireRoot();
  const cleanup = cleanupFor(t);
  const ns = Netns.create(cleanup, 'wte');
  const veth = uniqueName('ve');
  ns.ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`);
  const r = weft(
    ['link', '--backend', 'udp', '--dev', veth, '--local', '127.0.0.1', '--address', '10.244.9.1/24', '--peer', '10.244.8.0/24=127.0.0.2'],
    ['ip', 'netns', 'exec', ns.name],
  ); // prettier-ignore
  oneLine(
    r,
    1,
    new RegExp(
      `device ${veth} already exists and is a veth device, not TUN: .*ip link del ${veth} \\[WEFT_ERR_SYSTEM\\]$`,
    ),
  );
  // The device is untouched.
  assert.match(ns.ip('-d', 'link', 'show', veth), /veth/);
});
