/**
 * gso-state: the slot layout of the Float64Array in which the addon records UDP GSO/GRO state
 * (`BatchUdpSocket.gsoState`). Keep in step with `enum GsoState` in native/src/offload.cc.
 */

/** GsoState maps state names to their slot. */
export const GsoState = {
  /** 0 while GSO sends are used; the errno with which the kernel refused one, after falling back. */
  disabledErrno: 0,
  /** GSO messages (trains) the kernel accepted. */
  gsoMessages: 1,
  /** Datagrams those trains carried. */
  gsoSegments: 2,
  /** Trains sent as plain datagrams (fallback, or more than 64 segments / 65507 bytes). */
  gsoSplitMessages: 3,
  /** Received datagrams that were GRO trains (more than one segment). */
  groMessages: 4,
  /** Segments those trains carried. */
  groSegments: 5,
  /**
   * Trains sent as plain datagrams (fragmented by the kernel) because a segment exceeded the
   * route's MTU: the kernel refused the train with EMSGSIZE, or its segment size is at least
   * `splitFrom`.
   */
  mtuSplits: 6,
  /** 0, or the segment size from which trains are split without trying GSO (set on EMSGSIZE). */
  splitFrom: 7,
} as const;

/** GSO_STATE_COUNT is the length of a gsoState array. */
export const GSO_STATE_COUNT = 8;

/** newGsoState returns a zeroed state array. */
export function newGsoState(): Float64Array {
  return new Float64Array(GSO_STATE_COUNT);
}
