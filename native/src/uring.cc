// io_uring batches of TUN reads and writes: many read()s or write()s per io_uring_enter, so a
// wakeup full of 64-byte packets costs one system call instead of one per packet. System calls
// only: the batch shape and counters are batch.h's, the results tunRead/tunWrite's (tun.cc).
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

#include "batch.h"

namespace weft {
namespace {

constexpr uint32_t kMaxEntries = 4096;
constexpr uint32_t kMinReads = 2;

// iovecs of the packets of one submission (a gathered packet takes up to 2 per descriptor); valid
// until SubmitAndReap has reaped them. thread_local: one ring per TUN queue, one thread each.
thread_local struct iovec g_iov[kIovChunk];

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

// uringTunRead(handle, fd, batch, start, end, counters) -> count
// tunRead's contract (slot k at k*slotSize + headroom, descriptors from `start`; too-long packets
// counted and dropped), with the reads batched into io_uring_enter calls.
Napi::Value UringTunRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Uring* u;
  BatchCall call;
  if (!GetUring(info[0], &u)) return ThrowArg(env, "uringTunRead(ring, fd, batch, start, end, counters)");
  if (!ParseBatchCall(info, "uringTunRead(ring, fd, batch, start, end, counters)", &call, 1)) return env.Undefined();
  if (!RecvGeometryOk(call.b, call.end)) return ThrowArg(env, "uringTunRead: batch geometry does not fit its buffer");
  const Batch& b = call.b;
  double* c = call.c;
  const size_t cap = b.slot - b.headroom;
  uint32_t count = call.start;
  uint32_t next = call.start;  // next slot to read into
  uint32_t want = std::max(kMinReads, u->next_reads);
  bool empty = false;
  while (next < call.end && !empty) {
    const uint32_t n = std::min({want, call.end - next, u->entries});
    for (uint32_t j = 0; j < n; j++) {
      struct io_uring_sqe* sqe = io_uring_get_sqe(&u->ring);
      struct iovec* iov = &u->iov[2 * j];
      iov[0].iov_base = b.buf + static_cast<size_t>(next + j) * b.slot + b.headroom;
      iov[0].iov_len = cap;
      iov[1].iov_base = u->overflow;
      iov[1].iov_len = sizeof u->overflow;
      // Offset -1: the file position, which a character device ignores.
      io_uring_prep_readv(sqe, call.fd, iov, 2, static_cast<uint64_t>(-1));
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
      b.offsets[count] = static_cast<uint32_t>(static_cast<size_t>(next + j) * b.slot + b.headroom);
      b.lengths[count] = static_cast<uint32_t>(r);
      b.tail_lengths[count] = 0;
      b.trains[count] = 0;
      c[kRxPackets]++;
      c[kRxBytes] += static_cast<double>(r);
      count++;
    }
    next += n;
    want = std::min(2 * want, u->entries);
  }
  if (empty) c[kRxEagain]++;
  const uint32_t got = count - call.start;
  u->next_reads = std::max(kMinReads, std::min(u->entries, got + got / 2 + 1));
  return Napi::Number::New(env, got);
}

// uringTunWrite(handle, fd, batch, start, end, counters[, status]) -> packets written
// tunWrite's contract (one packet per descriptor, or per train of descriptors, gathered with its
// tails; a refused packet counted and skipped; status marks every descriptor of a packet taken),
// with the writes batched into io_uring_enter calls.
Napi::Value UringTunWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Uring* u;
  BatchCall call;
  if (!GetUring(info[0], &u)) return ThrowArg(env, "uringTunWrite(ring, fd, batch, start, end, counters[, status])");
  if (!ParseBatchCall(info, "uringTunWrite(ring, fd, batch, start, end, counters[, status])", &call, 1)) {
    return env.Undefined();
  }
  uint8_t* status = nullptr;
  size_t n_status = 0;
  if (!call.extra.IsUndefined() &&
      (!GetTyped(call.extra, napi_uint8_array, &status, &n_status) || call.end > n_status)) {
    return ThrowArg(env, "uringTunWrite: status must be a Uint8Array covering [start, end)");
  }
  const Batch& b = call.b;
  double* c = call.c;
  uint32_t written = 0;
  uint32_t i = call.start;
  // first[j] / last[j]: the descriptors of entry j's packet; entries' iovecs share one pool.
  uint32_t first[256], last[256];
  while (i < call.end) {
    uint32_t n = 0, pv = 0;
    const uint32_t limit = std::min<uint32_t>(u->entries, 256);
    while (i < call.end && n < limit) {
      const uint32_t members = b.trains[i] >= 2 ? b.trains[i] : 1;
      const uint32_t next = i + members > call.end ? call.end : i + members;
      bool ok = i + members <= call.end && 2 * members <= kIovChunk;
      if (ok && pv + 2 * members > kIovChunk) break;  // next submission
      if (status != nullptr) memset(status + i, 0, next - i);
      if (!ok) {
        c[kTxErrors]++;
        c[kLastErrno] = EINVAL;
      }
      uint32_t niov = 0;
      for (uint32_t j = i; ok && j < next; j++) {
        ok = DescriptorInBuffer(b, j, c);
        if (ok) niov += DescriptorIov(b, j, g_iov + pv + niov);
      }
      if (ok) {
        struct io_uring_sqe* sqe = io_uring_get_sqe(&u->ring);
        io_uring_prep_writev(sqe, call.fd, g_iov + pv, niov, static_cast<uint64_t>(-1));
        sqe->rw_flags = RWF_NOWAIT;
        io_uring_sqe_set_data64(sqe, n);
        first[n] = i;
        last[n] = next;
        n++;
        pv += niov;
      }
      i = next;
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
      if (status != nullptr) memset(status + first[j], 1, last[j] - first[j]);
    }
  }
  return Napi::Number::New(env, written);
}

}  // namespace

void InitUring(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports,
            {
                WEFT_FN("uringOpen", UringOpen),
                WEFT_FN("uringClose", UringClose),
                WEFT_FN("uringProbe", UringProbe),
                WEFT_FN("uringTunRead", UringTunRead),
                WEFT_FN("uringTunWrite", UringTunWrite),
            });
}

}  // namespace weft
