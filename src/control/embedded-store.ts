/**
 * embedded-store: the default LeaseStore — a directory shaped like flannel's etcd keyspace, no server.
 *
 *   <dir>/coreos.com/network/config                    network config JSON
 *   <dir>/coreos.com/network/subnets/10.244.1.0-24     lease JSON, byte-for-byte flannel's value
 *   <dir>/coreos.com/network/.tmp/                     staging for atomic writes (same filesystem)
 *
 * `cat` of a key prints what `etcdctl get` would. A lease's expiry is the key file's mtime (set
 * before the file appears, so value and expiry change together in one atomic link/rename; `stat`
 * or `ls -l --time-style=full-iso` shows it). Several processes on one host share the directory:
 * - create-if-absent is link(2) of a fully written temp file: exactly one creator wins (EEXIST);
 * - updates are write-temp + rename(2);
 * - expired keys count as absent; they are reaped by rename to a tomb, re-checking the inode so a
 *   lease renewed in the meantime is put back rather than lost;
 * - watches react to inotify (fs.watch) and rescan every `pollIntervalMs` (default 500 ms) so expiry
 *   and missed notifications are seen within a second.
 */

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, StoreError, WeftError } from '../errors';
import { Lease, LeaseAttrs, encodeLeaseAttrs, leaseFromKeyValue, makeSubnetKey } from './lease';
import {
  DEFAULT_ETCD_PREFIX,
  LeaseEvent,
  LeaseListing,
  LeaseStore,
  LeaseWatchResult,
  SubnetRef,
  SubnetTakenError,
} from './store';

/** EmbeddedStoreOptions configures an EmbeddedStore. */
export interface EmbeddedStoreOptions {
  /** Store directory (`--store-dir`). */
  readonly dir: string;
  /** Key prefix (`--etcd-prefix`), default `/coreos.com/network`. */
  readonly prefix?: string;
  /** Rescan period for watches, default 500 ms. */
  readonly pollIntervalMs?: number;
  /** Receives warnings (unparsable keys, reap failures). */
  readonly warn?: (msg: string) => void;
  /** Clock, for tests. */
  readonly now?: () => number;
}

interface Entry {
  readonly sig: string;
  readonly lease: Lease;
}
type Snapshot = Map<string, Entry>;

const MAX_CURSORS = 32;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Errnos that waiting will not cure: the directory itself is wrong (a file in the way, no permission). */
const PERMANENT = new Set(['ENOTDIR', 'EEXIST', 'EACCES', 'EPERM', 'EROFS', 'ELOOP', 'ENAMETOOLONG']);

/**
 * storeFailure is the error for a failed file operation on the store: a ConfigError naming
 * `--store-dir` when the errno is permanent (so nobody retries it as if a server were down), else
 * a StoreError.
 */
function storeFailure(what: string, e: unknown): WeftError {
  const code = errno(e);
  if (code !== undefined && PERMANENT.has(code)) {
    return new ConfigError(
      '--store-dir',
      'must be a directory weft can create and write',
      `${what}: ${code}`,
    );
  }
  return new StoreError(`${what}: ${code ?? e}`, { cause: e });
}

/** EmbeddedStore keeps leases in a directory shared by every weft process on the host. */
export class EmbeddedStore implements LeaseStore {
  readonly kind = 'embedded' as const;
  /** `<dir>/<prefix>`: holds `config` and `subnets/`. */
  readonly root: string;
  /** `<root>/subnets`. */
  readonly subnetsDir: string;
  private readonly tmpDir: string;
  private readonly pollMs: number;
  private readonly warn: (msg: string) => void;
  private readonly now: () => number;
  private readonly cursors = new Map<string, Snapshot>();
  private cursorSeq = 0;
  private readonly closer = new AbortController();

  constructor(opts: EmbeddedStoreOptions) {
    this.root = path.join(opts.dir, opts.prefix ?? DEFAULT_ETCD_PREFIX);
    this.subnetsDir = path.join(this.root, 'subnets');
    this.tmpDir = path.join(this.root, '.tmp');
    this.pollMs = opts.pollIntervalMs ?? 500;
    this.warn = opts.warn ?? (() => {});
    this.now = opts.now ?? Date.now;
  }

