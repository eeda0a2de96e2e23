// io_uring batches of TUN reads and writes: many read()s or write()s per io_uring_enter, so a
// wakeup full of 64-byte packets costs one system call instead of one per packet. System calls
// only: slots, descriptors and counters are tun.cc's (tunRead/tunWrite), and so are the results.
//
// Design notes:
// - One ring per TUN queue (a Napi::External; freed by uringClose or by the finalizer). Created
//   on the thread that uses it. io_uring_queue_init failing (ENOSYS, EPERM under a seccomp
//   profile, kernel.io_uring_disabled) is a thrown errno error: the caller falls back to
//   tunRead/tunWrite.
// - Every read and write carries RWF_NOWAIT: io_uring ignores O_NONBLOCK on files that support
//   non-blocking I/O (TUN, sockets) and would otherwise arm a poll and wait, so an empty queue
//   would block the call. With it, a read of an empty queue completes at once with -EAGAIN.
//   Reads are issued in order inside io_uring_enter, so slot order is arrival order; an EAGAIN
//   slot is skipped and the descriptors are compacted (no copy). A file without non-blocking
//   support answers -EOPNOTSUPP: uringProbe (a zero-length read, which takes no packet) lets the
//   caller find that out before using the ring on it.
// - Reads are a guess at how many packets are queued: after a read that hit EAGAIN at k packets,
//   the next call submits about 1.5k + 1 (at least kMinReads); a call that finds every slot full
//   submits the next chunk, doubling, until EAGAIN or `max`. A wasted read costs a ptr_ring check
//   and an io_uring request, not a system call.
// - Each read is a readv with a second 64-byte iovec, as in tunRead: a packet longer than its
//   slot is seen (count > slot capacity), counted as truncated and dropped.
// - Counters: rxSyscalls / txSyscalls count io_uring_enter calls, so packets per syscall shows
//   the batching; per packet, the same counters as tunRead/tunWrite.
#include <errno.h>
#include <liburing.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "common.h"

namespace weft {
namespace {

constexpr uint32_t kMaxEntries = 4096;
constexpr uint32_t kMinReads = 2;

struct Uring {
  struct io_uring ring;
  uint32_t entries = 0;
  bool open = false;
  struct iovec* iov = nullptr;  // 2 per entry: the slot, then the shared overflow catcher
  int32_t* res = nullptr;       // completion result per submitted entry
  uint32_t next_reads = kMinReads;
  uint8_t overflow[64];
};

void Destroy(Uring* u) {
  if (u->open) io_uring_queue_exit(&u->ring);
  u->open = false;
  delete[] u->iov;
  delete[] u->res;
  u->iov = nullptr;
  u->res = nullptr;
}

bool GetUring(const Napi::Value& v, Uring** out) {
  if (!v.IsExternal()) return false;
  Uring* u = v.As<Napi::External<Uring>>().Data();
  if (u == nullptr || !u->open) return false;
  *out = u;
  return true;
}

// Submits the n prepared entries and waits for their n completions; res[j] is entry j's result
// (user_data = j). Returns 0, or the errno of io_uring_enter (then nothing was reaped for sure).
int SubmitAndReap(Uring* u, uint32_t n) {
  int ret;
  do {
    ret = io_uring_submit_and_wait(&u->ring, n);
  } while (ret == -EINTR);
  if (ret < 0) {
    // Entries the kernel did not consume stay in the SQ, and the next submit would send them
    // with this call's buffers. Rebuild the ring empty instead (same size; on failure the
    // handle is closed and the next call throws).
    for (uint32_t j = 0; j < n; j++) u->res[j] = ret;
    io_uring_queue_exit(&u->ring);
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    u->open = io_uring_queue_init_params(u->entries, &u->ring, &p) == 0;
    return -ret;
  }
  uint32_t got = 0;
  while (got < static_cast<uint32_t>(ret)) {
    struct io_uring_cqe* cqe = nullptr;
    int w;
    do {
      w = io_uring_wait_cqe(&u->ring, &cqe);
    } while (w == -EINTR);
    if (w < 0) return -w;
    uint64_t j = io_uring_cqe_get_data64(cqe);
    if (j < n) u->res[j] = cqe->res;
    io_uring_cqe_seen(&u->ring, cqe);
    got++;
  }
  for (uint32_t j = got; j < n; j++) u->res[j] = -ECANCELED;
  return 0;
}

// uringOpen(entries) -> ring handle. Throws (errno) when the kernel refuses io_uring.
Napi::Value UringOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t entries;
  if (!GetU32(info[0], &entries) || entries < 1 || entries > kMaxEntries) {
    return ThrowArg(env, "uringOpen(entries: 1..4096)");
  }
  Uring* u = new (std::nothrow) Uring();
  if (u == nullptr) return ThrowErrno(env, "uringOpen", ENOMEM);
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  // The task that submits also completes: no IPI to run task work (5.19+; retried without).
  p.flags = IORING_SETUP_COOP_TASKRUN;
  int r = io_uring_queue_init_params(entries, &u->ring, &p);
  if (r == -EINVAL) {
    memset(&p, 0, sizeof p);
    r = io_uring_queue_init_params(entries, &u->ring, &p);
  }
  if (r < 0) {
    delete u;
    return ThrowErrno(env, "io_uring_setup", -r);
  }
  u->open = true;
  u->entries = entries;
  u->iov = new (std::nothrow) struct iovec[2 * static_cast<size_t>(entries)];
  u->res = new (std::nothrow) int32_t[entries];
  if (u->iov == nullptr || u->res == nullptr) {
    Destroy(u);
    delete u;
    return ThrowErrno(env, "uringOpen", ENOMEM);
  }
  return Napi::External<Uring>::New(env, u, [](Napi::Env, Uring* x) {
    Destroy(x);
    delete x;
  });
}

// uringClose(handle) -> undefined. Idempotent; the handle is unusable afterwards.
Napi::Value UringClose(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) return ThrowArg(info.Env(), "uringClose(handle)");
  Uring* u = info[0].As<Napi::External<Uring>>().Data();
  if (u != nullptr) Destroy(u);
  return info.Env().Undefined();
}

