/**
 * startup: what makes a failed `weft run` start leave nothing behind.
 *
 * - Pre-flight checks, run before anything is written: the directories of `--subnet-file`,
 *   `--store-dir` (embedded store) and `--vtep-state-dir` (vxlan) must exist or be creatable and be
 *   writable, and the backend's UDP port must be free on the underlay address. A failure is a
 *   ConfigError naming the flag (exit 1), never a raw errno stack or a retry loop.
 * - A rollback list: each step that writes something (a new VTEP state file, a new lease, a
 *   blackhole route, iptables chains that did not exist) registers how to undo it; when a later
 *   step fails, the list runs in reverse. What existed before the start (a lease held by our
 *   public IP, chains a previous run left) is kept, as after a normal stop.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors';

/** describeErrno names a file-system errno in words for a config error's detail. */
function describeErrno(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
      return 'a path component is not a directory';
    default:
      return code ?? 'unknown error';
  }
}

/**
 * checkWritableDir throws ConfigError(`field`) unless directory `dir` exists and is writable, or
 * can be created: its nearest existing ancestor must be a directory we may write into.
 * Creates nothing.
 */
export async function checkWritableDir(dir: string, field: string): Promise<void> {
  let cur = path.resolve(dir);
  for (;;) {
    let st: fs.Stats;
    try {
      st = await fsp.stat(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: an ancestor is not a directory; walking up names it.
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        const up = path.dirname(cur);
        if (up === cur) break;
        cur = up;
        continue;
      }
      throw new ConfigError(
        field,
        'must be in a directory weft can create and write',
        `${cur}: ${describeErrno(code)}`,
      );
    }
    if (!st.isDirectory()) {
      throw new ConfigError(
        field,
        'must be in a directory weft can create and write',
        `${cur} is a ${st.isFile() ? 'regular file' : 'non-directory'}, not a directory`,
      );
    }
    try {
      await fsp.access(cur, fs.constants.W_OK | fs.constants.X_OK);
    } catch (e) {
      throw new ConfigError(
        field,
        'must be in a directory weft can create and write',
        `${cur}: ${describeErrno((e as NodeJS.ErrnoException).code)}`,
      );
    }
    return;
  }
}

/** checkWritableFile is checkWritableDir for the file's directory; the file, if present, must not be a directory. */
export async function checkWritableFile(file: string, field: string): Promise<void> {
  const st = await fsp.stat(file).catch(() => null);
  if (st !== null && st.isDirectory()) {
    throw new ConfigError(field, 'must name a file, not a directory', file);
  }
  await checkWritableDir(path.dirname(path.resolve(file)), field);
}

/**
 * checkUdpPortFree throws ConfigError(`field`) when `address:port` cannot be bound (another
 * `weft run`, a kernel flannel.<VNI> or any other process holds it); the probe socket is closed
 * again at once. `address` must be local (selectExtIface found it on an interface).
 */
export function checkUdpPortFree(address: string, port: number, field: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      const why =
        e.code === 'EADDRINUSE'
          ? 'another process holds it (a second weft run, or a kernel flannel device on the same port?)'
          : (e.code ?? e.message);
      reject(
        new ConfigError(field, `UDP port ${port} must be free on ${address}`, `${e.code ?? ''}: ${why}`),
      );
    });
    s.bind({ address, port, exclusive: true }, () => s.close(() => resolve()));
  });
}

/** Undo is one registered rollback step. */
interface Undo {
  readonly what: string;
  readonly fn: () => Promise<unknown>;
}

/** Rollback collects the undo steps of a start; `run` undoes them in reverse order. */
export class Rollback {
  private readonly steps: Undo[] = [];

  constructor(
    private readonly log: {
      info(msg: string, fields?: Record<string, unknown>): void;
      error(msg: string, fields?: Record<string, unknown>): void;
    },
  ) {}

  /** add registers how to undo something that was just written. */
  add(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }

  /** size is the number of steps registered and not yet run. */
  get size(): number {
    return this.steps.length;
  }

  /** run undoes every step, newest first; a failing step is logged and the others still run. */
  async run(): Promise<void> {
    for (let u = this.steps.pop(); u; u = this.steps.pop()) {
      try {
        await u.fn();
        this.log.info('start failed: rolled back', { undone: u.what });
      } catch (e) {
        this.log.error('start failed: could not roll back', {
          undone: u.what,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }

  /** clear forgets the steps: the start succeeded and what it wrote stays. */
  clear(): void {
    this.steps.length = 0;
  }
}
