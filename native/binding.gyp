{
  "variables": {
    "core_sources": [
      "src/kernels/generic.cpp", "src/kernels/dispatch.cpp",
      "src/runtime/thread_pool.cpp", "src/runtime/gguf.cpp", "src/runtime/float_formats.cpp", "src/runtime/json_constraint.cpp", "src/runtime/ternary_format.cpp",
      "src/runtime/model.cpp", "src/runtime/forward.cpp", "src/runtime/sampler.cpp", "src/runtime/engine.cpp",
      "src/erasure/gf256.cpp", "src/erasure/reed_solomon.cpp", "src/erasure/rs_scalar.cpp", "src/erasure/rs_neon.cpp"
    ]
  },
  "target_defaults": {
    "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17", "-std=gnu++20"]
  },
  "targets": [
    {
      "target_name": "magnet_avx2",
      "type": "static_library",
      "sources": ["src/kernels/avx2.cpp"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "magnet_avx512",
      "type": "static_library",
      "sources": ["src/kernels/avx512.cpp"],
      "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c",
                    "-Wno-uninitialized", "-Wno-maybe-uninitialized"]
    },
    {
      "target_name": "magnet_rs_avx2",
      "type": "static_library",
      "sources": ["src/erasure/rs_avx2.cpp"],
      "cflags_cc": ["-mavx2"]
    },
    {
      "target_name": "magnet_rs_gfni",
      "type": "static_library",
      "sources": ["src/erasure/rs_gfni.cpp"],
      "cflags_cc": ["-mavx512f", "-mavx512bw", "-mgfni"]
    },
    {
      "target_name": "magnet_native",
      "sources": ["<@(core_sources)", "src/addon/addon.cpp", "src/addon/erasure_binding.cpp"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["target_arch=='x64'", {
          "dependencies": ["magnet_avx2", "magnet_avx512", "magnet_rs_avx2", "magnet_rs_gfni"]
        }, {
          "sources": ["src/kernels/avx2.cpp", "src/kernels/avx512.cpp"]
        }]
      ]
    }
  ]
}
