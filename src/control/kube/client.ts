/**
 * client: a small Kubernetes REST client on node:https, just what the kube subnet manager needs
 * (GET, LIST, WATCH as a JSON-lines stream, strategic-merge PATCH, POST), with client-go's
 * authentication (bearer token or token file, client certificate, CA, insecure-skip-tls-verify).
 *
 * Why hand-written: `@kubernetes/client-node` 1.4 is ESM-only (this package is CommonJS), pulls in
 * node-fetch and a generated API of thousands of files, and reads the kubeconfig user key
 * `token-file` where client-go reads `tokenFile` (with the client-go spelling it silently goes
 * anonymous). The subnet manager needs five verbs on two resources; this file is those.
 *
 * Errors: a transport failure or a 5xx/429 is a StoreError (retried by callers, like an etcd
 * outage); any other non-2xx is a KubeApiError carrying the HTTP status and the server's Status
 * `reason`, so a 403 names the verb and resource that RBAC refused.
 */

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { KubeApiError, StoreError } from '../../errors';

/** KubeClientConfig is a resolved client configuration (see kubeconfig.ts for how it is built). */
export interface KubeClientConfig {
  /** `https://host:port` (or http), without a trailing slash. */
  readonly server: string;
  /** PEM CA bundle to verify the server with; absent = the system CAs. */
  readonly ca?: Buffer;
  readonly insecureSkipTlsVerify?: boolean;
  /** TLS server name to verify instead of the URL host (`tls-server-name`). */
  readonly tlsServerName?: string;
  readonly token?: string;
  /** Re-read (at most once a minute, as client-go) so rotated service-account tokens work. */
  readonly tokenFile?: string;
  readonly clientCert?: Buffer;
  readonly clientKey?: Buffer;
  readonly username?: string;
  readonly password?: string;
  /** Where this configuration came from, for messages (`kubeconfig /x`, `in-cluster`, ...). */
  readonly source: string;
  /**
   * Connect through this Unix socket instead of to the URL's host (TLS still verifies the URL's
   * host): how a test harness reaches an API server inside another network namespace.
   */
  readonly socketPath?: string;
}

/** WatchEvent is one line of a watch stream. */
export interface WatchEvent<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T;
}

