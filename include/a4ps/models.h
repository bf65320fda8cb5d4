// Models: what a GGUF file is, and a quick generation on it (llama.cpp, embedded).
#pragma once
#include <cstdint>
#include <string>

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
  float temperature = 0.0f;
  int n_threads = 0;  // 0: every core
};
// The model's continuation of `prompt` (through its chat template when it has one).
std::string generate(const std::string& gguf_path, const std::string& prompt, const GenerateParams& params = {});

}  // namespace a4ps
