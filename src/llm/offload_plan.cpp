// The VRAM planner: a model's parts, priced from its GGUF, fitted into a budget.
#include "llm/offload_plan.h"

#include <ggml.h>
#include <gguf.h>

#include <algorithm>

#include "util/util.h"

namespace a4ps::llm {
namespace {

uint32_t u32(gguf_context* g, const std::string& key, uint32_t def = 0) {
  int64_t id = gguf_find_key(g, key.c_str());
  if (id < 0) return def;
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
    case GGUF_TYPE_INT32: return static_cast<uint32_t>(gguf_get_val_i32(g, id));
    case GGUF_TYPE_UINT64: return static_cast<uint32_t>(gguf_get_val_u64(g, id));
    default: return def;
  }
}

}  // namespace

ModelShape read_model_shape(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error("no model file at " + path.string() + "; check the path");
  gguf_context* g = gguf_init_from_file(path.c_str(), {/*no_alloc=*/true, /*ctx=*/nullptr});
  if (!g) throw Error(path.string() + " is not a readable GGUF model; download or convert it again");
  struct Free {
    gguf_context* g;
    ~Free() { gguf_free(g); }
  } free_g{g};
  int64_t ai = gguf_find_key(g, "general.architecture");
  if (ai < 0 || gguf_get_kv_type(g, ai) != GGUF_TYPE_STRING)
    throw Error(path.string() + " has no general.architecture; it is not a model GGUF");
  const std::string a = std::string(gguf_get_val_str(g, ai)) + ".";
  ModelShape m;
  m.embedding = u32(g, a + "embedding_length");
  m.heads = u32(g, a + "attention.head_count");
  m.ff = u32(g, a + "feed_forward_length");
  m.context_length = u32(g, a + "context_length");
  const uint32_t heads_kv = u32(g, a + "attention.head_count_kv", m.heads);
  const uint32_t head_dim = m.heads ? m.embedding / m.heads : 0;
  m.kv_width = (u32(g, a + "attention.key_length", head_dim) + u32(g, a + "attention.value_length", head_dim)) * heads_kv;
  m.layer_bytes.assign(u32(g, a + "block_count"), 0);
  uint64_t embd = 0;
  bool has_output = false;
  for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
    const std::string name = gguf_get_tensor_name(g, i);
    const uint64_t n = gguf_get_tensor_size(g, i);
    if (name.rfind("blk.", 0) == 0) {
      size_t l = std::strtoul(name.c_str() + 4, nullptr, 10);
      if (l >= m.layer_bytes.size()) m.layer_bytes.resize(l + 1, 0);
      m.layer_bytes[l] += n;
    } else if (name == "token_embd.weight") {
      embd = n;
      m.vocab = static_cast<uint32_t>(gguf_get_tensor_ne(g, i)[1]);
    } else if (name.rfind("output", 0) == 0) {  // output.weight, output_norm.weight (+ biases)
      m.output_bytes += n;
      has_output |= name == "output.weight";
    } else {
      m.other_bytes += n;
    }
  }
  m.input_bytes = embd;
  if (!has_output) m.output_bytes += embd;  // tied: llama.cpp gives the output layer its own copy
  return m;
}

uint64_t default_vram_budget(const DeviceMemory& d) {
  const uint64_t margin = std::max<uint64_t>(256ull << 20, d.total_bytes / 20);
  return d.free_bytes > margin ? d.free_bytes - margin : 0;
}

OffloadPlan plan_offload(const ModelShape& m, const OffloadRequest& r) {
  OffloadPlan p;
  const int L = static_cast<int>(m.layer_bytes.size());
  p.layers = L;
  const uint64_t ctx = m.context_length ? std::min(r.n_ctx, m.context_length) : r.n_ctx;
  const uint64_t ub = std::min<uint64_t>(r.n_ubatch, ctx);
  p.kv_bytes_per_layer = ctx * m.kv_width * 2;  // f16 K and V
  const uint64_t biggest = L ? *std::max_element(m.layer_bytes.begin(), m.layer_bytes.end()) : 0;
  // One ubatch's intermediates: attention scores (f32, every head against the whole
  // context), the feed-forward's three activations, the residual stream and its norms.
  const uint64_t activations = ub * 4 * (ctx * m.heads + 3ull * m.ff + 4ull * m.embedding);
  const uint64_t logits = ub * 4 * m.vocab;
  auto cost = [&](int k, uint64_t& compute) {
    uint64_t c = 0;
    for (int i = L - std::min(k, L); i < L; ++i) c += m.layer_bytes[static_cast<size_t>(i)] + p.kv_bytes_per_layer;
    compute = 0;
    if (k > 0) {
      compute = activations + (k > L ? logits : 0);
      if (k <= L) compute += biggest;  // a CPU layer's weights, copied in for a large batch
      c += compute + r.extra_bytes;
    }
    if (k > L) c += m.output_bytes;
    return c;
  };
  uint64_t all = m.input_bytes + m.output_bytes + m.other_bytes;
  for (uint64_t b : m.layer_bytes) all += b + p.kv_bytes_per_layer;
  for (int k = 1; k <= L + 1; ++k) {
    uint64_t compute = 0;
    const uint64_t c = cost(k, compute);
    if (c > r.budget_bytes) continue;  // (full offload sheds the CPU layer's copy: it may fit when N = layers does not)
    p.gpu_layers = k;
    p.gpu_bytes = c;
    p.compute_bytes = compute;
  }
  p.output_on_gpu = p.gpu_layers > L;
  const uint64_t on_gpu = p.gpu_bytes - p.compute_bytes - (p.gpu_layers ? r.extra_bytes : 0);
  p.cpu_bytes = all - on_gpu;
  const int blocks = std::min(p.gpu_layers, L);
  if (r.budget_bytes == 0)
    p.summary = "CPU only (no GPU budget)";
  else if (p.gpu_layers == 0)
    p.summary = "CPU only: not one layer fits the " + human_bytes(r.budget_bytes) + " GPU budget";
  else
    p.summary = std::to_string(blocks) + " of " + std::to_string(L) + " layers" + (p.output_on_gpu ? " and the output" : "") +
                " on the GPU (" + human_bytes(p.gpu_bytes) + " of a " + human_bytes(r.budget_bytes) + " budget)";
  return p;
}

}  // namespace a4ps::llm
