// Shared helpers for the weft native addon: errno errors, argument access, the counter layout.
//
// Design notes: the addon does system calls, never protocol. JS owns every buffer; native code
// only borrows pointers for the duration of one call (the poll handle is the one exception and
// holds no JS memory). Setup failures throw a JS Error carrying `code` (errno name), `errno`
// (number) and `syscall`; packet-path failures never throw, they bump a counter.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace weft {

// Counter slots of the JS-owned Float64Array every I/O object passes to its batch calls.
// Float64 holds integers exactly up to 2^53 and reads as plain JS numbers (no BigInt).
// Keep in step with kCounterNames and src/io/counters.ts.
enum Counter : uint32_t {
  kRxPackets = 0,    // packets handed to JS
  kRxBytes,          // bytes handed to JS
  kRxSyscalls,       // read()/recvmmsg() calls made
  kRxEagain,         // receive calls that found nothing (EAGAIN)
  kRxErrors,         // receive calls that failed with another errno
  kRxTruncated,      // packets larger than their slot, dropped
  kRxDropped,        // packets lost before JS saw them (dgram path's bounded queue; unused natively)
  kTxPackets,        // packets the kernel accepted
  kTxBytes,          // bytes the kernel accepted
  kTxSyscalls,       // write()/sendmmsg() calls made
  kTxEagain,         // send calls that hit EAGAIN (TUN: packet dropped; UDP: rest returned unsent)
  kTxErrors,         // packets that failed with another errno (or a bad descriptor) and were skipped
  kLastErrno,        // errno of the most recent counted failure (diagnostic only)
  kCounterCount
};

extern const char* const kCounterNames[kCounterCount];

// errno -> "EADDRINUSE" (glibc strerrorname_np, with a fallback for unknown values).
const char* ErrnoName(int err);

// Sets a pending JS Error {code, errno, syscall, message}; returns undefined for `return`.
Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err, const char* detail = nullptr);

// Sets a pending TypeError with code ERR_INVALID_ARG_TYPE/VALUE; returns undefined.
Napi::Value ThrowArg(Napi::Env env, const char* message);

// Borrow the bytes of a typed array (any element type). False if `v` is not a typed array
// of the expected type (napi_uint8_array etc.). `count` is in elements.
template <typename T>
bool GetTyped(const Napi::Value& v, napi_typedarray_type expected, T** data, size_t* count) {
  napi_env env = v.Env();
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* ptr = nullptr;
  napi_value ab;
  size_t byte_offset = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &byte_offset) != napi_ok) return false;
  if (type != expected) return false;
  *data = static_cast<T*>(ptr);
  *count = length;
  return true;
}

// Counters argument: a Float64Array with at least kCounterCount slots.
bool GetCounters(const Napi::Value& v, double** counters);

// Integer argument helpers (JS numbers); false when not a number.
bool GetU32(const Napi::Value& v, uint32_t* out);
bool GetI32(const Napi::Value& v, int32_t* out);

void InitTun(Napi::Env env, Napi::Object exports);
void InitUdp(Napi::Env env, Napi::Object exports);
void InitPoll(Napi::Env env, Napi::Object exports);
void InitNetif(Napi::Env env, Napi::Object exports);
void InitOffload(Napi::Env env, Napi::Object exports);
void InitRaw(Napi::Env env, Napi::Object exports);

}  // namespace weft
