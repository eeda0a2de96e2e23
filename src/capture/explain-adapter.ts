/**
 * explain-adapter: the byte-by-byte view under each `weft capture --explain` line, rendered by the
 * shared explain library (src/explain, also behind `weft explain`), indented under the summary.
 */
import { explainFrame } from '../explain';
import type { OverlayKind } from './summarize';

/**
 * explainCaptured renders the annotated byte-by-byte view of one captured frame with link type
 * `linkType`, decoding the same overlay ports as the summary line (`auto` ports as VXLAN unless the
 * payload starts like an IP packet).
 */
export function explainCaptured(
  frame: Buffer,
  linkType: number,
  ports: ReadonlyMap<number, OverlayKind>,
  indent = '    ',
): string {
  const vxlanPorts: number[] = [];
  const udpPorts: number[] = [];
  for (const [port, kind] of ports) (kind === 'udp' ? udpPorts : vxlanPorts).push(port);
  let text: string;
  try {
    text = explainFrame(frame, { link: linkType, vxlanPorts, udpPorts });
  } catch (err) {
    // The library promises not to throw on frame content; if it ever does, keep capturing.
    text = `[explain failed: ${(err as Error).message}]`;
  }
  return text
    .split('\n')
    .map((l) => (l ? indent + l : l))
    .join('\n');
}
