/**
 * openQueueSockets (src/dataplane/queue-devices.ts) on loopback: queue 0 of a `--workers` node must
 * refuse a port another SO_REUSEPORT group already holds (as a plain bind does with one worker),
 * instead of joining that group and replacing its program; queues then join in order and each
 * sends from a port p with p mod n = its index.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SystemError } from '../../src/errors';
import { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import { openQueueSockets, type QueueSockets, type QueueSocketSpec } from '../../src/dataplane/queue-devices';

function spec(port: number, queue: number, queues: number): QueueSocketSpec {
  return { local: '127.0.0.1', port, backend: 'vxlan', bufferSize: 0, queue, queues };
}

function closeQueue(s: QueueSockets): void {
  if (s.send !== s.recv) s.send.close();
  s.recv.close();
}

test('queue 0 refuses a port held by another reuseport group (EADDRINUSE)', () => {
  const other = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0, reusePort: true });
  try {
    assert.throws(
      () => closeQueue(openQueueSockets(spec(other.port, 0, 2))),
      (e: unknown) => e instanceof SystemError && e.syscall === 'bind' && e.errno === 'EADDRINUSE',
    );
  } finally {
    other.close();
  }
});

test('queues 0 and 1 share the port; queue k sends from p with p mod 2 = k', () => {
  const q0 = openQueueSockets(spec(0, 0, 2));
  const opened = [q0];
  try {
    opened.push(openQueueSockets(spec(q0.recv.port, 1, 2)));
    opened.forEach((s, k) => {
      assert.equal(s.recv.port, q0.recv.port, `queue ${k} receives on the shared port`);
      assert.equal(s.send.port % 2, k, `queue ${k} sends from a port with residue ${k}`);
    });
  } finally {
    opened.forEach(closeQueue);
  }
});
