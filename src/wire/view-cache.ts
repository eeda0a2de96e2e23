/**
 * ViewCache hands out a DataView over a buffer, made once per buffer. The hot loops read and
 * write multi-byte header fields through a DataView (one load or store instead of a byte loop);
 * a loop works on the same batch buffer every time, or alternates two (headers and copies), so
 * keeping the last two views means no allocation per packet.
 */
export class ViewCache {
  private buf: Uint8Array | null = null;
  private view: DataView = new DataView(new ArrayBuffer(0));
  private otherBuf: Uint8Array | null = null;
  private other: DataView = this.view;

  /** of is a DataView over all of `buf` (the last two buffers' views are kept). */
  of(buf: Uint8Array): DataView {
    if (this.buf === buf) return this.view;
    const b = this.buf;
    const v = this.view;
    this.view = this.otherBuf === buf ? this.other : new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.buf = buf;
    this.otherBuf = b;
    this.other = v;
    return this.view;
  }
}
