// The public GPU API: ggml's devices and the VRAM planner, over src/llm.
#include "a4ps/gpu.h"

#include "llm/devices.h"
#include "llm/model_manager.h"
#include "llm/offload_plan.h"
#include "util/env.h"

namespace a4ps {

GpuReport gpu_report() {
  GpuReport r;
  r.backends = llm::compute_backends();
  for (auto& d : llm::compute_devices()) r.devices.push_back({d.name, d.description, d.type, d.free_bytes, d.total_bytes});
  if (auto d = llm::offload_device()) {
    r.vram_budget = llm::vram_budget(*d, Env::Default());
    if (r.vram_budget) r.offload_device = d->name;
  }
  r.advice = llm::gpu_advice();
  return r;
}

OffloadEstimate plan_model_offload(const std::string& gguf_path, const OffloadOptions& o) {
  llm::ModelShape shape = llm::read_model_shape(gguf_path);
  const uint64_t budget = o.vram_budget ? o.vram_budget : gpu_report().vram_budget;
  auto p = llm::plan_offload(shape, {.n_ctx = o.n_ctx, .n_ubatch = std::min<uint32_t>(512, o.n_ctx), .budget_bytes = budget});
  return {p.gpu_layers, p.layers, p.output_on_gpu, p.gpu_bytes, p.cpu_bytes, p.summary};
}

}  // namespace a4ps