/** KubeStatus is the API's Status object (error replies and watch ERROR events). */
export interface KubeStatus {
  readonly kind?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** Request timeout for non-watch calls (client-go has none by default; a hung server must not hang us). */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long a read token file is reused (client-go's cachingTokenSource: one minute). */
const TOKEN_FILE_TTL_MS = 60_000;

/** KubeClient talks to one API server. */
export class KubeClient {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private tokenCache: { token: string; at: number } | null = null;

  constructor(readonly cfg: KubeClientConfig) {
    this.url = new URL(cfg.server);
    if (this.url.protocol === 'https:') {
      this.agent = new https.Agent({
        keepAlive: true,
        ca: cfg.ca,
        cert: cfg.clientCert,
        key: cfg.clientKey,
        rejectUnauthorized: !cfg.insecureSkipTlsVerify,
        servername: cfg.tlsServerName,
      });
    } else {
      this.agent = new http.Agent({ keepAlive: true });
    }
  }

  /** close drops idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private bearer(): string | null {
    if (this.cfg.tokenFile) {
      const now = Date.now();
      if (!this.tokenCache || now - this.tokenCache.at > TOKEN_FILE_TTL_MS) {
        try {
          this.tokenCache = { token: fs.readFileSync(this.cfg.tokenFile, 'utf8').trim(), at: now };
        } catch (e) {
          // client-go keeps the last token when a re-read fails; without one it cannot authenticate.
          if (!this.tokenCache) {
            throw new StoreError(`cannot read the token file ${this.cfg.tokenFile}: ${(e as Error).message}`);
          }
        }
      }
      return this.tokenCache!.token;
    }
    return this.cfg.token ?? null;
  }

  private open(
    method: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): http.ClientRequest {
    const h: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'weft', ...headers };
    const tok = this.bearer();
    if (tok) h.Authorization = `Bearer ${tok}`;
    else if (this.cfg.username !== undefined) {
      h.Authorization = `Basic ${Buffer.from(`${this.cfg.username}:${this.cfg.password ?? ''}`).toString('base64')}`;
    }
    const mod = this.url.protocol === 'https:' ? https : http;
    return mod.request({
      protocol: this.url.protocol,
      hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: this.url.port || (this.url.protocol === 'https:' ? 443 : 80),
      path: this.url.pathname.replace(/\/$/, '') + path,
      socketPath: this.cfg.socketPath,
      method,
      headers: h,
      agent: this.agent,
      signal,
    });
  }

  /** request sends one call and returns the parsed JSON body; see the module comment for errors. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    signal?: AbortSignal,
  ): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      let req: http.ClientRequest;
      try {
        req = this.open(method, path, headers, signal);
      } catch (e) {
        reject(e);
        return;
      }
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new Error(`no reply in ${REQUEST_TIMEOUT_MS} ms`)),
      );
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (e) =>
          reject(
            new StoreError(`kube-apiserver ${this.cfg.server}: ${method} ${path}: ${e.message}`, {
              cause: e,
            }),
          ),
        );
      });
      req.on('error', (e) =>
        reject(
          new StoreError(`kube-apiserver ${this.cfg.server}: ${method} ${path}: ${e.message}`, { cause: e }),
        ),
      );
      req.end(payload);
    });
    if (status >= 200 && status < 300) {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new StoreError(`kube-apiserver ${this.cfg.server}: ${method} ${path}: reply is not JSON`);
      }
    }
    throw this.failure(method, path, status, text);
  }

  private failure(method: string, path: string, status: number, text: string): Error {
    let st: KubeStatus = {};
    try {
      st = JSON.parse(text) as KubeStatus;
    } catch {
      st = { message: text.trim().slice(0, 200) };
    }
    const msg = st.message ?? `HTTP ${status}`;
    if (status >= 500 || status === 429) {
      return new StoreError(`kube-apiserver ${this.cfg.server}: ${method} ${path}: ${status} ${msg}`);
    }
    return new KubeApiError(method, path, status, st.reason ?? '', msg);
  }

  /** get GETs one object. */
  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, undefined, signal);
  }

  /** patch sends a strategic-merge PATCH (client-go's types.StrategicMergePatchType). */
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body, 'application/strategic-merge-patch+json');
  }

  /** post POSTs a JSON object. */
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /**
   * watch opens `path` (with `watch=true` added) and yields its events until the server ends the
   * stream or `signal` aborts. Non-2xx replies throw as request() does; a dropped connection
   * throws StoreError. The caller handles ERROR events (410 Gone: relist).
   */
  async *watch<T>(path: string, signal?: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const full = path + (path.includes('?') ? '&' : '?') + 'watch=true';
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      let req: http.ClientRequest;
      try {
        req = this.open('GET', full, {}, signal);
      } catch (e) {
        reject(e);
        return;
      }
      req.on('response', resolve);
      req.on('error', (e) =>
        reject(
          new StoreError(`kube-apiserver ${this.cfg.server}: watch ${path}: ${e.message}`, { cause: e }),
        ),
      );
      req.end();
    });
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw this.failure('GET', full, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'));
    }
    let buf = '';
    try {
      for await (const chunk of res) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line === '') continue;
          let ev: WatchEvent<T>;
          try {
            ev = JSON.parse(line) as WatchEvent<T>;
          } catch {
            throw new StoreError(`kube-apiserver ${this.cfg.server}: watch ${path}: a line is not JSON`);
          }
          yield ev;
        }
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (e instanceof StoreError) throw e;
      throw new StoreError(`kube-apiserver ${this.cfg.server}: watch ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    } finally {
      res.destroy();
    }
  }
}
