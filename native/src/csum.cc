// The one native function that touches packet bytes: csumCopy copies a range and takes its RFC 1071
// sum in one pass, so the per-byte work of segmentation and coalescing is not a JS loop. It does
// not know any header layout; TypeScript decides every offset and writes every header.
#include <cstring>

#include "common.h"

namespace weft {
namespace {

// RFC 1071 §2(B): the one's complement sum is byte-order independent, so sum native-order 32-bit
// words into 64-bit lanes (no carry lost below 2^32 words; the compiler vectorises the loop),
// fold, and swap the 16-bit result to network order once. An odd tail byte is the high byte of a
// big-endian word padded on the right, i.e. the low byte of a little-endian one.
inline uint32_t FoldSwap(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return static_cast<uint32_t>(acc);
#else
  return static_cast<uint32_t>(((acc & 0xff) << 8) | (acc >> 8));
#endif
}

// Folded RFC 1071 sum (not complemented) of src[0, len) as big-endian 16-bit words; with kCopy
// also copies it to dst in the same pass. The offload paths copy data that has just left the
// kernel and is not in cache, so reading it once instead of twice is what counts.
template <bool kCopy>
uint32_t SumRange(uint8_t* dst, const uint8_t* src, size_t len) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    uint32_t w[4];
    memcpy(w, src + i, 16);
    if (kCopy) memcpy(dst + i, w, 16);
    a0 += w[0];
    a1 += w[1];
    a2 += w[2];
    a3 += w[3];
  }
  uint64_t acc = a0 + a1 + a2 + a3;
  for (; i + 4 <= len; i += 4) {
    uint32_t w;
    memcpy(&w, src + i, 4);
    if (kCopy) memcpy(dst + i, &w, 4);
    acc += w;
  }
  if (i + 2 <= len) {
    uint16_t w;
    memcpy(&w, src + i, 2);
    if (kCopy) memcpy(dst + i, &w, 2);
    acc += w;
    i += 2;
  }
  if (i < len) {
    if (kCopy) dst[i] = src[i];
    acc += src[i];
  }
  return FoldSwap(acc);
}

// SumCopy sums and copies in one pass; a dst that overlaps src from above would be overwritten
// before it is read, so that case sums first and then memmoves.
uint32_t SumCopy(uint8_t* dst, const uint8_t* src, size_t len) {
  if (dst > src && dst < src + len) {
    uint32_t sum = SumRange<false>(nullptr, src, len);
    memmove(dst, src, len);
    return sum;
  }
  return SumRange<true>(dst, src, len);
}

// csumCopy(src, dst, plan: Uint32Array, n, sums: Uint32Array) -> undefined
// For each k < n with plan[3k..3k+2] = (srcOff, dstOff, len): sums[k] = the folded (not
// complemented) 16-bit RFC 1071 sum of src[srcOff, +len); then, unless dstOff is 0xFFFFFFFF,
// memmove it to dst[dstOff]. src and dst may be the same buffer. Out-of-range entries get
// sums[k] = 0xFFFFFFFF and copy nothing.
Napi::Value CsumCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *src, *dst;
  uint32_t *plan, *sums, n;
  size_t src_len, dst_len, n_plan, n_sums;
  if (!GetTyped(info[0], napi_uint8_array, &src, &src_len) || !GetTyped(info[1], napi_uint8_array, &dst, &dst_len) ||
      !GetTyped(info[2], napi_uint32_array, &plan, &n_plan) || !GetU32(info[3], &n) ||
      !GetTyped(info[4], napi_uint32_array, &sums, &n_sums)) {
    return ThrowArg(env, "csumCopy(src, dst, plan, n, sums)");
  }
  if (static_cast<size_t>(n) * 3 > n_plan || n > n_sums) return ThrowArg(env, "csumCopy: n exceeds plan or sums");
  for (uint32_t k = 0; k < n; k++) {
    size_t so = plan[3 * k], d = plan[3 * k + 1], len = plan[3 * k + 2];
    bool copy = plan[3 * k + 1] != 0xFFFFFFFFu;
    if (so > src_len || len > src_len - so || (copy && (d > dst_len || len > dst_len - d))) {
      sums[k] = 0xFFFFFFFFu;
      continue;
    }
    sums[k] = copy ? SumCopy(dst + d, src + so, len) : SumRange<false>(nullptr, src + so, len);
  }
  return env.Undefined();
}

}  // namespace

void InitCsum(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports, {WEFT_FN("csumCopy", CsumCopy)});
}

}  // namespace weft
