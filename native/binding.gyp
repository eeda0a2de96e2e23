{
  "targets": [
    {
      "target_name": "weft_native",
      "sources": ["src/addon.cc", "src/common.cc", "src/batch.cc", "src/tun.cc", "src/udp.cc", "src/raw.cc", "src/poll.cc", "src/netif.cc", "src/csum.cc", "src/bpf.cc", "src/uring.cc", "src/sched.cc", "src/netlink.cc"],
      "libraries": ["-lpcap", "-luring"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=c++17"]
    }
  ]
}
