/**
 * png: a small PNG decoder for screenshot tests (8-bit RGB or RGBA, non-interlaced, as Chromium
 * writes them): returns the pixels as RGBA rows.
 */
import { inflateSync } from 'node:zlib';

/** Png is a decoded image: `rgba` holds width * height * 4 bytes, row by row. */
export interface Png {
  width: number;
  height: number;
  rgba: Buffer;
}

/** decodePng decodes `buf`; throws on anything but 8-bit RGB/RGBA without interlace. */
export function decodePng(buf: Buffer): Png {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8]!;
      const colour = data[9]!;
      if (depth !== 8 || (colour !== 2 && colour !== 6) || data[12] !== 0) {
        throw new Error(`unsupported PNG: depth ${depth} colour ${colour} interlace ${data[12]}`);
      }
      channels = colour === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(width * height * 4);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      let add = 0;
      if (filter === 1) add = a;
      else if (filter === 2) add = b;
      else if (filter === 3) add = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = (line[i]! + add) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      out[(y * width + x) * 4] = line[x * channels]!;
      out[(y * width + x) * 4 + 1] = line[x * channels + 1]!;
      out[(y * width + x) * 4 + 2] = line[x * channels + 2]!;
      out[(y * width + x) * 4 + 3] = channels === 4 ? line[x * channels + 3]! : 255;
    }
    prev = line;
  }
  return { width, height, rgba: out };
}

/** Blob is a connected group of pixels of one colour: its bounding box and pixel count. */
export interface Blob {
  x: number;
  y: number;
  w: number;
  h: number;
  pixels: number;
}

/** blobs finds the 4-connected groups of pixels within `tol` of colour `hex` (`#0072b2`). */
export function blobs(img: Png, hex: string, tol = 24): Blob[] {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  const { width, height, rgba } = img;
  const hit = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) {
    if (
      Math.abs(rgba[i * 4]! - r) <= tol &&
      Math.abs(rgba[i * 4 + 1]! - g) <= tol &&
      Math.abs(rgba[i * 4 + 2]! - b) <= tol
    )
      hit[i] = 1;
  }
  const out: Blob[] = [];
  const stack: number[] = [];
  for (let i = 0; i < hit.length; i++) {
    if (hit[i] !== 1) continue;
    let minX = width;
    let minY = height;
    let maxX = 0;
    let maxY = 0;
    let n = 0;
    hit[i] = 2;
    stack.push(i);
    while (stack.length > 0) {
      const p = stack.pop()!;
      const x = p % width;
      const y = (p - x) / width;
      n++;
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
      for (const q of [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, p - width, p + width]) {
        if (q >= 0 && q < hit.length && hit[q] === 1) {
          hit[q] = 2;
          stack.push(q);
        }
      }
    }
    out.push({ x: minX, y: minY, w: maxX - minX + 1, h: maxY - minY + 1, pixels: n });
  }
  return out;
}
