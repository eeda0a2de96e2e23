// Shared helpers for the weft native addon: errno errors, argument access, the counter layouts and
// the export tables every file registers with.
//
// Design notes: the addon does system calls, never protocol. JS owns every buffer; native code
// only borrows pointers for the duration of one call (the poll handle is the one exception and
// holds no JS memory). Setup failures throw a JS Error carrying `code` (errno name), `errno`
// (number) and `syscall`; packet-path failures never throw, they bump a counter.
#pragma once

#include <napi.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>

// <linux/udp.h> values, for libc headers that predate them (batch.cc and udp.cc use them).
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace weft {

// The counter layouts, written once: each X-macro generates the C++ enum and the name list the
// addon exports (`ioCounterNames`, `gsoStateNames`), from which src/io/counters.ts and
// src/io/gso-state.ts take their slot indices at load. Float64 slots hold integers exactly up to
// 2^53 and read as plain JS numbers (no BigInt).
#define WEFT_IO_COUNTERS(X)                                                                          \
  X(kRxPackets, rxPackets)     /* packets handed to JS */                                            \
  X(kRxBytes, rxBytes)         /* bytes handed to JS */                                              \
  X(kRxSyscalls, rxSyscalls)   /* read()/recvmmsg() calls made */                                    \
  X(kRxEagain, rxEagain)       /* receive calls that found nothing (EAGAIN) */                       \
  X(kRxErrors, rxErrors)       /* receive calls that failed with another errno */                    \
  X(kRxTruncated, rxTruncated) /* packets larger than their slot, dropped */                         \
  X(kRxDropped, rxDropped)     /* packets lost before JS saw them (dgram path's queue; not native) */ \
  X(kTxPackets, txPackets)     /* packets the kernel accepted */                                     \
  X(kTxBytes, txBytes)         /* bytes the kernel accepted */                                       \
  X(kTxSyscalls, txSyscalls)   /* write()/sendmmsg() calls made */                                   \
  X(kTxEagain, txEagain)       /* send calls that hit EAGAIN (TUN: packet dropped; UDP: rest unsent) */ \
  X(kTxErrors, txErrors)       /* packets refused (or with a bad descriptor), skipped */              \
  X(kLastErrno, lastErrno)     /* errno of the most recent counted failure (diagnostic only) */

// UDP GSO/GRO state of one socket (BatchUdpSocket.gsoState), written by the send and receive loops.
#define WEFT_GSO_STATE(X)                                                                           \
  X(kGsoDisabledErrno, disabledErrno) /* 0 while GSO is used; the kernel's refusal errno after */   \
  X(kGsoMessages, gsoMessages)        /* GSO messages the kernel accepted */                        \
  X(kGsoSegments, gsoSegments)        /* datagrams those messages carried */                        \
  X(kGsoSplitMessages, gsoSplitMessages) /* trains sent as plain datagrams (fallback, too big) */   \
  X(kGroMessages, groMessages)        /* received datagrams that were GRO trains (>1 segment) */    \
  X(kGroSegments, groSegments)        /* segments those trains carried */                           \
  X(kGsoMtuSplits, mtuSplits)         /* trains split because a segment exceeded the MTU */         \
  X(kGsoSplitFrom, splitFrom)         /* 0, or the segment size from which trains are split */

#define WEFT_ENUM_SLOT(id, js) id,
enum Counter : uint32_t { WEFT_IO_COUNTERS(WEFT_ENUM_SLOT) kCounterCount };
enum GsoState : uint32_t { WEFT_GSO_STATE(WEFT_ENUM_SLOT) kGsoStateCount };
#undef WEFT_ENUM_SLOT

extern const char* const kCounterNames[kCounterCount];
extern const char* const kGsoStateNames[kGsoStateCount];

// errno -> "EADDRINUSE" (glibc strerrorname_np, with a fallback for unknown values).
const char* ErrnoName(int err);

// Sets a pending JS Error {code, errno, syscall, message}; returns undefined for `return`.
Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err, const char* detail = nullptr);

// Sets a pending TypeError with code ERR_INVALID_ARG_TYPE/VALUE; returns undefined.
Napi::Value ThrowArg(Napi::Env env, const char* message);

// Borrow the bytes of a typed array (any element type). False if `v` is not a typed array
// of the expected type (napi_uint8_array etc.). `count` is in elements.
template <typename T>
bool GetTyped(napi_env env, napi_value v, napi_typedarray_type expected, T** data, size_t* count) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* ptr = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, nullptr, nullptr) != napi_ok) return false;
  if (type != expected) return false;
  *data = static_cast<T*>(ptr);
  *count = length;
  return true;
}
template <typename T>
bool GetTyped(const Napi::Value& v, napi_typedarray_type expected, T** data, size_t* count) {
  return GetTyped(v.Env(), v, expected, data, count);
}

// Counters argument: a Float64Array with at least kCounterCount slots.
bool GetCounters(const Napi::Value& v, double** counters);

// GSO state argument: a Float64Array with at least kGsoStateCount slots; undefined/null gives
// nullptr (the plain path) and true.
bool GetGsoState(const Napi::Value& v, double** state);

// Integer argument helpers (JS numbers); false when not a number.
bool GetU32(const Napi::Value& v, uint32_t* out);
bool GetI32(const Napi::Value& v, int32_t* out);

// Sets SO_RCVBUF/SO_SNDBUF (opt); when the result stays below the request (net.core.*_max), tries
// the *FORCE variant (force_opt), which works with CAP_NET_ADMIN (silently capped without it).
void SetBufferSize(int fd, int opt, int force_opt, int bytes);

// getsockopt of an int option; -1 on failure.
int GetIntOpt(int fd, int level, int name);

// Export tables: each file lists its functions and constants once, with the JS name beside the
// C++ one, and registers them with one call.
struct FnExport {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};
struct ConstExport {
  const char* name;
  double value;
};
#define WEFT_FN(js, cpp) ::weft::FnExport{js, cpp}
#define WEFT_CONST(c) ::weft::ConstExport{#c, static_cast<double>(c)}
#define WEFT_CONST_AS(js, v) ::weft::ConstExport{js, static_cast<double>(v)}

void ExportFns(Napi::Env env, Napi::Object exports, std::initializer_list<FnExport> fns);
// A plain object {name: value} of the table, e.g. exports.tunConstants.
Napi::Object ConstTable(Napi::Env env, std::initializer_list<ConstExport> consts);

void InitBatch(Napi::Env env, Napi::Object exports);
void InitTun(Napi::Env env, Napi::Object exports);
void InitUdp(Napi::Env env, Napi::Object exports);
void InitPoll(Napi::Env env, Napi::Object exports);
void InitNetif(Napi::Env env, Napi::Object exports);
void InitCsum(Napi::Env env, Napi::Object exports);
void InitRaw(Napi::Env env, Napi::Object exports);
void InitBpf(Napi::Env env, Napi::Object exports);
void InitUring(Napi::Env env, Napi::Object exports);
void InitSched(Napi::Env env, Napi::Object exports);
void InitNetlink(Napi::Env env, Napi::Object exports);

}  // namespace weft
