// The batch shape and the sendmmsg / recvmmsg loops (see batch.h).
//
// Design notes:
// - A batch is one Uint8Array (PacketBatch.memory): slots, descriptor arrays and a layout header
//   at its end, so a call costs one typed-array access however many arrays the batch has.
// - Scratch for the mmsghdr arrays is thread_local: too large for a stack frame, and worker
//   threads (one per TUN queue) each get their own. Calls are not re-entrant, so one scratch
//   serves sends and receives.
// - GSO fallback is decided at run time: when the kernel refuses a GSO message (EIO: egress
//   device without checksum offload; EINVAL/EOPNOTSUPP/ENOPROTOOPT: kernel without UDP_SEGMENT or
//   a socket with SO_NO_CHECK), the errno is stored in gso_state[kGsoDisabledErrno], that message
//   is re-sent as plain datagrams (iovecs into the same buffer, no copy), and every later call
//   splits too.
// - EMSGSIZE on a GSO message means one segment no longer fits the route's MTU (the underlay MTU
//   dropped under a running node): that train is re-sent as plain datagrams, which the kernel
//   fragments (the VXLAN socket sends with DF clear, like flannel.1), and every train of that
//   segment size or more is split from then on (gso_state[kGsoSplitFrom]) until TypeScript has
//   adjusted its segment size to the new MTU and clears the slot.
// - GRO receive splits each coalesced datagram into one descriptor per segment (segments are
//   contiguous in the slot, so no copy).
#include "batch.h"

#include <arpa/inet.h>
#include <netinet/udp.h>

#include <cerrno>
#include <cstring>

