// Reading ggml's backend registry (after llama.cpp's init, which loads the backends).
#include "llm/devices.h"

#include <ggml-backend.h>

#include "llm/llm.h"
#include "llm/model_manager.h"
#include "util/env.h"
#include "util/util.h"

namespace a4ps::llm {
namespace {

std::string type_name(enum ggml_backend_dev_type t) {
  switch (t) {
    case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
    case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
    case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
    default: return "accel";
  }
}

}  // namespace

std::vector<std::string> compute_backends() {
  init_llama_logging();
  std::vector<std::string> out;
  for (size_t i = 0; i < ggml_backend_reg_count(); ++i) out.push_back(ggml_backend_reg_name(ggml_backend_reg_get(i)));
  return out;
}

std::vector<ComputeDevice> compute_devices() {
  init_llama_logging();
  std::vector<ComputeDevice> out;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t d = ggml_backend_dev_get(i);
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(d, &free, &total);
    out.push_back({ggml_backend_dev_name(d), ggml_backend_dev_description(d), type_name(ggml_backend_dev_type(d)), free, total});
  }
  return out;
}

std::optional<DeviceMemory> offload_device() {
  // llama.cpp uses integrated GPUs only when no discrete one exists; so do we.
  for (const char* want : {"gpu", "igpu"})
    for (auto& d : compute_devices())
      if (d.type == want) return DeviceMemory{d.name, d.free_bytes, d.total_bytes};
  return std::nullopt;
}

std::string gpu_advice() {
  std::vector<std::string> gpu_backends;
  for (auto& b : compute_backends())
    if (b != "CPU" && b != "BLAS" && b != "RPC") gpu_backends.push_back(b);
  if (gpu_backends.empty())
    return "built for CPU only; rebuild llama.cpp with A4PS_GPU=cuda scripts/setup.sh (NVIDIA) or "
           "A4PS_GPU=vulkan scripts/setup.sh (any Vulkan GPU), then configure a fresh build folder";
  auto d = offload_device();
  if (!d) {
    const std::string& b = gpu_backends.front();
    return "built for " + b + " but no " + b + " GPU is visible here (" +
           (b == "Vulkan" ? "no Vulkan driver for a GPU, or hidden by GGML_VK_VISIBLE_DEVICES, which also must name a CPU "
                            "device such as Mesa's lavapipe for it to count)"
            : b == "CUDA" ? "no NVIDIA driver, or hidden by CUDA_VISIBLE_DEVICES)"
                          : "is its driver installed?)");
  }
  return "models load onto " + d->name + ", as many layers as fit the VRAM budget (A4PS_VRAM_BUDGET, default " +
         human_bytes(default_vram_budget(*d)) + " here)";
}

uint64_t vram_budget(const DeviceMemory& d, Env* env) {
  const std::string v = (env ? env : Env::Default())->getenv("A4PS_VRAM_BUDGET").value_or("");
  if (v.empty()) return default_vram_budget(d);
  if (v == "0") return 0;
  try {
    return parse_bytes(v);
  } catch (const Error&) {
    throw Error("A4PS_VRAM_BUDGET is '" + v + "', not a size; write it like 6G or 512M (0: keep models on the CPU)");
  }
}

OffloadPlan plan_load(const fs::path& gguf, uint32_t n_ctx, Env* env) {
  auto d = offload_device();
  if (!d) return {};
  return plan_offload(read_model_shape(gguf),
                      {.n_ctx = n_ctx, .n_ubatch = std::min<uint32_t>(512, n_ctx), .budget_bytes = vram_budget(*d, env)});
}

}  // namespace a4ps::llm
