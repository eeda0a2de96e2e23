/**
 * fd-poller: one libuv poll handle per fd (libuv forbids two), dispatching readable and
 * one-shot writable notifications to JS callbacks. Used by Tun and BatchUdpSocket.
 *
 * Readable is level-triggered: if a callback does not drain the fd, it fires again on the next
 * loop iteration. Writable interest is armed by `onceWritable` and disarmed after it fires,
 * because an idle UDP socket is always writable and would spin the loop.
 */
import { callNative, loadBinding, NativeBinding, NativePollHandle } from './binding';

/** FdPoller watches one fd for readiness on Node's event loop. */
export class FdPoller {
  private readonly b: NativeBinding;
  private handle: NativePollHandle | null = null;
  private readableCb: (() => void) | null = null;
  private writableCb: (() => void) | null = null;
  private events = 0;
  private referenced = true;

  /** FdPoller does not start watching until a callback is set. */
  constructor(readonly fd: number) {
    this.b = loadBinding();
  }

  /** onReadable sets (or with null clears) the callback run whenever the fd is readable. */
  onReadable(cb: (() => void) | null): void {
    this.readableCb = cb;
    this.update();
  }

  /** onceWritable runs `cb` once, the next time the fd is writable (replaces a pending one). */
  onceWritable(cb: (() => void) | null): void {
    this.writableCb = cb;
    this.update();
  }

  /** ref/unref: whether an active poller keeps the process alive (default: it does). */
  ref(on = true): void {
    this.referenced = on;
    if (this.handle !== null) this.b.pollRef(this.handle, on);
  }

  /** close stops watching synchronously; the fd may be closed right after. Idempotent. */
  close(): void {
    this.readableCb = null;
    this.writableCb = null;
    if (this.handle !== null) {
      this.b.pollClose(this.handle);
      this.handle = null;
    }
    this.events = 0;
  }

  private update(): void {
    const want =
      (this.readableCb !== null ? this.b.POLL_READABLE : 0) |
      (this.writableCb !== null ? this.b.POLL_WRITABLE : 0);
    if (want === this.events) return;
    if (this.handle === null) {
      if (want === 0) return;
      this.handle = callNative(() =>
        this.b.pollStart(this.fd, want, (status, ev) => this.dispatch(status, ev)),
      );
      if (!this.referenced) this.b.pollRef(this.handle, false);
    } else {
      const h = this.handle;
      callNative(() => this.b.pollUpdate(h, want));
    }
    this.events = want;
  }

  private dispatch(status: number, events: number): void {
    // On a poll error (status < 0) let the readable side drain: the read reports and counts it.
    if ((events & this.b.POLL_WRITABLE) !== 0 || (status < 0 && this.writableCb !== null)) {
      const cb = this.writableCb;
      this.writableCb = null;
      this.update();
      if (cb !== null) cb();
    }
    if ((events & this.b.POLL_READABLE) !== 0 || status < 0) {
      const cb = this.readableCb;
      if (cb !== null) cb();
    }
  }
}
