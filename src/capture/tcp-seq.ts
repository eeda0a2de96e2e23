/**
 * tcp-seq: relative TCP sequence numbers for the one-line capture view, as tcpdump prints them
 * (print-tcp.c without -S): the first segment of a connection that carries an ACK (normally the
 * SYN-ACK) records both directions' initial numbers and is printed absolute, like the SYN before
 * it; every later segment is printed relative to them, so the first data byte is `seq 1` and the
 * handshake's final ACK is `ack 1`.
 *
 * Design notes: the table is bounded (MAX_CONNECTIONS, then it starts afresh, which only makes
 * the next segment of each connection print absolute again), so a long capture cannot grow it
 * without limit. Keys are the two endpoints in a fixed order, so both directions share one entry.
 */

/** MAX_CONNECTIONS bounds the connections remembered at once. */
export const MAX_CONNECTIONS = 8192;

interface Conn {
  /** The endpoint whose numbers are `seq` (the sender of the segment that created the entry). */
  first: string;
  /** Sequence base of `first`'s direction. */
  seq: number;
  /** Sequence base of the other direction (its ISN, from `first`'s ack - 1). */
  ack: number;
}

/** RelativeSeq is what `TcpSeqTracker.relative` returns: the numbers to print. */
export interface RelativeSeq {
  seq: number;
  ack: number;
  /** False when the numbers are absolute (the segment that set the bases, or one without ACK). */
  relative: boolean;
}

/** TcpSeqTracker remembers initial sequence numbers per connection across captured segments. */
export class TcpSeqTracker {
  private readonly conns = new Map<string, Conn>();

  /**
   * relative returns `seq` and `ack` of a segment from `src` to `dst` (endpoint strings such as
   * `10.244.0.1:41237`) as tcpdump prints them; `syn` and `ackFlag` are the segment's flags.
   */
  relative(src: string, dst: string, seq: number, ack: number, syn: boolean, ackFlag: boolean): RelativeSeq {
    if (!ackFlag) return { seq, ack, relative: false };
    const key = src < dst ? `${src}>${dst}` : `${dst}>${src}`;
    const c = this.conns.get(key);
    if (!c || syn) {
      if (!c && this.conns.size >= MAX_CONNECTIONS) this.conns.clear();
      this.conns.set(key, { first: src, seq, ack: (ack - 1) >>> 0 });
      return { seq, ack, relative: false };
    }
    const fwd = c.first === src;
    return {
      seq: (seq - (fwd ? c.seq : c.ack)) >>> 0,
      ack: (ack - (fwd ? c.ack : c.seq)) >>> 0,
      relative: true,
    };
  }
}
