/**
 * tun-io: which way a TUN queue's packets reach the kernel, chosen once when the queue opens.
 *
 * `WEFT_TUN_IO` (environment): `readv` (the default) is one read() / write() per packet, looped
 * in one native call; `io_uring` batches them through a ring (native/src/uring.cc) where the
 * kernel allows it and falls back to `readv` where it does not (seccomp, kernel.io_uring_disabled,
 * an addon built without liburing). The default is `readv` because io_uring measured no gain on
 * 64-byte packets here (docs/performance.md, "Small packets"). The outcome is in `weft link`'s
 * start line (`tun-io ...`) and in `stats().tunIo`, with the reason when io_uring was refused.
 */
import { ConfigError } from '../errors';
import { TUN_IO_ENV, type Tun, type TunIoMode } from './tun';

/** TunIoChoice is a TUN queue's I/O after `applyTunIo`. */
export interface TunIoChoice {
  mode: TunIoMode;
  /** Why io_uring is not in use when it was wanted (null when in use or not wanted). */
  refused: string | null;
}

/** TUN_IO_RING_ENTRIES sizes each queue's ring: one entry per read or write in flight. */
export const TUN_IO_RING_ENTRIES = 256;

/** parseTunIo reads the WEFT_TUN_IO value (unset: readv); throws ConfigError naming the variable and the rule. */
export function parseTunIo(value: string | undefined): TunIoMode {
  const v = (value ?? '').trim();
  if (v === '' || v === 'readv') return 'readv';
  if (v === 'io_uring') return v;
  throw new ConfigError(TUN_IO_ENV, 'must be readv or io_uring', v);
}

/** applyTunIo switches `tun` to io_uring when WEFT_TUN_IO asks for it; returns what it got. */
export function applyTunIo(tun: Tun, env: NodeJS.ProcessEnv = process.env): TunIoChoice {
  const want = parseTunIo(env[TUN_IO_ENV]);
  if (want === 'readv') return { mode: 'readv', refused: null };
  const refused = tun.useUring(TUN_IO_RING_ENTRIES);
  return { mode: tun.ioMode, refused };
}
