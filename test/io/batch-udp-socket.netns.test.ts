/**
 * BatchUdpSocket buffer sizes above the sysctl cap (SO_RCVBUFFORCE / SO_SNDBUFFORCE). Needs root
 * (CAP_NET_ADMIN; CI runs as root). Binds 127.0.0.1 only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchUdpSocket } from '../../src/io/batch-udp-socket';

test('buffer sizes above the sysctl cap are forced as root', (t) => {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (SO_RCVBUFFORCE); CI runs as root');
  const size = 7 * 1024 * 1024;
  const a = BatchUdpSocket.bindSync({
    address: '127.0.0.1',
    port: 0,
    recvBufferSize: size,
    sendBufferSize: size,
  });
  t.after(() => a.close());
  // The kernel stores (and reports) twice the requested value.
  assert.equal(a.recvBufferSize, 2 * size);
  assert.equal(a.sendBufferSize, 2 * size);
});
