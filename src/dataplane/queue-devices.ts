/**
 * queue-devices: opening the kernel objects of one forwarding queue, the same way on the main
 * thread (queue 0) and in worker threads (queues 1..n-1).
 *
 * Sockets, with n = `--workers`:
 * - n = 1: one socket bound to local:port sends and receives (as before workers existed).
 * - n > 1: every queue binds its receive socket to local:port with SO_REUSEPORT, in queue order,
 *   and queue 0 attaches the program `source port mod n` (src/io/reuseport-bpf.ts) to the group,
 *   so a datagram goes to the queue its outer source port names. Queue k sends from a port p with
 *   p mod n = k: the bound port itself when it qualifies, else a send-only socket on an ephemeral
 *   port that does. A weft peer with the same n then receives a flow on the worker with the
 *   index of the worker that sent it, and kernel VXLAN peers (one hashed port per flow) spread
 *   their flows over the workers. Either way a flow stays on one queue.
 * - `--src-port flow` (`srcPorts` set): queue k sends from a SrcPortPool instead (src/io/src-port-pool.ts):
 *   sockets on ports of the range with p mod n = k, one per lane, so the rule above still holds
 *   for every hashed port.
 * - VXLAN sockets send with DF clear (IP_PMTUDISC_DONT), as the kernel's VXLAN device does.
 *
 * TUN: n > 1 opens the device with IFF_MULTI_QUEUE, one fd per queue; the kernel steers each
 * flow to one queue (and learns the queue a flow's packets are written from), so per-flow order
 * holds. IFF_VNET_HDR is a device-wide flag: every queue must open with the same choice.
 *
 * USO (UDP segmentation offload, Linux >= 6.2): the ingress writes coalesced UDP runs as
 * GSO_UDP_L4 super-packets (src/offload/udp-coalesce.ts), which kernels before 6.2 reject. The
 * kernel's answer to TUNSETOFFLOAD with TUN_F_USO4|TUN_F_USO6 is the probe: accepted -> `tun.uso`;
 * EINVAL -> TCP offloads only, `tun.usoRefused` says why (stats `offload.usoRefused`). The flags
 * are then set back to CSUM|TSO4|TSO6: they also set the device's NETIF_F_GSO_UDP_L4, which would
 * hand weft's egress UDP super-packets to segment, and weft's egress segments TCP only; the
 * kernel takes GSO_UDP_L4 writes whatever the read-side features say (virtio_net_hdr_to_skb).
 */
import { ConfigError } from '../errors';
import { BatchUdpSocket } from '../io/batch-udp-socket';
import { encodeBpf, sourcePortModuloProgram } from '../io/reuseport-bpf';
import { SrcPortPool } from '../io/src-port-pool';
import { Tun, tunConstants } from '../io/tun';
import { applyTunIo } from '../io/tun-io';
import type { Backend } from '../route/peer';
import { VIRTIO_NET_HDR_SIZE } from '../wire/virtio-net-hdr';

/** IPPROTO_IP / IP_MTU_DISCOVER / IP_PMTUDISC_DONT from <linux/in.h>: send with DF clear. */
const IPPROTO_IP = 0;
const IP_MTU_DISCOVER = 10;
const IP_PMTUDISC_DONT = 0;

/** Ephemeral binds tried to find a port with the right residue (n <= 16 needs ~n on average). */
const SEND_PORT_ATTEMPTS = 512;

/** QueueSocketSpec says where and how one queue's sockets bind. */
export interface QueueSocketSpec {
  local: string;
  port: number;
  backend: Backend;
  bufferSize: number;
  /** This queue's index and the node's queue count. */
  queue: number;
  queues: number;
  /** `--src-port flow`: send from a pool of ports in this range (null: the rule above). */
  srcPorts?: { min: number; max: number } | null;
}

/** QueueSockets are one queue's sockets; `send` may be `recv`. */
export interface QueueSockets {
  recv: BatchUdpSocket;
  send: BatchUdpSocket | SrcPortPool;
}

