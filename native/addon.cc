// bpfproxy_native: a thin node-addon-api layer over libbpf. Errors carry {op, errno, code};
// src/backends/ebpf/libbpf.ts wraps them into BpfError and gives typed methods.
#include "common.h"

namespace bpfproxy {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  InitObject(env, exports);
  InitMap(env, exports);
  InitAttach(env, exports);
  InitAbi(env, exports);
  InitIter(env, exports);
  InitSockDiag(env, exports);
  InitXdp(env, exports);
  return exports;
}

}  // namespace bpfproxy

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return bpfproxy::Init(env, exports); }

NODE_API_MODULE(bpfproxy_native, InitAddon)
