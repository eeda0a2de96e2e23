// The one native function that touches packet bytes: csumCopy takes the RFC 1071 sum of a range
// and, unless asked for the sum only, copies it in the same pass, so the per-byte work of
// segmentation and coalescing is not a JS loop. It does not know any header layout; TypeScript
// decides every offset and writes every header.
//
// Design notes:
// - RFC 1071 §2(B): the one's complement sum is byte-order independent, so the loops add
//   native-order 16-bit words and swap the folded result to network order once. An odd tail byte
//   is the high byte of a big-endian word padded on the right, i.e. the low byte of a
//   little-endian one.
// - Variants, all exact: `scalar` (four 64-bit accumulators over 32-bit words, any CPU), and
//   vector loops written with GCC vector extensions, `sse2` (the x86-64 baseline) and `avx2`.
//   The vector loops split each 32-bit lane into its two 16-bit halves and add them into 32-bit
//   lanes, which cannot overflow before 65536 blocks (flushed to 64 bits every kFlushBlocks).
//   Every load and store is a memcpy of the vector, so any alignment is fine.
// - The variant is chosen once at load, by what the CPU supports, or by WEFT_CSUM when it names
//   one the CPU runs (for A/B benchmarks; anything else is ignored). `csumVariants` says which;
//   `csumCopyVariant` runs a named one, for the tests and bench/csum.ts.
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"

