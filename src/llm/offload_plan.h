// Planning a model's load onto a GPU within a VRAM budget: how many of its layers the
// device holds, the rest staying on the CPU. Pure functions of a model's shape and a
// described device, so they are tested on every machine, GPU or not.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace a4ps::llm {

namespace fs = std::filesystem;

// What each part of a model costs, from the GGUF's tensor sizes and hyper-parameters.
struct ModelShape {
  std::vector<uint64_t> layer_bytes;  // weights of each repeating block (blk.N.*), in order
  uint64_t input_bytes = 0;           // token embedding: llama.cpp keeps it on the CPU
  uint64_t output_bytes = 0;          // output norm + projection (a copy of the embedding when tied)
  uint64_t other_bytes = 0;           // anything else (rope factors, ...): small, counted on the CPU
  uint32_t embedding = 0, heads = 0, ff = 0, vocab = 0, context_length = 0;
  uint32_t kv_width = 0;  // K and V values one token stores per layer: (key_length + value_length) * heads_kv
};

// Reads tensor sizes and shapes only, never the weights. Throws Error on a file that is
// missing or not a model GGUF.
ModelShape read_model_shape(const fs::path& gguf);

// A device as the planner sees it (doctor and the manager read these from ggml).
struct DeviceMemory {
  std::string name;  // e.g. CUDA0, Vulkan0
  uint64_t free_bytes = 0, total_bytes = 0;
};

// The VRAM a load may use when A4PS_VRAM_BUDGET is not set: the device's free memory less
// a margin for what the driver allocates on its own (context, cuBLAS workspace, fragments).
uint64_t default_vram_budget(const DeviceMemory& d);

struct OffloadRequest {
  uint32_t n_ctx = 4096;      // the context the load creates (the KV cache follows it)
  uint32_t n_ubatch = 512;    // tokens per compute step (sizes the compute buffer)
  uint64_t budget_bytes = 0;  // VRAM this load may use; 0: none (CPU only)
  uint64_t extra_bytes = 0;   // LoRA adapters and the like, placed beside the layers
};

struct OffloadPlan {
  int gpu_layers = 0;  // for llama_model_params.n_gpu_layers: the last N blocks, +1 with the output layer
  int layers = 0;      // blocks in the model
  bool output_on_gpu = false;
  uint64_t gpu_bytes = 0;  // weights + KV cache + compute buffer on the device (<= the budget)
  uint64_t cpu_bytes = 0;  // weights + KV cache left in host memory
  uint64_t kv_bytes_per_layer = 0, compute_bytes = 0;
  std::string summary;  // one line, e.g. "20 of 28 layers on the GPU (3.4 GiB of a 3.5 GiB budget)"
};

// The most layers that fit the budget. llama.cpp offloads from the top: N layers are the
// last N blocks, and the output layer goes last (N = layers + 1). Estimates: weights as stored,
// KV cache in f16 at min(n_ctx, the model's context), compute buffer for one ubatch
// without flash attention (attention scores, feed-forward, logits when the output is on
// the GPU, and room for one CPU layer's weights, which ggml copies in for large batches
// when the model is split).
OffloadPlan plan_offload(const ModelShape& m, const OffloadRequest& r);

}  // namespace a4ps::llm
