// Shared helpers for the weft native addon: errno errors, argument access, the counter layout,
// and the mmsghdr setup and sendmmsg batch loop that udp.cc and raw.cc share.
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

// <linux/udp.h> values, for libc headers that predate them (udp.cc and offload.cc use them).
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

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

// Messages per sendmmsg/recvmmsg call of udp.cc and raw.cc; larger batches are split. Stack use
// ~100 B per message.
constexpr uint32_t kMmsgChunk = 256;

// Points m at one datagram buffer and at sa as its peer (destination on send, filled in on receive).
void PrepareMsg(struct mmsghdr* m, struct iovec* iov, struct sockaddr_in* sa, uint8_t* base, size_t len);

// False (counting txErrors, lastErrno EINVAL) when descriptor [off, +len) lies outside a buffer of
// buf_len bytes: a bad descriptor is a per-packet failure, never an out-of-bounds access.
bool TxInBuffer(size_t off, size_t len, size_t buf_len, double* c);

// Counts a failed receive call: EAGAIN is the normal end of a drain, any other errno an error.
void CountRxFailure(double* c, int err);

// Sets SO_RCVBUF/SO_SNDBUF (opt); when the result stays below the request (net.core.*_max), tries
// the *FORCE variant (force_opt), which works with CAP_NET_ADMIN (silently capped without it).
void SetBufferSize(int fd, int opt, int force_opt, int bytes);

// getsockopt of an int option; -1 on failure.
int GetIntOpt(int fd, int level, int name);

// sendmmsg of descriptors [start, end) to addrs[i] (host order) and ports[i] (null: port 0, for raw
// sockets whose header carries it), kMmsgChunk messages per call. A descriptor outside buf or a
// message the kernel refuses is counted in txErrors and skipped; a partial sendmmsg is retried
// from the first unsent message. Returns `end` (or `start` if larger), or on EAGAIN the index of
// the first descriptor not yet attempted.
uint32_t SendBatch(int fd, uint8_t* buf, size_t buf_len, const uint32_t* offsets, const uint32_t* lengths,
                   const uint32_t* addrs, const uint16_t* ports, uint32_t start, uint32_t end, double* c);

void InitTun(Napi::Env env, Napi::Object exports);
void InitUdp(Napi::Env env, Napi::Object exports);
void InitPoll(Napi::Env env, Napi::Object exports);
void InitNetif(Napi::Env env, Napi::Object exports);
void InitOffload(Napi::Env env, Napi::Object exports);
void InitRaw(Napi::Env env, Napi::Object exports);
void InitBpf(Napi::Env env, Napi::Object exports);
void InitUring(Napi::Env env, Napi::Object exports);

}  // namespace weft