namespace weft {
namespace {

inline uint32_t FoldSwap(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return static_cast<uint32_t>(acc);
#else
  return static_cast<uint32_t>(((acc & 0xff) << 8) | (acc >> 8));
#endif
}

// Sum of src[i, len) (fewer than a vector's bytes, or the whole range for `scalar`) added to acc;
// with kCopy also copies it to dst.
template <bool kCopy>
inline uint64_t SumTail(uint8_t* dst, const uint8_t* src, size_t i, size_t len, uint64_t acc) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (; i + 16 <= len; i += 16) {
    uint32_t w[4];
    memcpy(w, src + i, 16);
    if (kCopy) memcpy(dst + i, w, 16);
    a0 += w[0];
    a1 += w[1];
    a2 += w[2];
    a3 += w[3];
  }
  acc += a0 + a1 + a2 + a3;
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
  return acc;
}

template <bool kCopy>
uint32_t SumScalar(uint8_t* dst, const uint8_t* src, size_t len) {
  return FoldSwap(SumTail<kCopy>(dst, src, 0, len, 0));
}

#if defined(__x86_64__)
#define WEFT_CSUM_VECTOR 1
// A block is two vectors, summed into separate accumulators so the adds of one do not wait for
// the other's. 32-bit lanes gain at most 0xffff per block.
constexpr size_t kFlushBlocks = 32768;

// The vector loop, instantiated below in functions compiled for each instruction set (always
// inlined, so the vector code is generated for the caller's target).
template <typename V, bool kCopy>
__attribute__((always_inline)) inline uint32_t SumVectorBody(uint8_t* dst, const uint8_t* src, size_t len) {
  constexpr size_t kVec = sizeof(V);
  constexpr size_t kBlock = 2 * kVec;
  constexpr size_t kLanes = kVec / 4;
  const V mask = V{} + 0xffffu;
  uint64_t acc = 0;
  size_t i = 0;
  while (i + kBlock <= len) {
    V lo0 = V{}, hi0 = V{}, lo1 = V{}, hi1 = V{};
    size_t blocks = (len - i) / kBlock;
    if (blocks > kFlushBlocks) blocks = kFlushBlocks;
    const size_t end = i + blocks * kBlock;
    for (; i < end; i += kBlock) {
      V x0, x1;
      memcpy(&x0, src + i, kVec);
      memcpy(&x1, src + i + kVec, kVec);
      if (kCopy) {
        memcpy(dst + i, &x0, kVec);
        memcpy(dst + i + kVec, &x1, kVec);
      }
      lo0 += x0 & mask;
      hi0 += x0 >> 16;
      lo1 += x1 & mask;
      hi1 += x1 >> 16;
    }
    for (size_t k = 0; k < kLanes; k++) {
      acc += static_cast<uint64_t>(lo0[k]) + hi0[k] + lo1[k] + hi1[k];
    }
  }
  return FoldSwap(SumTail<kCopy>(dst, src, i, len, acc));
}

typedef uint32_t V16 __attribute__((vector_size(16)));
typedef uint32_t V32 __attribute__((vector_size(32)));

template <bool kCopy>
uint32_t SumSse2(uint8_t* dst, const uint8_t* src, size_t len) {
  return SumVectorBody<V16, kCopy>(dst, src, len);
}

template <bool kCopy>
__attribute__((target("avx2"))) uint32_t SumAvx2(uint8_t* dst, const uint8_t* src, size_t len) {
  return SumVectorBody<V32, kCopy>(dst, src, len);
}
#endif

using SumFn = uint32_t (*)(uint8_t* dst, const uint8_t* src, size_t len);

struct Variant {
  const char* name;
  SumFn sum;   // sum only (dst unused)
  SumFn copy;  // sum and copy, dst not overlapping src from above
  bool (*supported)();
};

bool Always() { return true; }
#ifdef WEFT_CSUM_VECTOR
bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
#endif

const Variant kVariants[] = {
    {"scalar", SumScalar<false>, SumScalar<true>, Always},
#ifdef WEFT_CSUM_VECTOR
    {"sse2", SumSse2<false>, SumSse2<true>, Always},
    {"avx2", SumAvx2<false>, SumAvx2<true>, HasAvx2},
#endif
};
constexpr size_t kVariantCount = sizeof kVariants / sizeof kVariants[0];

// The variant WEFT_CSUM names if the CPU runs it (an A/B knob for benchmarks), else the fastest
// supported one: the last of the table the CPU runs.
const Variant* Best() {
  const Variant* best = &kVariants[0];
  for (const Variant& v : kVariants) {
    if (v.supported()) best = &v;
  }
  const char* want = getenv("WEFT_CSUM");
  for (const Variant& v : kVariants) {
    if (want != nullptr && strcmp(want, v.name) == 0 && v.supported()) return &v;
  }
  return best;
}

const Variant* const g_best = Best();

// One sum (and copy) of src[0, len) to dst; a dst that overlaps src from above would be
// overwritten before it is read, so that case sums first and then memmoves.
inline uint32_t SumCopy(const Variant& v, uint8_t* dst, const uint8_t* src, size_t len) {
  if (dst > src && dst < src + len) {
    uint32_t sum = v.sum(nullptr, src, len);
    memmove(dst, src, len);
    return sum;
  }
  return v.copy(dst, src, len);
}

// Runs a csumCopy plan (arguments from info[first..first+4]) with variant `v`.
Napi::Value RunPlan(const Napi::CallbackInfo& info, size_t first, const Variant& v, const char* usage) {
  Napi::Env env = info.Env();
  uint8_t *src, *dst;
  uint32_t *plan, *sums, n;
  size_t src_len, dst_len, n_plan, n_sums;
  if (!GetTyped(info[first], napi_uint8_array, &src, &src_len) ||
      !GetTyped(info[first + 1], napi_uint8_array, &dst, &dst_len) ||
      !GetTyped(info[first + 2], napi_uint32_array, &plan, &n_plan) || !GetU32(info[first + 3], &n) ||
      !GetTyped(info[first + 4], napi_uint32_array, &sums, &n_sums)) {
    return ThrowArg(env, usage);
  }
  if (static_cast<size_t>(n) * 3 > n_plan || n > n_sums) return ThrowArg(env, "csumCopy: n exceeds plan or sums");
  for (uint32_t k = 0; k < n; k++) {
    size_t so = plan[3 * k], d = plan[3 * k + 1], len = plan[3 * k + 2];
    bool copy = plan[3 * k + 1] != 0xFFFFFFFFu;
    if (so > src_len || len > src_len - so || (copy && (d > dst_len || len > dst_len - d))) {
      sums[k] = 0xFFFFFFFFu;
      continue;
    }
    sums[k] = copy ? SumCopy(v, dst + d, src + so, len) : v.sum(nullptr, src + so, len);
  }
  return env.Undefined();
}

// csumCopy(src, dst, plan: Uint32Array, n, sums: Uint32Array) -> undefined
// For each k < n with plan[3k..3k+2] = (srcOff, dstOff, len): sums[k] = the folded (not
// complemented) 16-bit RFC 1071 sum of src[srcOff, +len); then, unless dstOff is 0xFFFFFFFF,
// memmove it to dst[dstOff]. src and dst may be the same buffer. Out-of-range entries get
// sums[k] = 0xFFFFFFFF and copy nothing.
Napi::Value CsumCopy(const Napi::CallbackInfo& info) {
  return RunPlan(info, 0, *g_best, "csumCopy(src, dst, plan, n, sums)");
}

// csumCopyVariant(name, src, dst, plan, n, sums) -> undefined: csumCopy with a named variant.
// Throws for a name this build does not have or this CPU cannot run.
Napi::Value CsumCopyVariant(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowArg(env, "csumCopyVariant(name, src, dst, plan, n, sums)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  for (const Variant& v : kVariants) {
    if (name == v.name && v.supported()) {
      return RunPlan(info, 1, v, "csumCopyVariant(name, src, dst, plan, n, sums)");
    }
  }
  return ThrowArg(env, "csumCopyVariant: no such variant on this CPU (see csumVariants)");
}

// csumVariants() -> { active: string, supported: string[] }
Napi::Value CsumVariants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("active", Napi::String::New(env, g_best->name));
  Napi::Array names = Napi::Array::New(env);
  uint32_t k = 0;
  for (size_t i = 0; i < kVariantCount; i++) {
    if (kVariants[i].supported()) names.Set(k++, Napi::String::New(env, kVariants[i].name));
  }
  out.Set("supported", names);
  return out;
}

}  // namespace

void InitCsum(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports,
            {
                WEFT_FN("csumCopy", CsumCopy),
                WEFT_FN("csumCopyVariant", CsumCopyVariant),
                WEFT_FN("csumVariants", CsumVariants),
            });
}

}  // namespace weft
