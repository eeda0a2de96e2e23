/**
 * go-json: JSON text as Go's `encoding/json` writes a `map[string]interface{}`, so the delegate
 * config weft's CNI plugin saves and sends is byte-for-byte what flannel's plugin would produce.
 *
 * Go's rules that differ from `JSON.stringify`: map keys are sorted (byte order, at every level),
 * and `<`, `>`, `&`, U+2028 and U+2029 inside strings are written as `\u003c`-style escapes.
 */

const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    // Go sorts by UTF-8 bytes; JavaScript's default sort compares UTF-16 units, which differs above U+FFFF.
    for (const k of Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
      out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** goJsonMarshal returns `v` as Go's json.Marshal prints a map[string]interface{} holding it. */
export function goJsonMarshal(v: unknown): string {
  return JSON.stringify(sortKeys(v)).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]!);
}
