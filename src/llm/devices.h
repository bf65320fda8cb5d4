// The compute devices ggml sees in this build: what doctor lists and where the model
// manager and the trainer put work.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "llm/offload_plan.h"

namespace a4ps {
class Env;
}

namespace a4ps::llm {

struct ComputeDevice {
  std::string name, description;
  std::string type;  // cpu, gpu, igpu (integrated, shares host memory), accel
  uint64_t free_bytes = 0, total_bytes = 0;
};

// ggml's backends compiled into this build ("CPU", "CUDA", "Vulkan", ...).
std::vector<std::string> compute_backends();
// Every device of those backends, CPU included, in ggml's order.
std::vector<ComputeDevice> compute_devices();
// The device model loads offload to: ggml's first GPU (else integrated GPU); none on a
// CPU-only build or machine.
std::optional<DeviceMemory> offload_device();
// One line saying what would enable a GPU here, or which device loads go to.
std::string gpu_advice();
// The VRAM one load may use on d: $A4PS_VRAM_BUDGET ("0": none, stay on the CPU), else
// default_vram_budget(d). Throws Error when the variable is not a size.
uint64_t vram_budget(const DeviceMemory& d, Env* env);
// How a load of gguf at n_ctx is split on ggml's GPU within that budget (all on the CPU
// when there is no GPU).
OffloadPlan plan_load(const fs::path& gguf, uint32_t n_ctx, Env* env);

}  // namespace a4ps::llm
