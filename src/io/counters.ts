/**
 * counters: the slot layout of the Float64Array every I/O object (Tun, BatchUdpSocket,
 * DgramUdpSocket) keeps its counters in. Native code increments the slots during batch calls, so
 * reading a counter is a typed-array load: no native call, no allocation.
 *
 * Float64 rather than BigUint64: counters are exact up to 2^53 and stay plain numbers for
 * metrics. Keep in step with `enum Counter` in native/src/common.h (a test checks the names).
 */

/** IoCounter maps counter names to their slot in an `IoCounters` array. */
export const IoCounter = {
  /** Packets handed to JS by readBatch/recvBatch. */
  rxPackets: 0,
  /** Bytes handed to JS. */
  rxBytes: 1,
  /** read()/recvmmsg() calls made. */
  rxSyscalls: 2,
  /** Receive calls that found nothing (EAGAIN): the end of each drain. */
  rxEagain: 3,
  /** Receive calls that failed with another errno (see lastErrno). */
  rxErrors: 4,
  /** Packets larger than their slot, dropped. */
  rxTruncated: 5,
  /** Packets lost before JS saw them (the dgram path's bounded queue overflowed). */
  rxDropped: 6,
  /** Packets the kernel accepted. */
  txPackets: 7,
  /** Bytes the kernel accepted. */
  txBytes: 8,
  /** write()/sendmmsg()/send() calls made. */
  txSyscalls: 9,
  /** Send calls that hit EAGAIN (TUN: that packet dropped; UDP: rest of the batch returned unsent). */
  txEagain: 10,
  /** Packets refused by the kernel (or with a descriptor outside the buffer), skipped. */
  txErrors: 11,
  /** errno number of the most recent counted failure (diagnostic; 0 = none). */
  lastErrno: 12,
} as const;

/** IoCounterName is one counter's name. */
export type IoCounterName = keyof typeof IoCounter;

/** IO_COUNTER_COUNT is the length of an `IoCounters` array. */
export const IO_COUNTER_COUNT = 13;

/** IO_COUNTER_NAMES lists counter names in slot order. */
export const IO_COUNTER_NAMES: readonly IoCounterName[] = Object.freeze(
  (Object.keys(IoCounter) as IoCounterName[]).sort((a, b) => IoCounter[a] - IoCounter[b]),
);

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
