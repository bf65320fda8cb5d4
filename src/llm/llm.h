// Model runtime, first slice: read a GGUF's metadata, and run llama.cpp on it.
// (The Backend interface and ModelManager build on this; see DESIGN.md.)
#pragma once
#include <cstdint>
#include <chrono>
#include <functional>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace a4ps::llm {

namespace fs = std::filesystem;

struct ModelInfo {
  std::string path, architecture, name, quantization, tokenizer;
  uint64_t file_bytes = 0, parameters = 0;
  uint32_t context_length = 0, layers = 0, embedding = 0, heads = 0, heads_kv = 0, vocab = 0;
  bool chat_template = false;
  bool synthetic = false;  // made by a4ps-synth-gguf: random weights
  std::map<std::string, uint64_t> tensor_types;  // ggml type name -> tensor count
};

// Reads metadata and tensor shapes only; never loads weights. Throws Error on a file
// that is missing or not a valid GGUF.
ModelInfo read_model_info(const fs::path& gguf);

struct GenerateOptions {
  int n_predict = 16;
  uint32_t n_ctx = 512;
  int n_threads = 0;     // 0: all cores
  uint32_t seed = 42;
  float temperature = 0;  // 0: greedy
};

struct GenerateResult {
  std::string text;
  int prompt_tokens = 0, generated_tokens = 0;
  double load_ms = 0, prefill_ms = 0, decode_ms = 0;
};

// Loads the model, applies its chat template to one user message when it has one,
// and generates. Throws Error with one line on any failure.
GenerateResult generate(const fs::path& gguf, std::string_view prompt, const GenerateOptions& opts = {});

// Where pulled models live: $A4PS_MODELS, else ~/.cache/a4ps/models.
fs::path models_dir();

// Adapter bytes as a file llama.cpp loads, models_dir()/adapters/SHA256.gguf, written from
// `bytes()` the first time it is asked for. A cache of the images' blobs: a file unused for
// kAdapterFileIdle is removed when another is written (and written again when needed), so
// retrained adapters and the live loop's trials do not pile up.
fs::path adapter_file(const std::string& sha256, const std::function<std::string()>& bytes);
inline constexpr std::chrono::hours kAdapterFileIdle{24 * 30};
void prune_adapter_files(const fs::path& dir, std::chrono::hours idle, const fs::path& keep);

struct PullOptions {
  std::string sha256;        // expected; empty: not checked (the sum is still reported)
  fs::path dir;              // default: models_dir()
  std::string name;          // file name; default: the URL's last segment
  std::function<void(uint64_t done, uint64_t total)> progress;  // total 0 when unknown
};

struct PullResult {
  fs::path path;
  std::string sha256;
  uint64_t bytes = 0, resumed_from = 0;
};

// Downloads a GGUF from an http(s) URL or "hf-repo/owner/name/file.gguf" (a Hugging Face
// repository file), resuming a partial download, verifying sha256 when given. The file
// appears under its final name only when complete and verified.
PullResult pull_model(const std::string& source, const PullOptions& opts = {});

// The model `a4ps run` pulls when none is chosen, as `ollama run` does: a small instruct
// GGUF pinned by URL (a fixed revision) and sha256. $A4PS_DEFAULT_MODEL_URL replaces the
// URL (mirrors, tests); the checksum still has to match.
struct DefaultModel {
  std::string name, url, sha256;
  uint64_t bytes = 0;
};
DefaultModel default_model();
// The default model's file: from the cache when it is there, else pulled (resumable,
// verified) with progress. Throws Error with one line saying how to choose a model when
// the download fails.
fs::path ensure_default_model(const std::function<void(uint64_t done, uint64_t total)>& progress = {});

// Routes llama.cpp's own logging: silent unless A4PS_LOG=debug.
void init_llama_logging();

}  // namespace a4ps::llm
