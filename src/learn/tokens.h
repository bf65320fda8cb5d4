// Internal to src/learn: one tokenization of chat examples, shared by training and
// evaluation so that both see exactly the same tokens and the same assistant mask.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "learn/learn.h"

struct llama_model;

namespace a4ps::learn::detail {

struct Tokenized {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> target;  // target[t] = 1: tokens[t] is an assistant token (learned)
  int n_targets() const;
};

struct ModelDel {
  void operator()(llama_model* m) const;
};
using ModelPtr = std::unique_ptr<llama_model, ModelDel>;

// Loads only the vocabulary (and chat template) of a GGUF base.
ModelPtr load_vocab(const fs::path& base);
ModelPtr load_model(const fs::path& base);
std::string fingerprint(const llama_model* m);

// The example rendered with the model's chat template and tokenized; assistant turns
// (including their end-of-turn token) are targets. Cut to n_ctx tokens.
Tokenized tokenize(const llama_model* m, const Example& ex, int n_ctx);

// All examples, with the checks every entry point shares: not empty, each made for this
// tokenizer, each with at least one assistant token.
std::vector<Tokenized> tokenize_all(const llama_model* m, const std::vector<Example>& data, int n_ctx,
                                    const fs::path& base);

}  // namespace a4ps::learn::detail
