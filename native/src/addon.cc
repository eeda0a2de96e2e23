// Placeholder until the native I/O issue lands: the addon loads and reports its ABI version.
#include <napi.h>

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 0));
  return exports;
}

NODE_API_MODULE(weft_native, Init)
