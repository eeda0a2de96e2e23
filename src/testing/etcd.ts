/**
 * etcd: a private etcd server for labs (Debian's etcd-server binary), one member with a temp data
 * dir, never the machine's own etcd on 2379. `etcdArgs` is the one command line every lab uses;
 * `TestEtcd` runs one on loopback with free ports (optionally TLS), for the etcd store tests.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Proc } from './proc';
import { sleep } from './shell';

/** ETCD_BIN is where Debian's etcd-server package installs the server. */
export const ETCD_BIN = '/usr/bin/etcd';

/** EtcdTls serves the client URL over https (server cert/key, CA for client certs). */
export interface EtcdTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** Require a client certificate signed by caFile (etcd `--client-cert-auth`). */
  readonly clientCertAuth: boolean;
  /** A client cert/key the health probe presents when clientCertAuth is on. */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
}

/** EtcdMember describes one single-member etcd: its name, data, URLs and log level. */
export interface EtcdMember {
  readonly name: string;
  readonly dataDir: string;
  /** Listen URLs for clients; the first is advertised. */
  readonly clientUrls: readonly string[];
  readonly peerUrl: string;
  readonly logLevel?: 'error' | 'warn' | 'info';
  readonly tls?: EtcdTls;
}

/** etcdArgs is the etcd command line of a single-member cluster `m`. */
export function etcdArgs(m: EtcdMember): string[] {
  const tls = m.tls
    ? [
        `--cert-file=${m.tls.certFile}`,
        `--key-file=${m.tls.keyFile}`,
        `--trusted-ca-file=${m.tls.caFile}`,
        ...(m.tls.clientCertAuth ? ['--client-cert-auth'] : []),
      ]
    : [];
  return [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--listen-client-urls=${m.clientUrls.join(',')}`,
    `--advertise-client-urls=${m.clientUrls[0]}`,
    `--listen-peer-urls=${m.peerUrl}`,
    `--initial-advertise-peer-urls=${m.peerUrl}`,
    `--initial-cluster=${m.name}=${m.peerUrl}`,
    `--log-level=${m.logLevel ?? 'warn'}`,
    ...tls,
  ];
}

/**
 * waitEtcdHealthy polls `probe` until it resolves true; it throws when `proc` exits first or after
 * `timeoutMs`, quoting etcd's log and the probe's last error.
 */
export async function waitEtcdHealthy(
  proc: Proc,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (!proc.running) throw new Error(`etcd exited (${proc.exitCode}):\n${proc.log}`);
    if (Date.now() > deadline) throw new Error(`etcd did not become healthy: ${last}\n${proc.log}`);
    await sleep(100);
  }
}

/** freePort returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function httpHealthy(url: string, tls?: EtcdTls): Promise<boolean> {
  return new Promise((resolve) => {
    const onRes = (res: http.IncomingMessage): void => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
    };
    const req = tls
      ? https.get(
          `${url}/health`,
          {
            timeout: 500,
            ca: fs.readFileSync(tls.caFile),
            cert: tls.clientCertFile ? fs.readFileSync(tls.clientCertFile) : undefined,
            key: tls.clientKeyFile ? fs.readFileSync(tls.clientKeyFile) : undefined,
          },
          onRes,
        )
      : http.get(`${url}/health`, { timeout: 500 }, onRes);
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

/** TestEtcd is one running (or stopped) private etcd on 127.0.0.1. */
export class TestEtcd {
  readonly clientUrl: string;
  private proc: Proc | null = null;

  private constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly tls?: EtcdTls,
  ) {
    this.clientUrl = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  }

  /**
   * start launches etcd on free ports with a fresh data dir and waits until it is healthy.
   * With `tls`, clients must use https (and a client cert when `clientCertAuth`).
   */
  static async start(opts: { tls?: EtcdTls } = {}): Promise<TestEtcd> {
    if (!fs.existsSync(ETCD_BIN))
      throw new Error(`${ETCD_BIN} not found; install it with: apt-get install -y etcd-server`);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-etcd-'));
    const client = await freePort();
    let peer = await freePort();
    while (peer === client) peer = await freePort();
    const e = new TestEtcd(dataDir, client, peer, opts.tls);
    await e.resume();
    return e;
  }

  /** resume (re)starts the server on the same ports and data dir. */
  async resume(): Promise<void> {
    this.proc = new Proc(
      'etcd',
      ETCD_BIN,
      etcdArgs({
        name: `weft${process.pid}`,
        dataDir: this.dataDir,
        clientUrls: [this.clientUrl],
        peerUrl: `http://127.0.0.1:${this.peerPort}`,
        logLevel: 'error',
        tls: this.tls,
      }),
    );
    await waitEtcdHealthy(this.proc, () => httpHealthy(this.clientUrl, this.tls));
  }

  /** stop kills the server by PID and waits for it to exit; the data dir stays. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    await p?.stop(5000);
  }

  /** destroy stops the server and removes its data dir. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