function configure(sock: BatchUdpSocket, backend: Backend): BatchUdpSocket {
  if (backend !== 'vxlan') return sock;
  // Linux UDP sockets default to path-MTU discovery, i.e. DF set on every datagram; the kernel's
  // VXLAN device (flannel.1) sends its outer IPv4 with DF clear. Match it.
  try {
    sock.setOption(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT);
  } catch (err) {
    sock.close();
    throw err;
  }
  return sock;
}

/**
 * openQueueSockets binds queue `spec.queue`'s sockets (see the module comment). Queue 0 must be
 * opened first: it creates the reuseport group (EADDRINUSE when the port is taken, also by
 * another reuseport group) and attaches the program; the others join in order. Throws
 * SystemError (EADDRINUSE, ...) with nothing left open.
 */
export function openQueueSockets(spec: QueueSocketSpec): QueueSockets {
  const n = spec.queues;
  const bufs = { recvBufferSize: spec.bufferSize, sendBufferSize: spec.bufferSize };
  // A SO_REUSEPORT bind joins any same-uid group already on the port (another weft with
  // --workers, a previous run still stopping) instead of failing, and queue 0's program would
  // then steer that group too. A plain bind first fails with EADDRINUSE, as n = 1 does.
  if (n > 1 && spec.queue === 0) BatchUdpSocket.bindSync({ address: spec.local, port: spec.port }).close();
  const recv = configure(
    BatchUdpSocket.bindSync({ address: spec.local, port: spec.port, reusePort: n > 1, ...bufs }),
    spec.backend,
  );
  try {
    if (n > 1 && spec.queue === 0) recv.attachReuseportProgram(encodeBpf(sourcePortModuloProgram(n)));
    if (spec.srcPorts) {
      const pool = SrcPortPool.open({
        local: spec.local,
        min: spec.srcPorts.min,
        max: spec.srcPorts.max,
        queue: spec.queue,
        queues: n,
        sendBufferSize: spec.bufferSize,
        configure: (s) => void configure(s, spec.backend),
      });
      return { recv, send: pool };
    }
    if (n === 1) return { recv, send: recv };
    if (recv.port % n === spec.queue) return { recv, send: recv };
    return { recv, send: configure(openSendSocket(spec.local, spec.queue, n, bufs), spec.backend) };
  } catch (err) {
    recv.close();
    throw err;
  }
}

/** openSendSocket binds an ephemeral port p with p mod n = k (keeping rejected ones until done). */
function openSendSocket(
  local: string,
  k: number,
  n: number,
  bufs: { recvBufferSize: number; sendBufferSize: number },
): BatchUdpSocket {
  const rejected: BatchUdpSocket[] = [];
  try {
    for (let i = 0; i < SEND_PORT_ATTEMPTS; i++) {
      const s = BatchUdpSocket.bindSync({ address: local, port: 0, ...bufs });
      if (s.port % n === k) return s;
      rejected.push(s);
    }
  } finally {
    for (const s of rejected) s.close();
  }
  throw new ConfigError('--workers', `no free UDP port p with p mod ${n} = ${k} on ${local}`);
}

/**
 * openTunQueue opens one queue of TUN device `dev` (batched through io_uring unless WEFT_TUN_IO
 * says otherwise: src/io/tun-io.ts): IFF_MULTI_QUEUE when `multiQueue`, and with
 * `vnetHdr` also the virtio header size, the USO probe (module comment) and TUNSETOFFLOAD
 * CSUM|TSO4|TSO6. Throws SystemError; a refused offload closes the fd first.
 */
export function openTunQueue(dev: string, vnetHdr: boolean, multiQueue: boolean): Tun {
  const tun = Tun.open(dev, { vnetHdr, multiQueue });
  applyTunIo(tun);
  if (!vnetHdr) return tun;
  try {
    const k = tunConstants();
    tun.setVnetHdrSize(VIRTIO_NET_HDR_SIZE);
    const tcp = k.TUN_F_CSUM | k.TUN_F_TSO4 | k.TUN_F_TSO6;
    try {
      tun.setOffload(tcp | k.TUN_F_USO4 | k.TUN_F_USO6);
      tun.uso = true;
    } catch (err) {
      tun.usoRefused = err instanceof Error ? err.message : String(err);
    }
    tun.setOffload(tcp);
    return tun;
  } catch (err) {
    tun.close();
    throw err;
  }
}
