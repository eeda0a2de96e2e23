/**
 * Annotated frame decoder, shared by `weft explain`, `weft capture --explain` and the one-line
 * `weft capture` summary (src/capture/summarize.ts renders the same decoded layers).
 *
 * `explainFrameRows(buf, opts)` returns the structured layers and fields (for tests and tools);
 * `explainFrame(buf, opts)` returns the text. Neither throws on frame content: truncated or bogus
 * frames are explained as far as they go, with notes saying where and why decoding stopped.
 */
import { decodeFrame, type ExplainOptions } from './decode';
import type { Explanation } from './model';
import { renderExplanation, type RenderOptions } from './render';

export {
  DEFAULT_FLANNEL_UDP_PORTS,
  DEFAULT_PORTS,
  DEFAULT_VXLAN_PORTS,
  LinkType,
  decodeFrame,
} from './decode';
export type { ExplainLink, ExplainOptions, OverlayKind } from './decode';
export type * from './model';
export { renderExplanation } from './render';
export type { RenderOptions } from './render';

/** ExplainFrameOptions combines decoder and renderer options. */
export type ExplainFrameOptions = ExplainOptions & RenderOptions;

/** explainFrameRows decodes a frame into layers of annotated fields (see model.ts). */
export function explainFrameRows(buf: Uint8Array, opts: ExplainOptions = {}): Explanation {
  return decodeFrame(buf, opts);
}

/** explainFrame decodes a frame and renders it as text, one line per field. */
export function explainFrame(buf: Uint8Array, opts: ExplainFrameOptions = {}): string {
  return renderExplanation(decodeFrame(buf, opts), buf, opts);
}
