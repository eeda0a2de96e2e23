// The one batch shape of the native boundary: a JS PacketBatch's `memory` (src/io/packet-batch.ts:
// slots, descriptor arrays and a header locating them, in one Uint8Array), the one argument layout of every batch call, and the one sendmmsg and one recvmmsg
// loop that the UDP and raw sockets share.
//
// Every batch call is `name(fd, batch, start, end, counters[, extra])`:
//   send: descriptors [start, end) are sent; returns the first descriptor not attempted (EAGAIN)
//         or `end`.
//   receive: slots [start, end) are filled, descriptors written from `start`; returns how many.
// `extra` is the call's one optional argument (GSO state, TUN write status).
#pragma once

#include <sys/uio.h>

#include "common.h"

namespace weft {

// Messages per sendmmsg/recvmmsg call; larger batches are split.
constexpr uint32_t kMmsgChunk = 256;
// iovecs per call: UIO_MAXIOV (IOV_MAX), the kernel's limit for one writev (a gathered TUN
// packet) and the budget of one sendmmsg over all its messages (a scatter-gather train takes two
// per segment: header, payload slice).
constexpr uint32_t kIovChunk = 1024;
constexpr uint32_t kMaxGsoSegments = 64;       // UDP_MAX_SEGMENTS
constexpr uint32_t kMaxGsoBytes = 65535 - 28;  // IPv4 + UDP headers

// Borrowed views of one PacketBatch, valid for the duration of one call. buf/buf_len are the slots.
struct Batch {
  uint8_t* buf;
  size_t buf_len;
  uint32_t* offsets;
  uint32_t* lengths;
  uint32_t* addrs;
  uint16_t* ports;
  uint16_t* gso;
  uint32_t* tail_offsets;  // descriptor k continues with buf[tail_offsets[k], +tail_lengths[k])
  uint32_t* tail_lengths;  // 0: no tail
  uint16_t* trains;        // >= 2: descriptors [k, k + trains[k]) are one message (one segment each)
  size_t descriptors;      // length of every descriptor array
  uint32_t slot;       // slotSize
  uint32_t headroom;
};

// One parsed batch call.
struct BatchCall {
  int32_t fd;
  Batch b;
  uint32_t start;
  uint32_t end;
  double* c;
  Napi::Value extra;  // info[5], possibly undefined
};

// Parses (fd, batch, start, end, counters[, extra]) from info[first] on (first > 0: a call whose
// leading arguments are its own, e.g. an io_uring handle); false after setting a TypeError naming
// `usage`. Checks start <= end <= descriptors; receive calls also check the slot geometry
// (RecvGeometryOk).
bool ParseBatchCall(const Napi::CallbackInfo& info, const char* usage, BatchCall* call, uint32_t first = 0);

// True when slots [0, end) lie inside the buffer and the headroom leaves room for a packet.
bool RecvGeometryOk(const Batch& b, uint32_t end);

// False (counting txErrors, lastErrno EINVAL) when descriptor [off, +len) lies outside the buffer:
// a bad descriptor is a per-packet failure, never an out-of-bounds access.
bool TxInBuffer(const Batch& b, size_t off, size_t len, double* c);

// Writes descriptor j's iovecs (head, then its tail if any) to iov; returns how many (1 or 2).
uint32_t DescriptorIov(const Batch& b, uint32_t j, struct iovec* iov);

// False (counted as TxInBuffer does) when descriptor j's head or tail lies outside the buffer.
bool DescriptorInBuffer(const Batch& b, uint32_t j, double* c);

// Head plus tail bytes of descriptor j.
size_t DescriptorBytes(const Batch& b, uint32_t j);

// Counts a failed receive call: EAGAIN is the normal end of a drain, any other errno an error.
void CountRxFailure(double* c, int err);

// sendmmsg of descriptors [start, end) to addrs[i]:ports[i] (with_ports false: port 0, for raw
// sockets whose header carries it), kMmsgChunk messages per call. Descriptor i is the bytes
// [offsets[i], +lengths[i]) followed by its tail [tail_offsets[i], +tail_lengths[i]), gathered
// with iovecs. Without gso_state every descriptor is one datagram. With gso_state, g = gso[i] > 0
// makes a UDP_SEGMENT train of g-byte datagrams (the last may be shorter) out of either
//   - descriptor i alone, when it is longer than g (contiguous train), or
//   - descriptors [i, i + trains[i]) when trains[i] >= 2 (scatter-gather train: each descriptor is
//     one segment, exactly g bytes except the last, which is 1..g; anything else is refused as
//     EINVAL, because the kernel cuts a GSO payload at every g bytes whatever the iovecs are).
// A train is split into plain datagrams when the kernel refuses GSO or a segment exceeds the MTU
// (see batch.cc). A descriptor outside the buffer or a message the kernel refuses is counted in
// txErrors and skipped; a partial sendmmsg is retried from the first unsent message. Returns
// `end`, or on EAGAIN the first descriptor not yet sent.
uint32_t SendBatch(int fd, const Batch& b, uint32_t start, uint32_t end, bool with_ports, double* c,
                   double* gso_state);

// recvmmsg into slots [start, end) (datagram k at k*slot + headroom), reading UDP_GRO cmsgs.
// With gso_state, a GRO train of segment size g becomes one descriptor per segment (gso[d] = g;
// only as many datagrams are asked for as the descriptor arrays surely hold, 64 segments each);
// without, each datagram is one descriptor. Truncated datagrams are counted and dropped.
// Returns the number of descriptors written from `start`; their tails and trains are cleared.
uint32_t RecvBatch(int fd, const Batch& b, uint32_t start, uint32_t end, double* c, double* gso_state);

}  // namespace weft
