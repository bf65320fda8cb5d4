// Models: what a GGUF file is, the local model directory, downloading one, and a quick
// generation on it (llama.cpp, embedded).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "a4ps/error.h"

namespace a4ps {

struct ModelDescription {
  std::string architecture, name, quantization;
  uint64_t parameters = 0;
  uint32_t context_length = 0;
  bool synthetic = false;  // made by a4ps-synth-gguf: random weights
};
ModelDescription describe_model(const std::string& gguf_path);

struct GenerateParams {
  int max_tokens = 32;
  float temperature = 0.0f;  // 0: greedy
  int n_threads = 0;         // 0: every core
  uint32_t n_ctx = 512;      // context size
  uint32_t seed = 42;        // sampling seed
};
// The model's continuation of `prompt` (through its chat template when it has one).
std::string generate(const std::string& gguf_path, const std::string& prompt, const GenerateParams& params = {});

// Everything `a4ps model info` shows: metadata and tensor shapes, never the weights.
struct ModelInfo {
  std::string path, name, architecture, quantization, tokenizer;
  uint64_t file_bytes = 0, parameters = 0;
  uint32_t context_length = 0, layers = 0, embedding = 0, heads = 0, heads_kv = 0, vocab = 0;
  bool chat_template = false;
  bool synthetic = false;
  std::map<std::string, uint64_t> tensor_types;  // ggml type name -> tensor count
};
// Throws Error on a file that is missing or not a valid GGUF.
ModelInfo model_info(const std::string& gguf_path);

// The local model directory: $A4PS_MODELS, else ~/.cache/a4ps/models.
std::string models_dir();

struct LocalModel {
  std::string path;
  ModelInfo info;     // when readable
  std::string error;  // why not ("" when readable)
};
// The *.gguf files of `dir` ("" = models_dir()); none when the directory does not exist.
std::vector<LocalModel> local_models(const std::string& dir = "");

struct PullOptions {
  std::string sha256;  // expected; "" = not checked (the sum is still reported)
  std::string dir;     // "" = models_dir()
  std::string name;    // file name; "" = the URL's last segment
  std::function<void(uint64_t done, uint64_t total)> on_progress;  // total 0 when unknown
};
struct Pulled {
  std::string path, sha256;
  uint64_t bytes = 0, resumed_from = 0;
  bool verified = false;  // the sha256 was given and matched
};
// Downloads a GGUF from an http(s) URL or hf-repo/OWNER/REPO/FILE.gguf, resuming a partial
// download; the file appears under its final name only when complete (and verified).
Pulled pull_model(const std::string& source, const PullOptions& options = {});

// generate() with the numbers a smoke test reports.
struct GenerateRun {
  std::string text;
  int prompt_tokens = 0, generated_tokens = 0;
  double load_ms = 0, prefill_ms = 0, decode_ms = 0;
  double tokens_per_s = 0;  // generated tokens per second of decoding
};
GenerateRun generate_run(const std::string& gguf_path, const std::string& prompt, const GenerateParams& params = {});

}  // namespace a4ps
