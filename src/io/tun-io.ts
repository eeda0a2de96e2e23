/**
 * tun-io: which way a TUN queue's packets reach the kernel, chosen once when the queue opens.
 *
 * `WEFT_TUN_IO` (environment): `auto` (the default) uses io_uring where the kernel allows it and
 * the plain read()/write() loop otherwise; `io_uring` is the same but says loudly when it falls
 * back; `readv` never tries io_uring. The outcome is in `weft link`'s start line (`tun-io ...`)
 * and in `stats().tunIo`, with the reason when io_uring was refused.
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

/** parseTunIo reads the WEFT_TUN_IO value; throws ConfigError naming the variable and the rule. */
export function parseTunIo(value: string | undefined): 'auto' | TunIoMode {
  const v = (value ?? '').trim();
  if (v === '' || v === 'auto') return 'auto';
  if (v === 'io_uring' || v === 'readv') return v;
  throw new ConfigError(TUN_IO_ENV, 'must be auto, io_uring or readv', v);
}

/** applyTunIo switches `tun` to io_uring unless WEFT_TUN_IO says readv; returns what it got. */
export function applyTunIo(tun: Tun, env: NodeJS.ProcessEnv = process.env): TunIoChoice {
  const want = parseTunIo(env[TUN_IO_ENV]);
  if (want === 'readv') return { mode: 'readv', refused: null };
  const refused = tun.useUring(TUN_IO_RING_ENTRIES);
  return { mode: tun.ioMode, refused };
}