  private async ensureDirs(): Promise<void> {
    try {
      await fsp.mkdir(this.subnetsDir, { recursive: true, mode: 0o755 });
      await fsp.mkdir(this.tmpDir, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw storeFailure(`cannot create store directory ${this.root}`, e);
    }
  }

  private tmpName(): string {
    return path.join(this.tmpDir, `${process.pid}.${randomBytes(6).toString('hex')}`);
  }

  /** Writes a staged file carrying `value` and, as its mtime, `expiresMs`. */
  private async stage(value: string, expiresMs: number | null): Promise<string> {
    const tmp = this.tmpName();
    await fsp.writeFile(tmp, value, { mode: 0o644 });
    await fsp.chmod(tmp, 0o644); // ignore the umask, as flannel's writefile does
    if (expiresMs !== null) await fsp.utimes(tmp, this.now() / 1000, expiresMs / 1000);
    return tmp;
  }

  private keyPath(ref: SubnetRef): { key: string; file: string } {
    const key = makeSubnetKey(ref.subnet, ref.ipv6Subnet ?? null);
    return { key, file: path.join(this.subnetsDir, key) };
  }

  /** Stages a lease file for `ref` whose mtime is its expiry, ready to be linked or renamed in. */
  private async stageLease(
    ref: SubnetRef,
    attrs: LeaseAttrs,
    ttlSeconds: number,
  ): Promise<{ key: string; file: string; value: string; expires: number; tmp: string }> {
    await this.ensureDirs();
    const { key, file } = this.keyPath(ref);
    const value = encodeLeaseAttrs(attrs);
    const expires = this.now() + ttlSeconds * 1000;
    return { key, file, value, expires, tmp: await this.stage(value, expires) };
  }

  async getConfig(): Promise<string | null> {
    try {
      return await fsp.readFile(path.join(this.root, 'config'), 'utf8');
    } catch (e) {
      if (errno(e) === 'ENOENT') return null;
      throw storeFailure(`cannot read ${path.join(this.root, 'config')}`, e);
    }
  }

  async setConfig(json: string): Promise<void> {
    await this.ensureDirs();
    const tmp = await this.stage(json, null);
    await fsp.rename(tmp, path.join(this.root, 'config'));
  }

  async createLease(ref: SubnetRef, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease> {
    const { key, file, value, expires, tmp } = await this.stageLease(ref, attrs, ttlSeconds);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await fsp.link(tmp, file);
          return leaseFromKeyValue(key, value, new Date(expires));
        } catch (e) {
          if (errno(e) !== 'EEXIST') throw storeFailure(`cannot create ${file}`, e);
        }
        // The key exists: only an expired holder may be displaced, and only once.
        const st = await fsp.stat(file).catch(() => null);
        if (attempt > 0 || (st !== null && st.mtimeMs > this.now())) throw new SubnetTakenError(key);
        if (st !== null) await this.reap(file, st.ino);
      }
    } finally {
      await fsp.unlink(tmp).catch(() => {});
    }
  }

  async updateLease(ref: SubnetRef, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease> {
    const { key, file, value, expires, tmp } = await this.stageLease(ref, attrs, ttlSeconds);
    try {
      await fsp.rename(tmp, file);
    } catch (e) {
      await fsp.unlink(tmp).catch(() => {});
      throw storeFailure(`cannot write ${file}`, e);
    }
    return leaseFromKeyValue(key, value, new Date(expires));
  }

  async deleteLease(ref: SubnetRef): Promise<void> {
    const { file } = this.keyPath(ref);
    try {
      await fsp.unlink(file);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw storeFailure(`cannot delete ${file}`, e);
    }
  }

  /**
   * Removes an expired key without ever destroying a live one: move it aside, then check that what
   * was moved is the same expired inode; if a renewal slipped in, link it back.
   */
  private async reap(file: string, ino: number): Promise<void> {
    const tomb = this.tmpName();
    try {
      await fsp.rename(file, tomb);
    } catch {
      return; // someone else reaped or replaced it
    }
    try {
      const st = await fsp.stat(tomb);
      if (st.ino !== ino || st.mtimeMs > this.now()) {
        await fsp.link(tomb, file).catch((e) => {
          if (errno(e) !== 'EEXIST') this.warn(`embedded store: could not restore ${file}: ${errno(e) ?? e}`);
        });
      }
    } finally {
      await fsp.unlink(tomb).catch(() => {});
    }
  }

  /** Reads every live lease; expired ones are reaped, unparsable ones skipped with a warning. */
  private async scan(): Promise<Snapshot> {
    await this.ensureDirs();
    let names: string[];
    try {
      names = await fsp.readdir(this.subnetsDir);
    } catch (e) {
      throw storeFailure(`cannot list ${this.subnetsDir}`, e);
    }
    const snap: Snapshot = new Map();
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue;
      const file = path.join(this.subnetsDir, name);
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(file, 'r');
      } catch {
        continue; // vanished between readdir and open
      }
      try {
        // fstat and read through one descriptor: value and expiry of the same inode.
        const st = await fh.stat();
        if (!st.isFile()) continue;
        if (st.mtimeMs <= this.now()) {
          await this.reap(file, st.ino);
          continue;
        }
        const value = await fh.readFile('utf8');
        try {
          const lease = leaseFromKeyValue(name, value, new Date(st.mtimeMs));
          snap.set(name, { sig: `${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}`, lease });
        } catch (e) {
          this.warn(`embedded store: skipping ${file}: ${(e as WeftError).message}`);
        }
      } finally {
        await fh.close();
      }
    }
    return snap;
  }

  private remember(snap: Snapshot): string {
    const id = `e${process.pid}.${++this.cursorSeq}`;
    this.cursors.set(id, snap);
    if (this.cursors.size > MAX_CURSORS) this.cursors.delete(this.cursors.keys().next().value!);
    return id;
  }

  async listLeases(): Promise<LeaseListing> {
    const snap = await this.scan();
    return { leases: [...snap.values()].map((e) => e.lease), cursor: this.remember(snap) };
  }

  async *watchLeases(cursor: string, signal?: AbortSignal): AsyncIterable<LeaseWatchResult> {
    await this.ensureDirs();
    const stop = signal ? AbortSignal.any([signal, this.closer.signal]) : this.closer.signal;
    let wake: (() => void) | null = null;
    let dirty = false;
    const kick = (): void => {
      dirty = true;
      if (wake) wake();
    };
    let watcher: fs.FSWatcher | null = null;
    try {
      watcher = fs.watch(this.subnetsDir, { persistent: false }, kick);
      watcher.on('error', () => {}); // the periodic rescan covers for a broken watcher
    } catch {
      watcher = null;
    }
    const timer = setInterval(kick, this.pollMs);
    // Release timers on abort even if the consumer stopped pulling (a suspended generator never
    // reaches its finally block).
    const release = (): void => {
      clearInterval(timer);
      watcher?.close();
      kick();
    };
    stop.addEventListener('abort', release);
    try {
      let prev = this.cursors.get(cursor);
      if (!prev) {
        prev = await this.scan();
        yield { events: [], snapshot: [...prev.values()].map((e) => e.lease), cursor: this.remember(prev) };
      }
      while (!stop.aborted) {
        if (!dirty) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
        }
        dirty = false;
        if (stop.aborted) break;
        let cur: Snapshot;
        try {
          cur = await this.scan();
        } catch (e) {
          this.warn(`embedded store: rescan failed: ${(e as Error).message}`);
          continue;
        }
        const events: LeaseEvent[] = [];
        for (const [k, e] of prev) if (!cur.has(k)) events.push({ type: 'removed', lease: e.lease });
        for (const [k, e] of cur)
          if (prev.get(k)?.sig !== e.sig) events.push({ type: 'added', lease: e.lease });
        prev = cur;
        if (events.length > 0) yield { events, cursor: this.remember(cur) };
      }
    } finally {
      clearInterval(timer);
      watcher?.close();
      stop.removeEventListener('abort', release);
    }
  }

  async close(): Promise<void> {
    this.closer.abort();
    this.cursors.clear();
  }
}
