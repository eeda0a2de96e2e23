/**
 * etcd-harness: a private etcd server for tests — the Debian `etcd` binary on 127.0.0.1 with free
 * client/peer ports and a temp data dir. Never touches a system etcd on 2379. Stop kills by PID.
 */

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';

/** ETCD_BIN is where Debian's etcd-server package installs the server. */
export const ETCD_BIN = '/usr/bin/etcd';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

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

function healthy(url: string, tls?: EtcdTls): Promise<boolean> {
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

/** TestEtcd is one running (or stopped) private etcd. */
export class TestEtcd {
  readonly clientUrl: string;
  private proc: ChildProcess | null = null;
  private log = '';

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
    const peerUrl = `http://127.0.0.1:${this.peerPort}`;
    const name = `weft${process.pid}`;
    const tls = this.tls
      ? [
          `--cert-file=${this.tls.certFile}`,
          `--key-file=${this.tls.keyFile}`,
          `--trusted-ca-file=${this.tls.caFile}`,
          ...(this.tls.clientCertAuth ? ['--client-cert-auth'] : []),
        ]
      : [];
    this.proc = spawn(
      ETCD_BIN,
      [
        `--name=${name}`,
        `--data-dir=${this.dataDir}`,
        `--listen-client-urls=${this.clientUrl}`,
        `--advertise-client-urls=${this.clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${name}=${peerUrl}`,
        '--log-level=error',
        ...tls,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (d: Buffer): void => {
      this.log = (this.log + d.toString()).slice(-4000);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`etcd exited with ${this.proc.exitCode}: ${this.log}`);
      if (await healthy(this.clientUrl, this.tls)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd not healthy within 20 s: ${this.log}`);
  }

  /** stop kills the server by PID and waits for it to exit; the data dir stays. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  /** destroy stops the server and removes its data dir. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
