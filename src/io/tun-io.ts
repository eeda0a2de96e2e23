/**
 * tun-io: which way a TUN queue's packets reach the kernel, chosen once when the queue opens.
 *
 * `WEFT_TUN_IO` (environment): `io_uring` (the default) batches reads and writes through a ring
 * (native/src/uring.cc; the Tun sends only the batches it measured cheaper there) where the
 * kernel allows it, and keeps the read()/write() loop where it does not (seccomp,
 * kernel.io_uring_disabled, an addon built without liburing); `readv` never tries io_uring. The
 * default follows the 64-byte measurements in docs/performance.md ("Small packets"). The outcome
 * is in `weft link`'s `tun-io` line and in `stats().tunIo`, with the reason when io_uring was
 * refused.
 */
import { ConfigError } from '../errors';
import { checkCsumEnv } from './csum-env';
import { TUN_IO_ENV, type Tun, type TunIoMode } from './tun';

/** TunIoChoice is a TUN queue's I/O after `applyTunIo`. */
export interface TunIoChoice {
  mode: TunIoMode;
  /** Why io_uring is not in use when it was wanted (null when in use or not wanted). */
  refused: string | null;
}

/** TUN_IO_RING_ENTRIES sizes each queue's ring: one entry per read or write in flight. */
export const TUN_IO_RING_ENTRIES = 256;

/** parseTunIo reads the WEFT_TUN_IO value (unset: io_uring); throws ConfigError naming the variable and the rule. */
export function parseTunIo(value: string | undefined): TunIoMode {
  const v = (value ?? '').trim();
  if (v === '' || v === 'io_uring') return 'io_uring';
  if (v === 'readv') return v;
  throw new ConfigError(TUN_IO_ENV, 'must be io_uring or readv', v);
}

/**
 * applyTunIo switches `tun` to io_uring unless WEFT_TUN_IO says readv; returns what it got.
 * Also throws a ConfigError for a WEFT_CSUM the addon cannot honour (src/io/csum-env.ts).
 */
export function applyTunIo(tun: Tun, env: NodeJS.ProcessEnv = process.env): TunIoChoice {
  const want = parseTunIo(env[TUN_IO_ENV]);
  // The packet-byte loop is chosen by the same kind of knob, checked where the queue's I/O is.
  checkCsumEnv(env);
  if (want === 'readv') return { mode: 'readv', refused: null };
  const refused = tun.useUring(TUN_IO_RING_ENTRIES);
  return { mode: tun.ioMode, refused };
}
