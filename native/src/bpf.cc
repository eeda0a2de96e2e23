// Offline packet filters for `weft capture -r`: libpcap compiles a pcap-filter(7) expression for a
// link type (pcap_open_dead + pcap_compile, no device needed) and runs it over a captured packet
// (bpf_filter). The expression language and the program are libpcap's; nothing here reads packets.
#include <pcap/pcap.h>

#include <cstring>
#include <string>

#include "common.h"

namespace weft {
namespace {

// pcapCompile(linkType, snaplen, expression) -> Uint8Array of struct bpf_insn (8 bytes each);
// throws an Error with pcap's message when the expression does not compile.
Napi::Value PcapCompile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t link = 0;
  int32_t snaplen = 0;
  if (!GetI32(info[0], &link) || !GetI32(info[1], &snaplen) || !info[2].IsString())
    return ThrowArg(env, "pcapCompile(linkType, snaplen, expression)");
  std::string expr = info[2].As<Napi::String>().Utf8Value();
  pcap_t* p = pcap_open_dead(link, snaplen);
  if (p == nullptr) {
    Napi::Error::New(env, "pcap_open_dead failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct bpf_program prog;
  if (pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    std::string msg = pcap_geterr(p);
    pcap_close(p);
    Napi::Error::New(env, msg).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t bytes = prog.bf_len * sizeof(struct bpf_insn);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, bytes);
  std::memcpy(out.Data(), prog.bf_insns, bytes);
  pcap_freecode(&prog);
  pcap_close(p);
  return out;
}

// pcapMatch(program, packet, wireLength) -> boolean: whether the compiled program accepts the packet.
Napi::Value PcapMatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* prog = nullptr;
  size_t prog_len = 0;
  uint8_t* pkt = nullptr;
  size_t pkt_len = 0;
  uint32_t wire = 0;
  if (!GetTyped(info[0], napi_uint8_array, &prog, &prog_len) || prog_len == 0 ||
      prog_len % sizeof(struct bpf_insn) != 0 || !GetTyped(info[1], napi_uint8_array, &pkt, &pkt_len) ||
      !GetU32(info[2], &wire))
    return ThrowArg(env, "pcapMatch(program: Uint8Array, packet: Uint8Array, wireLength)");
  if (wire < pkt_len) wire = static_cast<uint32_t>(pkt_len);
  // bpf_filter validates nothing: the program must come from pcapCompile (pcap_compile checked it).
  u_int r = bpf_filter(reinterpret_cast<const struct bpf_insn*>(prog), pkt, wire, static_cast<u_int>(pkt_len));
  return Napi::Boolean::New(env, r != 0);
}

}  // namespace

void InitBpf(Napi::Env env, Napi::Object exports) {
  ExportFns(env, exports, {WEFT_FN("pcapCompile", PcapCompile), WEFT_FN("pcapMatch", PcapMatch)});
}

}  // namespace weft
