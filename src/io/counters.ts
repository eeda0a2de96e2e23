/**
 * counters: the slot layout of the Float64Array every I/O object (Tun, BatchUdpSocket,
 * DgramUdpSocket) keeps its counters in. Native code increments the slots during batch calls, so
 * reading a counter is a typed-array load: no native call, no allocation.
 *
 * Float64 rather than BigUint64: counters are exact up to 2^53 and stay plain numbers for
 * metrics. The slot indices come from the addon (`WEFT_IO_COUNTERS` in native/src/common.h) at
 * load; this module only names the slots.
 */
import { slotLayout } from './binding';

/** IO_COUNTER_NAMES lists the counters. */
export const IO_COUNTER_NAMES = Object.freeze([
  /** Packets handed to JS by readBatch/recvBatch. */
  'rxPackets',
  /** Bytes handed to JS. */
  'rxBytes',
  /** read()/recvmmsg() calls made. */
  'rxSyscalls',
  /** Receive calls that found nothing (EAGAIN): the end of each drain. */
  'rxEagain',
  /** Receive calls that failed with another errno (see lastErrno). */
  'rxErrors',
  /** Packets larger than their slot, dropped. */
  'rxTruncated',
  /** Packets lost before JS saw them (the dgram path's bounded queue overflowed). */
  'rxDropped',
  /** Packets the kernel accepted. */
  'txPackets',
  /** Bytes the kernel accepted. */
  'txBytes',
  /** write()/sendmmsg()/send() calls made. */
  'txSyscalls',
  /** Send calls that hit EAGAIN (TUN: that packet dropped; UDP: rest of the batch returned unsent). */
  'txEagain',
  /** Packets refused by the kernel (or with a descriptor outside the buffer), skipped. */
  'txErrors',
  /** errno number of the most recent counted failure (diagnostic; 0 = none). */
  'lastErrno',
] as const);

/** IoCounterName is one counter's name. */
export type IoCounterName = (typeof IO_COUNTER_NAMES)[number];

/** IoCounter maps counter names to their slot in an `IoCounters` array (the addon's layout). */
export const IoCounter = slotLayout(IO_COUNTER_NAMES, (b) => b.ioCounterNames);

/** IO_COUNTER_COUNT is the length of an `IoCounters` array. */
export const IO_COUNTER_COUNT = IO_COUNTER_NAMES.length;

/** IoCounters is a Float64Array of `IO_COUNTER_COUNT` slots indexed by `IoCounter`. */
export type IoCounters = Float64Array;

/** newIoCounters returns a zeroed counter array. */
export function newIoCounters(): IoCounters {
  return new Float64Array(IO_COUNTER_COUNT);
}

/** ioCountersToObject copies counters into a plain object (control path: stats printing, tests). */
export function ioCountersToObject(c: IoCounters): Record<IoCounterName, number> {
  const out = {} as Record<IoCounterName, number>;
  for (const name of IO_COUNTER_NAMES) out[name] = c[IoCounter[name]]!;
  return out;
}
