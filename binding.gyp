{
  "targets": [
    {
      "target_name": "bpfproxy_native",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/object.cc",
        "native/map.cc",
        "native/attach.cc",
        "native/abi.cc",
        "native/iter.cc",
        "native/sockdiag.cc",
        "native/xdp.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
