/**
 * api-relay: makes a service listening on 127.0.0.1 in the root namespace (the demo's
 * kube-apiserver) reachable on 127.0.0.1 inside node namespaces, without giving any namespace a
 * route out: a socat in the root namespace serves a Unix socket (filesystems are shared across
 * network namespaces) and relays it to the TCP port; one socat per node listens on the same port
 * on the node's loopback and relays to that socket. Every endpoint is a loopback address, so the
 * API server's certificate (SAN 127.0.0.1) and kubeconfig work unchanged inside the nodes.
 */
import path from 'node:path';
import { Testbed, TestbedNode } from '../testing/testbed';
import { Proc } from '../testing/proc';
import { sleep } from '../testing/shell';

/** ApiRelay is the running relay processes. */
export class ApiRelay {
  private readonly procs: Proc[] = [];
  readonly socket: string;

  /** start relays 127.0.0.1:`port` of the root namespace into every node of `tb`. */
  static async start(tb: Testbed, port: number, nodes: readonly TestbedNode[] = tb.nodes): Promise<ApiRelay> {
    const r = new ApiRelay(tb, port);
    try {
      const root = new Proc(
        'api relay (root namespace)',
        'socat',
        [`UNIX-LISTEN:${r.socket},fork,mode=600`, `TCP:127.0.0.1:${port}`],
        { logFile: path.join(tb.dir, 'api-relay.log') },
      );
      r.procs.push(root);
      for (const nd of nodes)
        r.procs.push(
          tb.spawnIn(nd.ns, `api relay (node${nd.index})`, 'socat', [
            `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
            `UNIX-CONNECT:${r.socket}`,
          ]),
        );
      const end = Date.now() + 5000;
      for (const nd of nodes)
        while (!tb.execIn(nd.ns, 'ss', ['-Htln', `sport = :${port}`]).includes(`:${port}`)) {
          if (Date.now() > end) throw new Error(`api relay in node${nd.index} is not listening on ${port}`);
          await sleep(50);
        }
      return r;
    } catch (e) {
      await r.stop();
      throw e;
    }
  }

  private constructor(
    tb: Testbed,
    readonly port: number,
  ) {
    this.socket = path.join(tb.dir, 'kube-apiserver.sock');
  }

  /** pids of the relay processes still running. */
  pids(): number[] {
    return this.procs.filter((p) => p.running).map((p) => p.pid);
  }

  /** keep lets the relays outlive this process (`--keep`). */
  keep(): void {
    for (const p of this.procs) p.keep();
  }

  /** stop ends every relay by PID. */
  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(2000)));
  }
}
