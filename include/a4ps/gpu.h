// GPUs: the compute devices this build and machine offer, and how a model is split between
// GPU and CPU within the VRAM budget (what `a4ps doctor` shows). Everything works on a
// CPU-only build: it then reports the CPU alone and says how to build for a GPU.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "a4ps/error.h"

namespace a4ps {

struct ComputeDevice {
  std::string name;         // ggml's name: CPU, CUDA0, Vulkan0, ...
  std::string description;  // the driver's: e.g. "NVIDIA GeForce RTX 4060"
  std::string type;         // cpu, gpu, igpu (integrated: shares host memory), accel
  uint64_t free_bytes = 0, total_bytes = 0;
};

struct GpuReport {
  std::vector<std::string> backends;   // ggml backends built in ("CPU", "CUDA", "Vulkan", ...)
  std::vector<ComputeDevice> devices;  // every device of those backends, the CPU included
  std::string offload_device;          // where model loads offload layers; "" = CPU only
  uint64_t vram_budget = 0;            // what one load may use: $A4PS_VRAM_BUDGET, else free less a margin
  std::string advice;                  // one line: what would enable a GPU, or where loads go
};
// Asks ggml (this starts its GPU backends, so the first call takes a moment on GPU builds).
// Throws Error when $A4PS_VRAM_BUDGET is not a size.
GpuReport gpu_report();

struct OffloadOptions {
  uint32_t n_ctx = 4096;     // the context the load would create
  uint64_t vram_budget = 0;  // 0: gpu_report()'s budget (0 there too: CPU only)
};
struct OffloadEstimate {
  int gpu_layers = 0;  // layers on the GPU (llama.cpp's n_gpu_layers: +1 when the output layer is there too)
  int layers = 0;      // repeating blocks in the model
  bool output_on_gpu = false;
  uint64_t gpu_bytes = 0, cpu_bytes = 0;  // weights + KV cache (+ compute buffer on the GPU)
  std::string summary;                    // one line
};
// How a load of this GGUF would be split, as the model manager plans it (estimates from
// tensor sizes; nothing is loaded). Throws Error on a missing or non-GGUF file.
OffloadEstimate plan_model_offload(const std::string& gguf_path, const OffloadOptions& options = {});

}  // namespace a4ps
