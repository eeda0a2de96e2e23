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
 * - the store keeps an index of the directory (name -> stat signature, parsed lease, expiry) and a
 *   log of changes numbered like etcd revisions; a cursor is a revision. Watches are driven by
 *   inotify (`fs.watch` names the file that changed): only that file is stat'ed, read and parsed,
 *   bursts are coalesced into one delivery. Expiry is a timer at the earliest expiry, not a poll.
 *   A sweep every `pollIntervalMs` (default 10 s: readdir, and on every 6th sweep a stat of
 *   each file, reading only files whose signature changed) catches what inotify missed (queue
 *   overflow); without inotify the sweep runs every second and always stats;
 *   `listLeases` sweeps too;
 * - a lease value larger than MAX_LEASE_VALUE_BYTES is never read (flannel's are ~150 bytes), and
 *   an unparsable or oversized file is warned about once per version of the file, not per sweep.
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
  MAX_LEASE_VALUE_BYTES,
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
  /** Sweep period (readdir + stat) behind inotify, default 10 s. */
  readonly pollIntervalMs?: number;
  /** Receives warnings (unparsable keys, reap failures). */
  readonly warn?: (msg: string) => void;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export { MAX_LEASE_VALUE_BYTES };

/** Entry is one file of `subnets/` as last seen: lease null when unparsable or too large. */
interface Entry {
  readonly sig: string;
  readonly ino: number;
  readonly expiresMs: number;
  readonly lease: Lease | null;
}

/** Changes kept for cursors; a cursor older than this gets a snapshot (as an etcd compaction). */
const LOG_MAX = 20_000;
const FLUSH_DELAY_MS = 10;
const IO_PARALLEL = 32;
const STAT_EVERY = 6;

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

let instanceSeq = 0;

/** EmbeddedStore keeps leases in a directory shared by every weft process on the host. */
export class EmbeddedStore implements LeaseStore {
  readonly kind = 'embedded' as const;
  /** `<dir>/<prefix>`: holds `config` and `subnets/`. */
  readonly root: string;
  /** `<root>/subnets`. */
  readonly subnetsDir: string;
  private readonly tmpDir: string;
  private readonly sweepMs: number;
  private readonly warn: (msg: string) => void;
  private readonly now: () => number;
  private readonly closer = new AbortController();
  private readonly id = `e${process.pid}.${++instanceSeq}`;
  private readonly index = new Map<string, Entry>();
  /** Revision of the last change; `log[i]` has revision `logBase + i + 1`. */
  private rev = 0;
  private logBase = 0;
  private log: LeaseEvent[] = [];
  private readonly dirty = new Set<string>();
  private swept = false;
  private watcher: fs.FSWatcher | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private readonly waiters = new Set<() => void>();
  private chain: Promise<unknown> = Promise.resolve();
  /** Counters of the index work, for tests and the scale benchmark. */
  readonly stats = { sweeps: 0, reads: 0, parses: 0, notifications: 0 };

  constructor(opts: EmbeddedStoreOptions) {
    this.root = path.join(opts.dir, opts.prefix ?? DEFAULT_ETCD_PREFIX);
    this.subnetsDir = path.join(this.root, 'subnets');
    this.tmpDir = path.join(this.root, '.tmp');
    this.sweepMs = opts.pollIntervalMs ?? 10_000;
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
          this.markDirty(key);
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
    this.markDirty(key);
    return leaseFromKeyValue(key, value, new Date(expires));
  }

  async deleteLease(ref: SubnetRef): Promise<void> {
    const { key, file } = this.keyPath(ref);
    this.markDirty(key);
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

  /** serial runs index work one piece at a time (sweeps, flushes and expiry never interleave). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private push(ev: LeaseEvent): void {
    this.log.push(ev);
    this.rev++;
    if (this.log.length > 2 * LOG_MAX) {
      const cut = this.log.length - LOG_MAX;
      this.log = this.log.slice(cut);
      this.logBase += cut;
    }
  }

  private setEntry(name: string, e: Entry | null): void {
    const old = this.index.get(name);
    if (e === null) {
      if (old === undefined) return;
      this.index.delete(name);
      if (old.lease) this.push({ type: 'removed', lease: old.lease });
      return;
    }
    this.index.set(name, e);
    if (e.lease) this.push({ type: 'added', lease: e.lease });
    else if (old?.lease) this.push({ type: 'removed', lease: old.lease });
  }

  /**
   * Re-reads one name: absent, expired (reaped) or not a file drops it; an unchanged signature
   * keeps the parsed lease; otherwise the value is read (up to the size limit) and parsed.
   */
  private async load(name: string): Promise<void> {
    if (name.startsWith('.')) return;
    const file = path.join(this.subnetsDir, name);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch {
      this.setEntry(name, null); // gone (or unreadable: not a lease we can use)
      return;
    }
    try {
      // fstat and read through one descriptor: value and expiry of the same inode.
      const st = await fh.stat();
      if (!st.isFile()) return this.setEntry(name, null);
      if (st.mtimeMs <= this.now()) {
        this.setEntry(name, null);
        await this.reap(file, st.ino);
        return;
      }
      const sig = `${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}`;
      if (this.index.get(name)?.sig === sig) return;
      let lease: Lease | null = null;
      if (st.size > MAX_LEASE_VALUE_BYTES) {
        this.warn(
          `embedded store: skipping ${file}: lease value of ${st.size} bytes exceeds the limit of ${MAX_LEASE_VALUE_BYTES} bytes (lease_value_too_large)`,
        );
      } else {
        this.stats.reads++;
        const value = await fh.readFile('utf8');
        try {
          this.stats.parses++;
          lease = leaseFromKeyValue(name, value, new Date(st.mtimeMs));
        } catch (e) {
          this.warn(`embedded store: skipping ${file}: ${(e as WeftError).message}`);
        }
      }
      this.setEntry(name, { sig, ino: st.ino, expiresMs: st.mtimeMs, lease });
    } finally {
      await fh.close();
    }
  }

  /** Drops (and reaps) every indexed entry whose expiry has passed, then re-arms the expiry timer. */
  private async expire(): Promise<void> {
    const now = this.now();
    let next = Infinity;
    const due: Array<[string, Entry]> = [];
    for (const [name, e] of this.index) {
      if (e.expiresMs <= now) due.push([name, e]);
      else if (e.expiresMs < next) next = e.expiresMs;
    }
    for (const [name, e] of due) {
      this.setEntry(name, null);
      await this.reap(path.join(this.subnetsDir, name), e.ino);
    }
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (next !== Infinity && this.watcher !== null && !this.closer.signal.aborted) {
      const ms = Math.min(Math.max(next - now + 5, 5), 2 ** 31 - 1);
      this.expiryTimer = setTimeout(() => void this.update(false), ms);
      this.expiryTimer.unref();
    }
  }

  /** readdir + stat of every name; only new or changed files are read. */
  private async sweep(): Promise<void> {
    await this.ensureDirs();
    let names: string[];
    try {
      names = await fsp.readdir(this.subnetsDir);
    } catch (e) {
      throw storeFailure(`cannot list ${this.subnetsDir}`, e);
    }
    this.stats.sweeps++;
    const present = new Set(names);
    for (const name of this.index.keys()) if (!present.has(name)) this.dirty.add(name);
    // inotify reports every change; the sweep is a safety net for a lost notification. A lost
    // create or delete shows in the names; a lost rewrite needs a stat of every file, done on
    // every STAT_EVERY-th sweep only (10,000 stats cost more than everything else at idle).
    if (this.stats.sweeps % STAT_EVERY !== 1 && this.watcher !== null) {
      for (const name of names) if (!name.startsWith('.') && !this.index.has(name)) this.dirty.add(name);
      this.swept = true;
      return;
    }
    const known: Array<[string, Entry]> = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const e = this.index.get(name);
      if (e === undefined || this.dirty.has(name)) this.dirty.add(name);
      else known.push([name, e]);
    }
    for (let i = 0; i < known.length; i += IO_PARALLEL) {
      await Promise.all(
        known.slice(i, i + IO_PARALLEL).map(async ([name, e]) => {
          const st = await fsp.stat(path.join(this.subnetsDir, name)).catch(() => null);
          if (st === null || `${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}` !== e.sig)
            this.dirty.add(name);
        }),
      );
    }
    this.swept = true;
  }

  /** update applies what changed (a sweep first when asked), then wakes the watches. */
  private update(sweep: boolean): Promise<void> {
    return this.serial(async () => {
      const before = this.rev;
      if (sweep || !this.swept) await this.sweep();
      const names = [...this.dirty].sort();
      this.dirty.clear();
      // A few files in flight at a time: a cold start reads thousands.
      for (let i = 0; i < names.length; i += IO_PARALLEL) {
        await Promise.all(names.slice(i, i + IO_PARALLEL).map((n) => this.load(n)));
      }
      await this.expire();
      if (this.rev !== before) for (const w of [...this.waiters]) w();
    });
  }

  private markDirty(name: string): void {
    this.dirty.add(name);
    if (this.watcher !== null && this.flushTimer === null && !this.closer.signal.aborted) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.update(false).catch((e: unknown) =>
          this.warn(`embedded store: update failed: ${(e as Error).message}`),
        );
      }, FLUSH_DELAY_MS);
      this.flushTimer.unref();
    }
  }

  /** Starts inotify and the sweep timer (once): from then on the index follows the directory. */
  private async startWatching(): Promise<void> {
    if (this.watcher !== null || this.closer.signal.aborted) return;
    await this.ensureDirs();
    try {
      this.watcher = fs.watch(this.subnetsDir, { persistent: false }, (_type, name) => {
        this.stats.notifications++;
        if (typeof name === 'string' && name !== '') this.markDirty(name);
        else void this.update(true).catch(() => undefined); // no name: look at everything
      });
      this.watcher.on('error', (e) => {
        this.warn(`embedded store: inotify failed (${(e as Error).message}); sweeping every second`);
        this.watcher?.close();
        this.restartSweep(Math.min(this.sweepMs, 1000));
      });
    } catch (e) {
      this.warn(`embedded store: no inotify (${errno(e) ?? e}); sweeping every second`);
      this.watcher = null;
      this.restartSweep(Math.min(this.sweepMs, 1000));
      return;
    }
    this.restartSweep(this.sweepMs);
  }

  private restartSweep(ms: number): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => {
      this.update(true).catch((e: unknown) =>
        this.warn(`embedded store: sweep failed: ${(e as Error).message}`),
      );
    }, ms);
    // A running watch keeps the process alive (as the watch of a network store would).
    if (this.waiters.size === 0) this.sweepTimer.unref();
  }

  private cursorOf(rev: number): string {
    return `${this.id}.${rev}`;
  }

  private snapshot(): Lease[] {
    const out: Lease[] = [];
    for (const name of [...this.index.keys()].sort()) {
      const l = this.index.get(name)!.lease;
      if (l) out.push(l);
    }
    return out;
  }

  async listLeases(): Promise<LeaseListing> {
    await this.startWatching();
    await this.update(true);
    return { leases: this.snapshot(), cursor: this.cursorOf(this.rev) };
  }

  async *watchLeases(cursor: string, signal?: AbortSignal): AsyncIterable<LeaseWatchResult> {
    await this.ensureDirs();
    const stop = signal ? AbortSignal.any([signal, this.closer.signal]) : this.closer.signal;
    let wake: (() => void) | null = null;
    const kick = (): void => {
      if (wake) wake();
    };
    this.waiters.add(kick);
    stop.addEventListener('abort', kick);
    try {
      await this.startWatching();
      this.sweepTimer?.ref();
      const prefix = `${this.id}.`;
      let pos = cursor.startsWith(prefix) ? Number(cursor.slice(prefix.length)) : NaN;
      if (!Number.isInteger(pos) || pos < this.logBase || pos > this.rev || !this.swept) {
        await this.update(!this.swept);
        pos = this.rev;
        yield { events: [], snapshot: this.snapshot(), cursor: this.cursorOf(pos) };
      }
      while (!stop.aborted) {
        if (this.rev === pos) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
          continue;
        }
        if (pos < this.logBase) {
          pos = this.rev;
          yield { events: [], snapshot: this.snapshot(), cursor: this.cursorOf(pos) };
          continue;
        }
        const events = this.log.slice(pos - this.logBase, this.rev - this.logBase);
        pos = this.rev;
        yield { events, cursor: this.cursorOf(pos) };
      }
    } finally {
      this.waiters.delete(kick);
      if (this.waiters.size === 0) this.sweepTimer?.unref();
      stop.removeEventListener('abort', kick);
    }
  }

  async close(): Promise<void> {
    this.closer.abort();
    this.watcher?.close();
    this.watcher = null;
    for (const t of [this.flushTimer, this.expiryTimer]) if (t) clearTimeout(t);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.flushTimer = this.expiryTimer = this.sweepTimer = null;
    for (const w of [...this.waiters]) w();
  }
}
