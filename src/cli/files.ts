/**
 * files: the CLI's file checks. Every input that cannot be read and every output that cannot be
 * written becomes one FileError line naming the path and the reason; outputs are checked before a
 * command starts long work, so a bad `--json` path fails before a benchmark, not after it.
 */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FileError } from '../errors';

/** REASONS words the errno names the file system gives, as strerror(3) does. */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
  EEXIST: 'file exists',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
  EFBIG: 'file too large',
  EBUSY: 'device or resource busy',
  ETXTBSY: 'text file busy',
};

/** reasonOf turns an errno name into words (`ENOENT` -> `no such file or directory (ENOENT)`). */
export function reasonOf(errno: string): string {
  const words = REASONS[errno];
  return words ? `${words} (${errno})` : errno;
}

/**
 * fileErrorFrom turns a Node fs error (it carries `code` and `path`) into a FileError; undefined
 * for anything else, which stays a bug with its stack trace.
 */
export function fileErrorFrom(err: unknown): FileError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException;
  if (typeof e.code !== 'string' || typeof e.path !== 'string' || !/^E[A-Z]+$/.test(e.code)) return undefined;
  return new FileError(e.path, `${e.path}: ${reasonOf(e.code)}`, e.code);
}

function statOrNull(path: string, flag?: string): Stats | null {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (flag === undefined || typeof code !== 'string') throw fileErrorFrom(err) ?? err;
    throw new FileError(path, `${flag} ${path}: ${reasonOf(code)}`, code);
  }
}

function writable(path: string, what: string, flag: string): void {
  try {
    accessSync(path, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
    throw new FileError(path, `${flag} ${path}: ${what} is not writable: ${reasonOf(code)}`, code);
  }
}

/**
 * checkOutputPath throws FileError unless `path` can be written: an existing writable file, or a
 * new name in an existing writable directory. `flag` is how the user gave it (`--json`, `OUT.pcap`).
 */
export function checkOutputPath(path: string, flag: string): void {
  const st = statOrNull(path, flag);
  if (st) {
    if (st.isDirectory()) throw new FileError(path, `${flag} ${path}: is a directory, not a file`, 'EISDIR');
    writable(path, 'the file', flag);
    return;
  }
  const dir = dirname(resolve(path));
  const d = statOrNull(dir, flag);
  if (!d) throw new FileError(path, `${flag} ${path}: directory ${dir} does not exist`, 'ENOENT');
  if (!d.isDirectory()) throw new FileError(path, `${flag} ${path}: ${dir} is not a directory`, 'ENOTDIR');
  writable(dir, `directory ${dir}`, flag);
}

/**
 * sameFile tells whether two paths name one file: the same device and inode when both exist
 * (hard links and symlinks included), else the same absolute path.
 */
export function sameFile(a: string, b: string): boolean {
  const sa = statOrNull(a);
  const sb = statOrNull(b);
  if (sa && sb) return sa.dev === sb.dev && sa.ino === sb.ino;
  return resolve(a) === resolve(b);
}

/**
 * checkInputPath throws FileError unless `path` is a readable file (not a directory: reading one
 * fails with an error that carries no path). `flag` is how the user gave it (`--pcap`, `IN.pcap`).
 */
export function checkInputPath(path: string, flag: string): void {
  const st = statOrNull(path, flag);
  if (!st) throw new FileError(path, `${flag} ${path}: ${reasonOf('ENOENT')}`, 'ENOENT');
  if (st.isDirectory()) throw new FileError(path, `${flag} ${path}: is a directory, not a file`, 'EISDIR');
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
    throw new FileError(path, `${flag} ${path}: not readable: ${reasonOf(code)}`, code);
  }
}
