/**
 * gso-state: the slots of the Float64Array in which the addon records UDP GSO/GRO state
 * (`BatchUdpSocket.gsoState`). The slot indices come from the addon (`WEFT_GSO_STATE` in
 * native/src/common.h) at load; this module only names the slots.
 */
import { slotLayout } from './binding';

/** GSO_STATE_NAMES lists the state slots. */
export const GSO_STATE_NAMES = Object.freeze([
  /** 0 while GSO sends are used; the errno with which the kernel refused one, after falling back. */
  'disabledErrno',
  /** GSO messages (trains) the kernel accepted. */
  'gsoMessages',
  /** Datagrams those trains carried. */
  'gsoSegments',
  /** Trains sent as plain datagrams (fallback, or more than 64 segments / 65507 bytes). */
  'gsoSplitMessages',
  /** Received datagrams that were GRO trains (more than one segment). */
  'groMessages',
  /** Segments those trains carried. */
  'groSegments',
  /**
   * Trains sent as plain datagrams (fragmented by the kernel) because a segment exceeded the
   * route's MTU: the kernel refused the train with EMSGSIZE, or its segment size is at least
   * `splitFrom`.
   */
  'mtuSplits',
  /** 0, or the segment size from which trains are split without trying GSO (set on EMSGSIZE). */
  'splitFrom',
] as const);

/** GsoStateName is one slot's name. */
export type GsoStateName = (typeof GSO_STATE_NAMES)[number];

/** GsoState maps state names to their slot (the addon's layout). */
export const GsoState = slotLayout(GSO_STATE_NAMES, (b) => b.gsoStateNames);

/** GSO_STATE_COUNT is the length of a gsoState array. */
export const GSO_STATE_COUNT = GSO_STATE_NAMES.length;

/** newGsoState returns a zeroed state array. */
export function newGsoState(): Float64Array {
  return new Float64Array(GSO_STATE_COUNT);
}