namespace weft {
namespace {

// The layout header at the end of a batch's memory (src/io/packet-batch.ts, `BatchHeader`).
constexpr size_t kHeaderBytes = 64;
constexpr uint32_t kMagic = 0x42544657;  // "WFTB"
enum HeaderWord : uint32_t {
  kHMagic,
  kHSlotsBytes,
  kHOffsets,
  kHLengths,
  kHAddrs,
  kHPorts,
  kHGsoSizes,
  kHDescriptors,
  kHSlotSize,
  kHHeadroom,
  kHTailOffsets,
  kHTailLengths,
  kHTrains,
  kHeaderWords
};

struct Scratch {
  struct mmsghdr msgs[kMmsgChunk];
  struct iovec iov[kIovChunk];
  struct sockaddr_in addr[kMmsgChunk];
  char ctrl[kMmsgChunk][CMSG_SPACE(sizeof(int))];
  uint32_t index_of[kMmsgChunk];  // msgs[k] is descriptor index_of[k]
  uint32_t segs_of[kMmsgChunk];   // datagrams message k carries on the wire
  uint32_t gso_of[kMmsgChunk];
};
thread_local Scratch g_scratch;

// Counts a message the kernel or the loop refused, and why.
void Refuse(double* c, int err) {
  c[kTxErrors]++;
  c[kLastErrno] = err;
}

bool GsoRefused(int err) { return err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT; }

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

// True when array [at, +n*elem) lies inside data[0, limit) and is aligned for its element type.
bool InRegion(uint32_t at, uint32_t n, size_t elem, size_t limit) {
  return at % elem == 0 && at <= limit && static_cast<size_t>(n) * elem <= limit - at;
}

// Reads the header of a batch's memory and checks every region against the memory's length, so a
// damaged header is refused instead of followed.
bool GetBatch(napi_env env, napi_value v, Batch* b) {
  uint8_t* mem;
  size_t len;
  if (!GetTyped(env, v, napi_uint8_array, &mem, &len) || len < kHeaderBytes ||
      reinterpret_cast<uintptr_t>(mem) % alignof(uint32_t) != 0) {
    return false;
  }
  uint32_t h[kHeaderWords];
  memcpy(h, mem + len - kHeaderBytes, sizeof h);
  const size_t limit = len - kHeaderBytes;
  const uint32_t d = h[kHDescriptors];
  if (h[kHMagic] != kMagic || h[kHSlotsBytes] > limit || !InRegion(h[kHOffsets], d, 4, limit) ||
      !InRegion(h[kHLengths], d, 4, limit) || !InRegion(h[kHAddrs], d, 4, limit) ||
      !InRegion(h[kHPorts], d, 2, limit) || !InRegion(h[kHGsoSizes], d, 2, limit) ||
      !InRegion(h[kHTailOffsets], d, 4, limit) || !InRegion(h[kHTailLengths], d, 4, limit) ||
      !InRegion(h[kHTrains], d, 2, limit)) {
    return false;
  }
  b->buf = mem;
  b->buf_len = h[kHSlotsBytes];
  b->offsets = reinterpret_cast<uint32_t*>(mem + h[kHOffsets]);
  b->lengths = reinterpret_cast<uint32_t*>(mem + h[kHLengths]);
  b->addrs = reinterpret_cast<uint32_t*>(mem + h[kHAddrs]);
  b->ports = reinterpret_cast<uint16_t*>(mem + h[kHPorts]);
  b->gso = reinterpret_cast<uint16_t*>(mem + h[kHGsoSizes]);
  b->tail_offsets = reinterpret_cast<uint32_t*>(mem + h[kHTailOffsets]);
  b->tail_lengths = reinterpret_cast<uint32_t*>(mem + h[kHTailLengths]);
  b->trains = reinterpret_cast<uint16_t*>(mem + h[kHTrains]);
  b->descriptors = d;
  b->slot = h[kHSlotSize];
  b->headroom = h[kHHeadroom];
  return true;
}

}  // namespace

bool ParseBatchCall(const Napi::CallbackInfo& info, const char* usage, BatchCall* call, uint32_t first) {
  Napi::Env env = info.Env();
  if (!GetI32(info[first], &call->fd) || !GetBatch(env, info[first + 1], &call->b) ||
      !GetU32(info[first + 2], &call->start) || !GetU32(info[first + 3], &call->end) ||
      !GetCounters(info[first + 4], &call->c)) {
    ThrowArg(env, usage);
    return false;
  }
  if (call->start > call->end || call->end > call->b.descriptors) {
    ThrowArg(env, "batch geometry: [start, end) exceeds the batch's descriptor arrays");
    return false;
  }
  call->extra = info[first + 5];
  return true;
}

bool RecvGeometryOk(const Batch& b, uint32_t end) {
  return b.slot > 0 && b.headroom < b.slot && static_cast<size_t>(end) * b.slot <= b.buf_len;
}

bool TxInBuffer(const Batch& b, size_t off, size_t len, double* c) {
  if (off <= b.buf_len && len <= b.buf_len - off) return true;
  Refuse(c, EINVAL);
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

uint32_t DescriptorIov(const Batch& b, uint32_t j, struct iovec* iov) {
  iov[0].iov_base = b.buf + b.offsets[j];
  iov[0].iov_len = b.lengths[j];
  if (b.tail_lengths[j] == 0) return 1;
  iov[1].iov_base = b.buf + b.tail_offsets[j];
  iov[1].iov_len = b.tail_lengths[j];
  return 2;
}

bool DescriptorInBuffer(const Batch& b, uint32_t j, double* c) {
  return TxInBuffer(b, b.offsets[j], b.lengths[j], c) &&
         (b.tail_lengths[j] == 0 || TxInBuffer(b, b.tail_offsets[j], b.tail_lengths[j], c));
}

size_t DescriptorBytes(const Batch& b, uint32_t j) {
  return static_cast<size_t>(b.lengths[j]) + b.tail_lengths[j];
}

uint32_t SendBatch(int fd, const Batch& b, uint32_t start, uint32_t end, bool with_ports, double* c, double* st) {
  Scratch& s = g_scratch;
  uint32_t i = start;
  while (i < end) {
    // Build up to kMmsgChunk messages using up to kIovChunk iovecs. A GSO train is one message; a
    // split one is one message per segment (all pointing into the buffer).
    uint32_t n = 0, nv = 0;
    while (i < end && n < kMmsgChunk) {
      const uint32_t g = st != nullptr ? b.gso[i] : 0;
      const uint32_t members = (g > 0 && b.trains[i] >= 2) ? b.trains[i] : 1;
      const uint32_t next = i + members;
      if (next > end) {  // a train cut by `end`: refuse it whole rather than send part of it
        Refuse(c, EINVAL);
        i = end;
        break;
      }
      bool ok = true;
      size_t total = 0;
      for (uint32_t j = i; j < next && ok; j++) {
        ok = DescriptorInBuffer(b, j, c);
        size_t bytes = DescriptorBytes(b, j);
        // Scatter-gather trains: every member but the last exactly g bytes, the last 1..g.
        if (ok && members > 1 && (j + 1 < next ? bytes != g : (bytes == 0 || bytes > g))) {
          Refuse(c, EINVAL);
          ok = false;
        }
        total += bytes;
      }
      if (!ok) {
        i = next;
        continue;
      }
      uint32_t segs = members > 1 ? members : ((g > 0 && total > g) ? static_cast<uint32_t>((total + g - 1) / g) : 1);
      // A contiguous train is split at g-byte offsets of its head; one with a tail cannot be.
      if (members == 1 && segs > 1 && b.tail_lengths[i] > 0) {
        Refuse(c, EINVAL);
        i = next;
        continue;
      }
      bool over_mtu = segs > 1 && st[kGsoSplitFrom] > 0 && g >= st[kGsoSplitFrom];
      bool use_gso = segs > 1 && st[kGsoDisabledErrno] == 0 && !over_mtu && segs <= kMaxGsoSegments &&
                     total <= kMaxGsoBytes;
      uint32_t msgs_needed = (segs > 1 && !use_gso) ? segs : 1;
      uint32_t iov_needed = 2 * members;  // upper bound
      if (msgs_needed > kMmsgChunk || iov_needed > kIovChunk) {  // cannot go out in one sendmmsg
        Refuse(c, EMSGSIZE);
        i = next;
        continue;
      }
      if (n + msgs_needed > kMmsgChunk || nv + iov_needed + msgs_needed > kIovChunk) break;  // next chunk
      if (segs > 1 && !use_gso) st[kGsoSplitMessages]++;
      if (over_mtu) st[kGsoMtuSplits]++;
      for (uint32_t k = 0; k < msgs_needed; k++) {
        struct mmsghdr& m = s.msgs[n];
        struct iovec* iov = s.iov + nv;
        uint32_t niov;
        uint32_t first = i;  // descriptor this message starts at (the resume point on EAGAIN)
        if (members > 1 && msgs_needed > 1) {  // split scatter-gather train: member k alone
          first = i + k;
          niov = DescriptorIov(b, first, iov);
        } else if (members > 1) {  // the whole scatter-gather train
          niov = 0;
          for (uint32_t j = i; j < next; j++) niov += DescriptorIov(b, j, iov + niov);
        } else if (msgs_needed > 1) {  // split contiguous train: g-byte pieces of the head
          size_t soff = static_cast<size_t>(k) * g;
          iov[0].iov_base = b.buf + b.offsets[i] + soff;
          iov[0].iov_len = k + 1 < msgs_needed ? g : total - soff;
          niov = 1;
        } else {
          niov = DescriptorIov(b, i, iov);
        }
        memset(&m.msg_hdr, 0, sizeof m.msg_hdr);
        m.msg_hdr.msg_iov = iov;
        m.msg_hdr.msg_iovlen = niov;
        m.msg_hdr.msg_name = &s.addr[n];
        m.msg_hdr.msg_namelen = sizeof s.addr[n];
        m.msg_len = 0;
        memset(&s.addr[n], 0, sizeof s.addr[n]);
        s.addr[n].sin_family = AF_INET;
        s.addr[n].sin_addr.s_addr = htonl(b.addrs[i]);
        if (with_ports) s.addr[n].sin_port = htons(b.ports[i]);
        if (use_gso) {
          m.msg_hdr.msg_control = s.ctrl[n];
          m.msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
          struct cmsghdr* cm = CMSG_FIRSTHDR(&m.msg_hdr);
          cm->cmsg_level = SOL_UDP;
          cm->cmsg_type = UDP_SEGMENT;
          cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
          uint16_t gs = static_cast<uint16_t>(g);
          memcpy(CMSG_DATA(cm), &gs, sizeof gs);
        }
        s.index_of[n] = first;
        s.segs_of[n] = use_gso ? segs : 1;
        s.gso_of[n] = g;
        nv += niov;
        n++;
      }
      i = next;
    }
    uint32_t k = 0;
    while (k < n) {
      int sent = sendmmsg(fd, s.msgs + k, n - k, MSG_DONTWAIT);
      c[kTxSyscalls]++;
      if (sent < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          c[kTxEagain]++;
          return s.index_of[k];
        }
        if (s.segs_of[k] > 1 && GsoRefused(err)) {
          // The kernel refuses GSO: remember why, and resend this and the rest of the chunk as
          // plain datagrams (rebuilt from descriptor index_of[k] on).
          st[kGsoDisabledErrno] = err;
          i = s.index_of[k];
          break;
        }
        if (s.segs_of[k] > 1 && err == EMSGSIZE) {
          // A segment is over the route's MTU: resend this train (and the rest of the chunk) with
          // trains of this segment size split, so the kernel fragments them instead.
          st[kGsoSplitFrom] = s.gso_of[k];
          i = s.index_of[k];
          break;
        }
        // sendmmsg reports an error only when the first message failed: skip that one.
        Refuse(c, err);
        k++;
        continue;
      }
      for (int j = 0; j < sent; j++) {
        uint32_t segs = s.segs_of[k + j];
        c[kTxPackets] += segs;
        c[kTxBytes] += s.msgs[k + j].msg_len;
        if (segs > 1) {
          st[kGsoMessages]++;
          st[kGsoSegments] += segs;
        }
      }
      k += static_cast<uint32_t>(sent);
    }
  }
  return end > start ? end : start;
}

uint32_t RecvBatch(int fd, const Batch& b, uint32_t start, uint32_t end, double* c, double* st) {
  Scratch& s = g_scratch;
  const size_t cap = b.slot - b.headroom;
  const uint32_t per_datagram = st != nullptr ? kMaxGsoSegments : 1;
  uint32_t slot_index = start, count = start;
  while (slot_index < end) {
    uint32_t want = end - slot_index;
    uint32_t fit = static_cast<uint32_t>((b.descriptors - count) / per_datagram);
    if (want > fit) want = fit;
    if (want > kMmsgChunk) want = kMmsgChunk;
    if (want == 0) break;
    for (uint32_t k = 0; k < want; k++) {
      PrepareMsg(&s.msgs[k], &s.iov[k], &s.addr[k], b.buf + static_cast<size_t>(slot_index + k) * b.slot + b.headroom,
                 cap);
      s.msgs[k].msg_hdr.msg_control = s.ctrl[k];
      s.msgs[k].msg_hdr.msg_controllen = sizeof s.ctrl[k];
    }
    int got = recvmmsg(fd, s.msgs, want, MSG_DONTWAIT, nullptr);
    c[kRxSyscalls]++;
    if (got < 0) {
      if (errno == EINTR) continue;
      CountRxFailure(c, errno);
      break;
    }
    for (int k = 0; k < got; k++) {
      struct msghdr& h = s.msgs[k].msg_hdr;
      if (h.msg_flags & MSG_TRUNC) {
        c[kRxTruncated]++;
        continue;
      }
      uint32_t g = 0;
      for (struct cmsghdr* cm = CMSG_FIRSTHDR(&h); cm != nullptr; cm = CMSG_NXTHDR(&h, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
          int v = 0;
          memcpy(&v, CMSG_DATA(cm), cm->cmsg_len >= CMSG_LEN(sizeof(int)) ? sizeof(int) : sizeof(uint16_t));
          g = static_cast<uint32_t>(v) & 0xffff;
        }
      }
      const uint32_t len = s.msgs[k].msg_len;
      const uint32_t base = static_cast<uint32_t>(static_cast<size_t>(slot_index + k) * b.slot + b.headroom);
      const uint32_t from = ntohl(s.addr[k].sin_addr.s_addr);
      const uint16_t port = ntohs(s.addr[k].sin_port);
      if (g == 0 || len <= g) g = 0;
      uint32_t segs = (g == 0 || st == nullptr) ? 1 : (len + g - 1) / g;
      if (segs > 1) {
        st[kGroMessages]++;
        st[kGroSegments] += segs;
      }
      for (uint32_t j = 0; j < segs; j++) {
        b.offsets[count] = base + j * g;
        b.lengths[count] = segs == 1 ? len : (j + 1 < segs ? g : len - j * g);
        b.addrs[count] = from;
        b.ports[count] = port;
        b.gso[count] = static_cast<uint16_t>(g);
        b.tail_lengths[count] = 0;
        b.trains[count] = 0;
        count++;
      }
      c[kRxPackets] += segs;
      c[kRxBytes] += len;
    }
    slot_index += static_cast<uint32_t>(got);
    // A short batch means the receive queue is empty; skip the extra call that would say EAGAIN.
    if (static_cast<uint32_t>(got) < want) break;
  }
  return count - start;
}

void InitBatch(Napi::Env env, Napi::Object exports) {
  Napi::Array io = Napi::Array::New(env, kCounterCount);
  for (uint32_t i = 0; i < kCounterCount; i++) io.Set(i, Napi::String::New(env, kCounterNames[i]));
  exports.Set("ioCounterNames", io);
  Napi::Array gso = Napi::Array::New(env, kGsoStateCount);
  for (uint32_t i = 0; i < kGsoStateCount; i++) gso.Set(i, Napi::String::New(env, kGsoStateNames[i]));
  exports.Set("gsoStateNames", gso);
  exports.Set("batchConstants", ConstTable(env, {
                                                    WEFT_CONST_AS("MMSG_CHUNK", kMmsgChunk),
                                                    WEFT_CONST_AS("MAX_GSO_SEGMENTS", kMaxGsoSegments),
                                                    WEFT_CONST_AS("MAX_GSO_BYTES", kMaxGsoBytes),
                                                }));
}

}  // namespace weft
