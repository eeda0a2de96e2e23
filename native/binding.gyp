{
  "targets": [
    {
      "target_name": "weft_native",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-O2", "-Wall"],
      "cflags_cc": ["-O2", "-Wall", "-std=c++17"]
    }
  ]
}
