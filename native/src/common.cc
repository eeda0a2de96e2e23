// Errors, argument access, counter names and the shared mmsghdr / sendmmsg helpers of the addon.
#include "common.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace weft {

const char* const kCounterNames[kCounterCount] = {
    "rxPackets", "rxBytes",  "rxSyscalls", "rxEagain", "rxErrors", "rxTruncated",
    "rxDropped", "txPackets", "txBytes",  "txSyscalls", "txEagain", "txErrors", "lastErrno",
};

const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "UNKNOWN";
}

Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err, const char* detail) {
  char message[256];
  if (detail != nullptr) {
    snprintf(message, sizeof message, "%s %s: %s (%s)", syscall, ErrnoName(err), strerror(err), detail);
  } else {
    snprintf(message, sizeof message, "%s %s: %s", syscall, ErrnoName(err), strerror(err));
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowArg(Napi::Env env, const char* message) {
  Napi::TypeError e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool GetCounters(const Napi::Value& v, double** counters) {
  size_t n = 0;
  if (!GetTyped<double>(v, napi_float64_array, counters, &n)) return false;
  return n >= kCounterCount;
}

bool GetU32(const Napi::Value& v, uint32_t* out) {
  return napi_get_value_uint32(v.Env(), v, out) == napi_ok;
}

bool GetI32(const Napi::Value& v, int32_t* out) {
  return napi_get_value_int32(v.Env(), v, out) == napi_ok;
}

void PrepareMsg(struct mmsghdr* m, struct iovec* iov, struct sockaddr_in* sa, uint8_t* base, size_t len) {
  iov->iov_base = base;
  iov->iov_len = len;
  memset(&m->msg_hdr, 0, sizeof m->msg_hdr);
  m->msg_hdr.msg_iov = iov;
  m->msg_hdr.msg_iovlen = 1;
  m->msg_hdr.msg_name = sa;
  m->msg_hdr.msg_namelen = sizeof *sa;
  m->msg_len = 0;
}

bool TxInBuffer(size_t off, size_t len, size_t buf_len, double* c) {
  if (off <= buf_len && len <= buf_len - off) return true;
  c[kTxErrors]++;
  c[kLastErrno] = EINVAL;
  return false;
}

void CountRxFailure(double* c, int err) {
  if (err == EAGAIN || err == EWOULDBLOCK) {
    c[kRxEagain]++;
  } else {
    c[kRxErrors]++;
    c[kLastErrno] = err;
  }
}

int GetIntOpt(int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) < 0) return -1;
  return v;
}

void SetBufferSize(int fd, int opt, int force_opt, int bytes) {
  if (bytes <= 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
  // The kernel stores twice the request, capped at net.core.{r,w}mem_max * 2.
  if (static_cast<long>(GetIntOpt(fd, SOL_SOCKET, opt)) < 2L * bytes) {
    setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes);
  }
}

uint32_t SendBatch(int fd, uint8_t* buf, size_t buf_len, const uint32_t* offsets, const uint32_t* lengths,
                   const uint32_t* addrs, const uint16_t* ports, uint32_t start, uint32_t end, double* c) {
  struct mmsghdr msgs[kMmsgChunk];
  struct iovec iov[kMmsgChunk];
  struct sockaddr_in to[kMmsgChunk];
  uint32_t index_of[kMmsgChunk];  // msgs[k] is descriptor index_of[k]
  uint32_t i = start;
  while (i < end) {
    uint32_t n = 0;
    for (; i < end && n < kMmsgChunk; i++) {
      if (!TxInBuffer(offsets[i], lengths[i], buf_len, c)) continue;
      PrepareMsg(&msgs[n], &iov[n], &to[n], buf + offsets[i], lengths[i]);
      memset(&to[n], 0, sizeof to[n]);
      to[n].sin_family = AF_INET;
      to[n].sin_addr.s_addr = htonl(addrs[i]);
      if (ports != nullptr) to[n].sin_port = htons(ports[i]);
      index_of[n] = i;
      n++;
    }
    uint32_t k = 0;
    while (k < n) {
      int sent = sendmmsg(fd, msgs + k, n - k, MSG_DONTWAIT);
      c[kTxSyscalls]++;
      if (sent < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          c[kTxEagain]++;
          return index_of[k];
        }
        // sendmmsg reports an error only when the first message failed: skip that one.
        c[kTxErrors]++;
        c[kLastErrno] = err;
        k++;
        continue;
      }
      for (int j = 0; j < sent; j++) {
        c[kTxPackets]++;
        c[kTxBytes] += msgs[k + j].msg_len;
      }
      k += static_cast<uint32_t>(sent);
    }
  }
  return end > start ? end : start;
}

}  // namespace weft
