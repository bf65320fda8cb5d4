// a4ps-synth-gguf: writes a *synthetic* GGUF model — a real architecture (llama, qwen2)
// with a real tokenizer vocabulary copied from llama.cpp's models/ggml-vocab-*.gguf, and
// random weights, deterministic by seed. Honest for mechanics and speed; says nothing
// about answer quality. Used by tests and benchmarks so that nothing is downloaded.
#include <ggml.h>
#include <gguf.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace fs = std::filesystem;

namespace {

struct Shape {
  uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
};

// "0.5b" and "1.5b" follow Qwen2-0.5B / Qwen2-1.5B; "tiny" is for tests.
bool shape_for(const std::string& size, Shape& s) {
  if (size == "tiny") s = {64, 2, 4, 2, 192, 2048};
  else if (size == "small") s = {256, 4, 8, 2, 768, 4096};
  else if (size == "0.5b") s = {896, 24, 14, 2, 4864, 32768};
  else if (size == "1.5b") s = {1536, 28, 12, 2, 8960, 32768};
  else return false;
  return true;
}

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// Uniform values with the given standard deviation; each tensor's stream depends only
// on (seed, tensor name), so files are reproducible whatever the tensor order.
void fill_random(std::vector<float>& v, uint64_t seed, const std::string& name, float stddev) {
  uint64_t st = seed ^ fnv1a(name);
  const float a = stddev * std::sqrt(3.0f);
  for (auto& x : v) x = (static_cast<float>(splitmix(st) >> 40) / static_cast<float>(1 << 24) * 2 - 1) * a;
}

const char* kChatML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const char* kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
const char* kLlama2 =
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + "
    "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + "
    "' ' + eos_token }}{% endif %}{% endfor %}";

// A synthetic LoRA adapter for an existing base GGUF: lora_a/lora_b pairs (random, B not
// zero, so that it visibly changes the model) for the chosen tensors of every layer.
int write_lora(const std::string& base, const std::string& targets, int rank, float alpha, uint64_t seed,
               const std::string& out) {
  gguf_context* b = gguf_init_from_file(base.c_str(), {true, nullptr});
  if (!b) {
    std::fprintf(stderr, "a4ps-synth-gguf: error: cannot read base model %s\n", base.c_str());
    return 1;
  }
  std::string arch = gguf_get_val_str(b, gguf_find_key(b, "general.architecture"));
  std::vector<std::string> want;
  for (size_t a = 0, e; a <= targets.size(); a = e + 1) {
    e = targets.find(',', a);
    if (e == std::string::npos) e = targets.size();
    if (e > a) want.push_back(targets.substr(a, e - a));
  }
  struct W { std::string name; int64_t n_in, n_out; };
  std::vector<W> ws;
  for (int64_t i = 0; i < gguf_get_n_tensors(b); ++i) {
    std::string n = gguf_get_tensor_name(b, i);
    for (auto& t : want)
      if (n.rfind("blk.", 0) == 0 && n.size() > t.size() + 7 && n.find("." + t + ".weight") != std::string::npos)
        ws.push_back({n.substr(0, n.size() - 7), gguf_get_tensor_ne(b, i)[0], gguf_get_tensor_ne(b, i)[1]});
  }
  gguf_free(b);
  if (ws.empty() || rank < 1) {
    std::fprintf(stderr, "a4ps-synth-gguf: error: no tensors match --targets %s (or rank < 1)\n", targets.c_str());
    return 1;
  }
  gguf_context* g = gguf_init_empty();
  gguf_set_val_str(g, "general.architecture", arch.c_str());
  gguf_set_val_str(g, "general.type", "adapter");
  gguf_set_val_str(g, "general.name", "synthetic LoRA (random weights)");
  gguf_set_val_str(g, "adapter.type", "lora");
  gguf_set_val_f32(g, "adapter.lora.alpha", alpha);
  gguf_set_val_bool(g, "a4ps.synthetic", true);
  size_t total = 0;
  for (auto& w : ws) total += (static_cast<size_t>(w.n_in + w.n_out) * rank) * sizeof(float) + 128;
  ggml_context* ctx = ggml_init({total + 2 * ws.size() * ggml_tensor_overhead() + (1 << 16), nullptr, false});
  std::vector<float> buf;
  for (auto& w : ws) {
    ggml_tensor* a = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, w.n_in, rank);   // [n_in, r]
    ggml_tensor* bt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, rank, w.n_out);  // [r, n_out]
    ggml_set_name(a, (w.name + ".weight.lora_a").c_str());
    ggml_set_name(bt, (w.name + ".weight.lora_b").c_str());
    buf.assign(static_cast<size_t>(w.n_in * rank), 0);
    fill_random(buf, seed, ggml_get_name(a), 0.1f);
    std::memcpy(a->data, buf.data(), buf.size() * sizeof(float));
    buf.assign(static_cast<size_t>(rank * w.n_out), 0);
    fill_random(buf, seed, ggml_get_name(bt), 0.1f);
    std::memcpy(bt->data, buf.data(), buf.size() * sizeof(float));
    gguf_add_tensor(g, a);
    gguf_add_tensor(g, bt);
  }
  bool ok = gguf_write_to_file(g, out.c_str(), false);
  ggml_free(ctx);
  gguf_free(g);
  if (!ok) {
    std::fprintf(stderr, "a4ps-synth-gguf: error: cannot write %s\n", out.c_str());
    return 1;
  }
  std::printf("wrote %s: synthetic LoRA for %s (%zu tensors, rank %d)\n", out.c_str(), base.c_str(), ws.size(), rank);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a synthetic GGUF model (real architecture and tokenizer, random weights)"};
  std::string arch = "llama", size = "tiny", type = "f16", vocab_path, vocab_dir, out;
  uint64_t seed = 1;
  app.add_option("--arch", arch, "llama or qwen2")->check(CLI::IsMember({"llama", "qwen2"}));
  app.add_option("--size", size, "tiny, small, 0.5b or 1.5b (shapes of Qwen2-0.5B/1.5B)")
      ->check(CLI::IsMember({"tiny", "small", "0.5b", "1.5b"}));
  app.add_option("--type", type, "weight type: f32, f16, q8_0 or q4_0")
      ->check(CLI::IsMember({"f32", "f16", "q8_0", "q4_0"}));
  app.add_option("--seed", seed, "random seed (same seed, same file)");
  // At 0.02 a tiny shape's logits span a fraction of a unit, so no adapter can make one
  // token clearly likelier than the rest; a wider unembedding lets a test train a skill.
  float output_std = 0.02f;
  app.add_option("--output-std", output_std, "standard deviation of the output (unembedding) weights")
      ->check(CLI::Range(0.001f, 10.0f));
  app.add_option("--vocab", vocab_path, "a models/ggml-vocab-*.gguf file from the llama.cpp source");
  app.add_option("--vocab-dir", vocab_dir, "llama.cpp's models/ directory (picks the vocab by --arch)")
      ->default_str(A4PS_VOCAB_DIR);
  app.add_option("-o,--out", out, "output .gguf path")->required();
  std::string lora_base, targets = "attn_q,attn_v";
  int rank = 8;
  float alpha = 16;
  app.add_option("--lora-for", lora_base, "write a synthetic LoRA adapter for this base GGUF instead of a model");
  app.add_option("--targets", targets, "LoRA: comma-separated tensor kinds (attn_q, attn_k, attn_v, attn_output, ffn_up, ...)");
  app.add_option("--rank", rank, "LoRA rank");
  app.add_option("--alpha", alpha, "LoRA alpha");
  CLI11_PARSE(app, argc, argv);
  if (!lora_base.empty()) return write_lora(lora_base, targets, rank, alpha, seed, out);

  Shape s{};
  shape_for(size, s);
  if (vocab_path.empty()) {
    std::string dir = vocab_dir.empty() ? A4PS_VOCAB_DIR : vocab_dir;
    vocab_path = dir + (arch == "qwen2" ? "/ggml-vocab-qwen2.gguf" : "/ggml-vocab-llama-spm.gguf");
  }
  gguf_context* vocab = gguf_init_from_file(vocab_path.c_str(), {true, nullptr});
  if (!vocab) {
    std::fprintf(stderr, "a4ps-synth-gguf: error: cannot read vocab %s; pass --vocab or --vocab-dir "
                         "(llama.cpp's models/ directory)\n", vocab_path.c_str());
    return 1;
  }
  ggml_type wtype = type == "f32" ? GGML_TYPE_F32 : type == "f16" ? GGML_TYPE_F16
                  : type == "q8_0" ? GGML_TYPE_Q8_0 : GGML_TYPE_Q4_0;
  const uint32_t ftype = type == "f32" ? 0 : type == "f16" ? 1 : type == "q8_0" ? 7 : 2;  // llama_ftype
  if (s.n_embd % ggml_blck_size(wtype) || s.n_ff % ggml_blck_size(wtype)) {
    std::fprintf(stderr, "a4ps-synth-gguf: error: size %s does not fit %s blocks; choose another --type\n",
                 size.c_str(), type.c_str());
    return 1;
  }

  gguf_context* g = gguf_init_empty();
  gguf_set_kv(g, vocab);  // the real tokenizer: tokens, merges/scores, special ids, pre-tokenizer
  for (int64_t i = gguf_get_n_kv(g) - 1; i >= 0; --i) {  // keep only tokenizer.*: the rest is ours
    std::string key = gguf_get_key(g, i);
    if (key.rfind("tokenizer.", 0) != 0) gguf_remove_key(g, key.c_str());
  }
  const int64_t n_vocab = static_cast<int64_t>(gguf_get_arr_n(g, gguf_find_key(g, "tokenizer.ggml.tokens")));
  gguf_free(vocab);
  const std::string a = arch + ".";
  const std::string name = "synthetic-" + arch + "-" + size + "-" + type + " (random weights)";
  gguf_set_val_str(g, "general.architecture", arch.c_str());
  gguf_set_val_str(g, "general.name", name.c_str());
  gguf_set_val_str(g, "general.description",
                   "Synthetic model made by a4ps-synth-gguf: real architecture and tokenizer, random weights. "
                   "For tests and benchmarks only; it produces no meaningful text.");
  gguf_set_val_u32(g, "general.file_type", ftype);
  gguf_set_val_bool(g, "a4ps.synthetic", true);
  gguf_set_val_u64(g, "a4ps.synthetic.seed", seed);
  gguf_set_val_u32(g, (a + "context_length").c_str(), s.n_ctx);
  gguf_set_val_u32(g, (a + "embedding_length").c_str(), s.n_embd);
  gguf_set_val_u32(g, (a + "block_count").c_str(), s.n_layer);
  gguf_set_val_u32(g, (a + "feed_forward_length").c_str(), s.n_ff);
  gguf_set_val_u32(g, (a + "attention.head_count").c_str(), s.n_head);
  gguf_set_val_u32(g, (a + "attention.head_count_kv").c_str(), s.n_head_kv);
  gguf_set_val_u32(g, (a + "rope.dimension_count").c_str(), s.n_embd / s.n_head);
  gguf_set_val_f32(g, (a + "attention.layer_norm_rms_epsilon").c_str(), 1e-6f);
  gguf_set_val_f32(g, (a + "rope.freq_base").c_str(), arch == "qwen2" ? 1000000.0f : 10000.0f);
  if (gguf_find_key(g, "tokenizer.chat_template") < 0) {
    std::string pre = gguf_find_key(g, "tokenizer.ggml.pre") >= 0
                          ? gguf_get_val_str(g, gguf_find_key(g, "tokenizer.ggml.pre")) : "";
    const char* tmpl = arch == "qwen2" ? kChatML : pre == "llama-bpe" ? kLlama3 : kLlama2;
    gguf_set_val_str(g, "tokenizer.chat_template", tmpl);
  }

  // Tensors: the names and shapes llama.cpp expects for these architectures.
  struct T { std::string name; int64_t ne0, ne1; bool weight; float init; };
  const int64_t head = s.n_embd / s.n_head, kv = head * s.n_head_kv;
  std::vector<T> ts = {{"token_embd.weight", s.n_embd, n_vocab, true, 0.02f},
                       {"output_norm.weight", s.n_embd, 1, false, 1.0f}};
  if (arch == "llama") ts.push_back({"output.weight", s.n_embd, n_vocab, true, output_std});  // qwen2: tied
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    ts.push_back({b + "attn_norm.weight", s.n_embd, 1, false, 1.0f});
    ts.push_back({b + "attn_q.weight", s.n_embd, s.n_embd, true, 0.02f});
    ts.push_back({b + "attn_k.weight", s.n_embd, kv, true, 0.02f});
    ts.push_back({b + "attn_v.weight", s.n_embd, kv, true, 0.02f});
    if (arch == "qwen2") {
      ts.push_back({b + "attn_q.bias", s.n_embd, 1, false, 0.0f});
      ts.push_back({b + "attn_k.bias", kv, 1, false, 0.0f});
      ts.push_back({b + "attn_v.bias", kv, 1, false, 0.0f});
    }
    ts.push_back({b + "attn_output.weight", s.n_embd, s.n_embd, true, 0.02f});
    ts.push_back({b + "ffn_norm.weight", s.n_embd, 1, false, 1.0f});
    ts.push_back({b + "ffn_gate.weight", s.n_embd, s.n_ff, true, 0.02f});
    ts.push_back({b + "ffn_up.weight", s.n_embd, s.n_ff, true, 0.02f});
    ts.push_back({b + "ffn_down.weight", s.n_ff, s.n_embd, true, 0.02f});
  }
  size_t total = 0;
  for (auto& t : ts)
    total += ggml_row_size(t.weight ? wtype : GGML_TYPE_F32, t.ne0) * static_cast<size_t>(t.ne1) + 64;
  ggml_init_params ip{total + ts.size() * ggml_tensor_overhead() + (1 << 20), nullptr, false};
  ggml_context* ctx = ggml_init(ip);
  if (!ctx) {
    std::fprintf(stderr, "a4ps-synth-gguf: error: cannot allocate %zu bytes\n", total);
    return 1;
  }
  std::vector<float> buf;
  for (auto& t : ts) {
    ggml_type tt = t.weight ? wtype : GGML_TYPE_F32;
    ggml_tensor* x = t.ne1 > 1 ? ggml_new_tensor_2d(ctx, tt, t.ne0, t.ne1) : ggml_new_tensor_1d(ctx, tt, t.ne0);
    ggml_set_name(x, t.name.c_str());
    buf.assign(static_cast<size_t>(t.ne0 * t.ne1), t.init);
    if (t.weight) fill_random(buf, seed, t.name, t.init);
    if (tt == GGML_TYPE_F32) std::memcpy(x->data, buf.data(), buf.size() * sizeof(float));
    else if (tt == GGML_TYPE_F16) ggml_fp32_to_fp16_row(buf.data(), static_cast<ggml_fp16_t*>(x->data), static_cast<int64_t>(buf.size()));
    else ggml_quantize_chunk(tt, buf.data(), x->data, 0, t.ne1, t.ne0, nullptr);
    gguf_add_tensor(g, x);
  }
  fs::path tmp = out + ".tmp";
  bool ok = gguf_write_to_file(g, tmp.c_str(), false);
  ggml_free(ctx);
  gguf_free(g);
  if (!ok) {
    std::fprintf(stderr, "a4ps-synth-gguf: error: cannot write %s\n", out.c_str());
    return 1;
  }
  fs::rename(tmp, out);
  std::printf("wrote %s: %s, %lld-token vocab from %s\n", out.c_str(), name.c_str(),
              static_cast<long long>(n_vocab), fs::path(vocab_path).filename().c_str());
  return 0;
}
