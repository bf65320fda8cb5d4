#include <ggml.h>
#include <gguf.h>

#include <fstream>
#include <map>
#include <mutex>

#include "llm/llm.h"
#include "util/util.h"

namespace a4ps::llm {
namespace {

struct GgufCtx {
  gguf_context* ctx;
  ~GgufCtx() { if (ctx) gguf_free(ctx); }
};

uint32_t get_u32(gguf_context* g, const std::string& key) {
  int64_t id = gguf_find_key(g, key.c_str());
  if (id < 0) return 0;
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
    case GGUF_TYPE_INT32: return static_cast<uint32_t>(gguf_get_val_i32(g, id));
    case GGUF_TYPE_UINT64: return static_cast<uint32_t>(gguf_get_val_u64(g, id));
    case GGUF_TYPE_UINT16: return gguf_get_val_u16(g, id);
    default: return 0;
  }
}

std::string get_str(gguf_context* g, const std::string& key) {
  int64_t id = gguf_find_key(g, key.c_str());
  return id >= 0 && gguf_get_kv_type(g, id) == GGUF_TYPE_STRING ? gguf_get_val_str(g, id) : "";
}

ModelInfo read_model_info_uncached(const fs::path& path);

}  // namespace

ModelInfo read_model_info(const fs::path& path) {
  std::error_code ec;
  const std::string p = path.string();
  if (!fs::is_regular_file(path, ec)) throw Error("no model file at " + p + "; check the path");
  // Parsing a header reads the whole vocabulary (150k strings for Qwen): ~10 ms that every
  // persona call paid again. A file is known by its size and mtime; a changed file is re-read.
  struct Known {
    uintmax_t size;
    fs::file_time_type mtime;
    ModelInfo info;
  };
  static std::mutex mu;
  static std::map<std::string, Known> known;
  const uintmax_t size = fs::file_size(path, ec);
  const auto mtime = fs::last_write_time(path, ec);
  {
    std::lock_guard g(mu);
    if (auto it = known.find(p); it != known.end() && it->second.size == size && it->second.mtime == mtime)
      return it->second.info;
  }
  ModelInfo m = read_model_info_uncached(path);
  std::lock_guard g(mu);
  if (known.size() > 64) known.clear();  // a bound, not a policy: few models are ever in use
  known[p] = {size, mtime, m};
  return m;
}

namespace {
ModelInfo read_model_info_uncached(const fs::path& path) {
  std::error_code ec;
  const std::string p = path.string();
  {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    if (in.gcount() != 4 || std::string(magic, 4) != "GGUF")
      throw Error(p + " is not a GGUF model (bad magic); pass a .gguf file");
  }
  GgufCtx g{gguf_init_from_file(p.c_str(), {/*no_alloc=*/true, /*ctx=*/nullptr})};
  if (!g.ctx) throw Error(p + " is a damaged or truncated GGUF file; download or convert it again");
  ModelInfo m;
  m.path = p;
  m.file_bytes = fs::file_size(path, ec);
  m.architecture = get_str(g.ctx, "general.architecture");
  if (m.architecture.empty()) throw Error(p + " has no general.architecture; it is not a model GGUF");
  m.name = get_str(g.ctx, "general.name");
  const std::string a = m.architecture + ".";
  m.context_length = get_u32(g.ctx, a + "context_length");
  m.layers = get_u32(g.ctx, a + "block_count");
  m.embedding = get_u32(g.ctx, a + "embedding_length");
  m.heads = get_u32(g.ctx, a + "attention.head_count");
  m.heads_kv = get_u32(g.ctx, a + "attention.head_count_kv");
  m.tokenizer = get_str(g.ctx, "tokenizer.ggml.model");
  int64_t tok = gguf_find_key(g.ctx, "tokenizer.ggml.tokens");
  if (tok >= 0) m.vocab = static_cast<uint32_t>(gguf_get_arr_n(g.ctx, tok));
  m.chat_template = gguf_find_key(g.ctx, "tokenizer.chat_template") >= 0;
  int64_t syn = gguf_find_key(g.ctx, "a4ps.synthetic");
  m.synthetic = syn >= 0 && gguf_get_kv_type(g.ctx, syn) == GGUF_TYPE_BOOL && gguf_get_val_bool(g.ctx, syn);

  // Quantization = the type holding most of the weights (norms stay F32 in every file).
  std::map<std::string, uint64_t> bytes_by_type;
  for (int64_t i = 0; i < gguf_get_n_tensors(g.ctx); ++i) {
    const int64_t* ne = gguf_get_tensor_ne(g.ctx, i);
    uint64_t n = 1;
    for (int d = 0; d < GGML_MAX_DIMS; ++d) n *= static_cast<uint64_t>(ne[d]);
    m.parameters += n;
    std::string t = ggml_type_name(gguf_get_tensor_type(g.ctx, i));
    m.tensor_types[t]++;
    bytes_by_type[t] += gguf_get_tensor_size(g.ctx, i);
  }
  uint64_t best = 0;
  for (auto& [t, b] : bytes_by_type)
    if (b > best) best = b, m.quantization = t;
  for (auto& c : m.quantization) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return m;
}

}  // namespace

}  // namespace a4ps::llm