// uringProbe(handle, fd) -> 0, or the errno a non-blocking read of `fd` through the ring gets
// (EOPNOTSUPP: the file cannot do RWF_NOWAIT). Zero bytes are asked for, so no packet is taken.
Napi::Value UringProbe(const Napi::CallbackInfo& info) {
  Uring* u;
  int32_t fd;
  if (!GetUring(info[0], &u) || !GetI32(info[1], &fd)) return ThrowArg(info.Env(), "uringProbe(ring, fd)");
  struct io_uring_sqe* sqe = io_uring_get_sqe(&u->ring);
  u->iov[0].iov_base = u->overflow;
  u->iov[0].iov_len = 0;
  io_uring_prep_readv(sqe, fd, u->iov, 1, static_cast<uint64_t>(-1));
  sqe->rw_flags = RWF_NOWAIT;
  io_uring_sqe_set_data64(sqe, 0);
  int err = SubmitAndReap(u, 1);
  if (err == 0 && u->res[0] < 0 && u->res[0] != -EAGAIN) err = -u->res[0];
  return Napi::Number::New(info.Env(), err);
}

// uringTunRead(handle, fd, buf, offsets, lengths, max, slotSize, headroom, counters) -> count
// tunRead's contract (slot k at k*slotSize + headroom; too-long packets counted and dropped),
// with the reads batched into io_uring_enter calls.
Napi::Value UringTunRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Uring* u;
  int32_t fd;
  uint32_t max, slot, headroom;
  uint8_t* buf;
  uint32_t *offsets, *lengths;
  size_t buf_len, n_off, n_len;
  double* c;
  if (!GetUring(info[0], &u) || !GetI32(info[1], &fd) || !GetTyped(info[2], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[3], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[4], napi_uint32_array, &lengths, &n_len) || !GetU32(info[5], &max) ||
      !GetU32(info[6], &slot) || !GetU32(info[7], &headroom) || !GetCounters(info[8], &c)) {
    return ThrowArg(env, "uringTunRead(ring, fd, buf, offsets, lengths, max, slotSize, headroom, counters)");
  }
  if (headroom >= slot || static_cast<size_t>(max) * slot > buf_len || max > n_off || max > n_len) {
    return ThrowArg(env, "uringTunRead: batch geometry does not fit its buffer or descriptor arrays");
  }
  const size_t cap = slot - headroom;
  uint32_t count = 0;
  uint32_t next = 0;  // next slot to read into
  uint32_t want = std::max(kMinReads, u->next_reads);
  bool empty = false;
  while (next < max && !empty) {
    const uint32_t n = std::min({want, max - next, u->entries});
    for (uint32_t j = 0; j < n; j++) {
      struct io_uring_sqe* sqe = io_uring_get_sqe(&u->ring);
      struct iovec* iov = &u->iov[2 * j];
      iov[0].iov_base = buf + static_cast<size_t>(next + j) * slot + headroom;
      iov[0].iov_len = cap;
      iov[1].iov_base = u->overflow;
      iov[1].iov_len = sizeof u->overflow;
      // Offset -1: the file position, which a character device ignores.
      io_uring_prep_readv(sqe, fd, iov, 2, static_cast<uint64_t>(-1));
      sqe->rw_flags = RWF_NOWAIT;
      io_uring_sqe_set_data64(sqe, j);
    }
    c[kRxSyscalls]++;
    int err = SubmitAndReap(u, n);
    if (err != 0) {
      CountRxFailure(c, err);
      break;
    }
    for (uint32_t j = 0; j < n; j++) {
      int32_t r = u->res[j];
      if (r < 0) {
        if (r == -EAGAIN || r == -EWOULDBLOCK) {
          empty = true;
        } else if (r != -EINTR && r != -ECANCELED) {
          c[kRxErrors]++;
          c[kLastErrno] = -r;
        }
        continue;
      }
      if (static_cast<size_t>(r) > cap) {
        c[kRxTruncated]++;
        continue;
      }
      offsets[count] = static_cast<uint32_t>(static_cast<size_t>(next + j) * slot + headroom);
      lengths[count] = static_cast<uint32_t>(r);
      c[kRxPackets]++;
      c[kRxBytes] += static_cast<double>(r);
      count++;
    }
    next += n;
    want = std::min(2 * want, u->entries);
  }
  if (empty) c[kRxEagain]++;
  u->next_reads = std::max(kMinReads, std::min(u->entries, count + count / 2 + 1));
  return Napi::Number::New(env, count);
}

