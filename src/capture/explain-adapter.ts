/**
 * explain-adapter: the byte-by-byte view under each `weft capture --explain` line, rendered by the
 * shared explain library (src/explain, also behind `weft explain`), indented under the summary.
 */
import { decodeFrame, renderExplanation, type Explanation } from '../explain';
import { captureDecodeOptions, type OverlayKind } from './summarize';

/**
 * explainCaptured renders the annotated byte-by-byte view of one captured frame with link type
 * `linkType`. It decodes with the summary line's options (same ports, `auto` sniffing, either UDP
 * port), so the view and the line always agree; pass the summary's `explanation` as `decoded` to
 * skip decoding the frame a second time (`summarizeFrame(…, { explain: true })` makes it a full
 * decode; a `summary` decode has no rows, so the frame is then decoded again in full).
 */
export function explainCaptured(
  frame: Buffer,
  linkType: number,
  ports: ReadonlyMap<number, OverlayKind>,
  indent = '    ',
  decoded?: Explanation,
): string {
  let text: string;
  try {
    const ex =
      decoded?.detail === 'full'
        ? decoded
        : decodeFrame(frame, captureDecodeOptions(linkType, ports, 'full'));
    text = renderExplanation(ex, frame);
  } catch (err) {
    // The library promises not to throw on frame content; if it ever does, keep capturing.
    text = `[explain failed: ${(err as Error).message}]`;
  }
  return text
    .split('\n')
    .map((l) => (l ? indent + l : l))
    .join('\n');
}