// uringTunWrite(handle, fd, buf, offsets, lengths, start, end, counters[, status]) -> written
// tunWrite's contract (a refused packet counted and skipped; status[i] = 1 taken, 0 not), with the
// writes batched into io_uring_enter calls.
Napi::Value UringTunWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Uring* u;
  int32_t fd;
  uint32_t start, end;
  uint8_t* buf;
  uint32_t *offsets, *lengths;
  size_t buf_len, n_off, n_len;
  double* c;
  if (!GetUring(info[0], &u) || !GetI32(info[1], &fd) || !GetTyped(info[2], napi_uint8_array, &buf, &buf_len) ||
      !GetTyped(info[3], napi_uint32_array, &offsets, &n_off) ||
      !GetTyped(info[4], napi_uint32_array, &lengths, &n_len) || !GetU32(info[5], &start) ||
      !GetU32(info[6], &end) || !GetCounters(info[7], &c)) {
    return ThrowArg(env, "uringTunWrite(ring, fd, buf, offsets, lengths, start, end, counters)");
  }
  if (end > n_off || end > n_len) return ThrowArg(env, "uringTunWrite: end exceeds descriptor arrays");
  uint8_t* status = nullptr;
  size_t n_status = 0;
  if (info.Length() > 8 && !info[8].IsUndefined()) {
    if (!GetTyped(info[8], napi_uint8_array, &status, &n_status) || end > n_status) {
      return ThrowArg(env, "uringTunWrite: status must be a Uint8Array covering [start, end)");
    }
  }
  uint32_t written = 0;
  uint32_t i = start;
  // index[j]: the descriptor of entry j (bad descriptors are skipped before submission).
  uint32_t index[256];
  while (i < end) {
    uint32_t n = 0;
    const uint32_t limit = std::min<uint32_t>(u->entries, 256);
    for (; i < end && n < limit; i++) {
      size_t off = offsets[i], len = lengths[i];
      if (status != nullptr) status[i] = 0;
      if (!TxInBuffer(off, len, buf_len, c)) continue;
      struct io_uring_sqe* sqe = io_uring_get_sqe(&u->ring);
      io_uring_prep_write(sqe, fd, buf + off, static_cast<unsigned>(len), static_cast<uint64_t>(-1));
      sqe->rw_flags = RWF_NOWAIT;
      io_uring_sqe_set_data64(sqe, n);
      index[n++] = i;
    }
    if (n == 0) continue;
    c[kTxSyscalls]++;
    int err = SubmitAndReap(u, n);
    if (err != 0) {
      // Nothing is known to have been written: all n count as failed.
      c[kTxErrors] += n;
      c[kLastErrno] = err;
      continue;
    }
    for (uint32_t j = 0; j < n; j++) {
      int32_t r = u->res[j];
      uint32_t k = index[j];
      if (r < 0) {
        if (r == -EAGAIN || r == -EWOULDBLOCK) {
          c[kTxEagain]++;
        } else {
          c[kTxErrors]++;
          c[kLastErrno] = -r;
        }
        continue;
      }
      c[kTxPackets]++;
      c[kTxBytes] += static_cast<double>(r);
      written++;
      if (status != nullptr) status[k] = 1;
    }
  }
  return Napi::Number::New(env, written);
}

}  // namespace

void InitUring(Napi::Env env, Napi::Object exports) {
  exports.Set("uringOpen", Napi::Function::New(env, UringOpen, "uringOpen"));
  exports.Set("uringClose", Napi::Function::New(env, UringClose, "uringClose"));
  exports.Set("uringProbe", Napi::Function::New(env, UringProbe, "uringProbe"));
  exports.Set("uringTunRead", Napi::Function::New(env, UringTunRead, "uringTunRead"));
  exports.Set("uringTunWrite", Napi::Function::New(env, UringTunWrite, "uringTunWrite"));
}

}  // namespace weft
