// LoRA training on a GGUF base, in-process, with ggml's training machinery.
//
// Why our own forward graph instead of llama_opt_epoch: llama.cpp's training entry point
// computes the loss on every position (labels must be token ids, no mask) and only lets
// base-model tensors be parameters. We need the loss on assistant tokens only and LoRA
// A/B as the only parameters, so we build the llama/qwen2 forward pass here in ggml (the
// same ops llama.cpp uses: RMSNorm, RoPE, causal softmax attention with GQA, SwiGLU),
// differentiate it with ggml_build_backward_expand and step with ggml_opt_step_adamw.
// Base weights stay in their GGUF type (f32/f16/q8_0/...): ggml back-propagates through
// quantized matrices to their inputs. Evaluation goes through unmodified llama.cpp.
#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml.h>
#include <gguf.h>
#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

#include "learn/learn.h"
#include "llm/devices.h"
#include "llm/model_manager.h"
#include "util/env.h"
#include "learn/tokens.h"
#include "util/util.h"

namespace a4ps::learn {
namespace {

using Clock = std::chrono::steady_clock;

struct Hparams {
  std::string arch;
  int64_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0, n_rot = 0, n_ctx_train = 0;
  float eps = 1e-5f, freq_base = 10000.0f;
  int rope_mode = 0;
};

struct Layer {
  ggml_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *ffn_norm, *gate, *up, *down;
};

struct Lora {
  std::string name;  // base tensor name, e.g. blk.0.attn_q.weight
  ggml_tensor *a, *b, *ma, *va, *mb, *vb;
};

struct Base {
  gguf_context* gg = nullptr;
  ggml_context* ctx = nullptr;
  Hparams hp;
  ggml_tensor *tok_embd = nullptr, *output_norm = nullptr, *output = nullptr;
  std::vector<Layer> layers;
  ~Base() {
    if (gg) gguf_free(gg);
    if (ctx) ggml_free(ctx);
  }
};

int64_t kv_int(gguf_context* g, const std::string& key, int64_t def) {
  int64_t i = gguf_find_key(g, key.c_str());
  if (i < 0) return def;
  switch (gguf_get_kv_type(g, i)) {
    case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, i);
    case GGUF_TYPE_INT32: return gguf_get_val_i32(g, i);
    case GGUF_TYPE_UINT64: return static_cast<int64_t>(gguf_get_val_u64(g, i));
    default: return def;
  }
}

float kv_f32(gguf_context* g, const std::string& key, float def) {
  int64_t i = gguf_find_key(g, key.c_str());
  return i >= 0 && gguf_get_kv_type(g, i) == GGUF_TYPE_FLOAT32 ? gguf_get_val_f32(g, i) : def;
}

void load_base(const fs::path& path, Base& m) {
  ggml_context* ctx = nullptr;
  m.gg = gguf_init_from_file(path.c_str(), {false, &ctx});
  if (!m.gg) throw Error("cannot read " + path.string() + " as a GGUF model");
  m.ctx = ctx;
  auto& hp = m.hp;
  int64_t ai = gguf_find_key(m.gg, "general.architecture");
  hp.arch = ai >= 0 ? gguf_get_val_str(m.gg, ai) : "";
  if (hp.arch != "llama" && hp.arch != "qwen2")
    throw Error("training supports llama and qwen2 base models; " + path.filename().string() + " is '" + hp.arch + "'");
  const std::string a = hp.arch + ".";
  hp.n_embd = kv_int(m.gg, a + "embedding_length", 0);
  hp.n_layer = kv_int(m.gg, a + "block_count", 0);
  hp.n_head = kv_int(m.gg, a + "attention.head_count", 0);
  hp.n_head_kv = kv_int(m.gg, a + "attention.head_count_kv", hp.n_head);
  hp.n_ff = kv_int(m.gg, a + "feed_forward_length", 0);
  hp.n_ctx_train = kv_int(m.gg, a + "context_length", 4096);
  hp.eps = kv_f32(m.gg, a + "attention.layer_norm_rms_epsilon", 1e-5f);
  hp.freq_base = kv_f32(m.gg, a + "rope.freq_base", 10000.0f);
  if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0)
    throw Error(path.filename().string() + " lacks its " + hp.arch + ".* hyper-parameters; is it a complete model?");
  hp.n_rot = kv_int(m.gg, a + "rope.dimension_count", hp.n_embd / hp.n_head);
  hp.rope_mode = hp.arch == "qwen2" ? GGML_ROPE_TYPE_NEOX : 0;  // as llama_model_rope_type()
  if (gguf_find_key(m.gg, (a + "rope.scaling.type").c_str()) >= 0 &&
      std::string(gguf_get_val_str(m.gg, gguf_find_key(m.gg, (a + "rope.scaling.type").c_str()))) != "none")
    throw Error(path.filename().string() + " uses RoPE scaling, which training does not support yet");
  auto t = [&](const std::string& n, bool required = true) {
    ggml_tensor* x = ggml_get_tensor(ctx, n.c_str());
    if (!x && required) throw Error(path.filename().string() + " has no tensor " + n + "; is it a complete model?");
    return x;
  };
  m.tok_embd = t("token_embd.weight");
  m.output_norm = t("output_norm.weight");
  m.output = t("output.weight", false);
  if (!m.output) m.output = m.tok_embd;  // tied embeddings
  hp.n_vocab = m.tok_embd->ne[1];
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    m.layers.push_back({t(b + "attn_norm.weight"), t(b + "attn_q.weight"), t(b + "attn_k.weight"), t(b + "attn_v.weight"),
                        t(b + "attn_output.weight"), t(b + "attn_q.bias", false), t(b + "attn_k.bias", false),
                        t(b + "attn_v.bias", false), t(b + "ffn_norm.weight"), t(b + "ffn_gate.weight"),
                        t(b + "ffn_up.weight"), t(b + "ffn_down.weight")});
  }
}

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One step's graph and the tensors set before computing it.
struct StepGraph {
  ggml_cgraph* gf = nullptr;
  ggml_tensor *tokens, *pos, *rows, *labels, *opt_pars = nullptr, *loss, *seed;
  ggml_tensor* mask = nullptr;  // on a GPU: the causal mask, as an input
  int64_t T = 0, B = 0;         // the batch: B examples, each padded to T tokens
  std::vector<int32_t> sel, lab;
};

// Rows of a micro-batch [T x B] whose next token is learned, and those tokens.
void select_rows(const std::vector<const detail::Tokenized*>& mb, int64_t T, std::vector<int32_t>& sel, std::vector<int32_t>& lab) {
  for (size_t b = 0; b < mb.size(); ++b) {
    const auto& ex = *mb[b];
    for (size_t i = 0; i + 1 < ex.tokens.size(); ++i)
      if (ex.target[i + 1]) sel.push_back(static_cast<int32_t>(static_cast<int64_t>(b) * T + static_cast<int64_t>(i))), lab.push_back(ex.tokens[i + 1]);
  }
}

size_t tensor_bytes(ggml_context* ctx) {
  size_t n = 0;
  for (ggml_tensor* t = ggml_get_first_tensor(ctx); t; t = ggml_get_next_tensor(ctx, t)) n += ggml_nbytes(t);
  return n;
}

class Trainer {
 public:
  Trainer(Base& m, const TrainOptions& o) : m_(m), o_(o) {}
  ~Trainer() {
    if (galloc_) ggml_gallocr_free(galloc_);
    if (buf_base_) ggml_backend_buffer_free(buf_base_);
    if (ctx_base_) ggml_free(ctx_base_);
    if (backend_) ggml_backend_free(backend_);
    if (buf_lora_) ggml_backend_buffer_free(buf_lora_);
    if (buf_acc_) ggml_backend_buffer_free(buf_acc_);
    if (ctx_acc_) ggml_free(ctx_acc_);
    if (buf_wt_) ggml_backend_buffer_free(buf_wt_);
    if (ctx_wt_) ggml_free(ctx_wt_);
    if (buf_out_t_) ggml_backend_buffer_free(buf_out_t_);
    if (ctx_out_t_) ggml_free(ctx_out_t_);
    if (ctx_lora_) ggml_free(ctx_lora_);
  }

  // Creates the LoRA tensors, picks the device (probe: one example's graph), allocates.
  void init_lora(const detail::Tokenized& probe) {
    const std::vector<std::string>& known = kLoraTargets;
    if (o_.targets.empty()) throw Error("no LoRA targets; pass --targets, e.g. attn_q,attn_v");
    for (auto& t : o_.targets)
      if (std::find(known.begin(), known.end(), t) == known.end())
        throw Error("unknown LoRA target '" + t + "'; choose among attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down");
    if (o_.rank < 1) throw Error("LoRA rank must be at least 1");
    if (!(o_.lr > 0)) throw Error("learning rate must be positive");
    size_t n_t = 0;
    for (int64_t l = 0; l < m_.hp.n_layer; ++l) n_t += o_.targets.size();
    ctx_lora_ = ggml_init({n_t * 6 * ggml_tensor_overhead(), nullptr, true});
    for (int64_t l = 0; l < m_.hp.n_layer; ++l)
      for (auto& t : o_.targets) {
        ggml_tensor* w = weight(l, t);
        const int64_t n_in = w->ne[0], n_out = w->ne[1];
        if (o_.rank > std::min(n_in, n_out))
          throw Error("LoRA rank " + std::to_string(o_.rank) + " is larger than the layer " + std::string(ggml_get_name(w)) + " (" +
                      std::to_string(n_in) + " x " + std::to_string(n_out) + "); choose --rank <= " +
                      std::to_string(std::min(n_in, n_out)));
        Lora x;
        x.name = ggml_get_name(w);
        x.a = ggml_new_tensor_2d(ctx_lora_, GGML_TYPE_F32, n_in, o_.rank);
        x.b = ggml_new_tensor_2d(ctx_lora_, GGML_TYPE_F32, o_.rank, n_out);
        ggml_set_name(x.a, (x.name + ".lora_a").c_str());
        ggml_set_name(x.b, (x.name + ".lora_b").c_str());
        ggml_set_param(x.a);
        ggml_set_param(x.b);
        x.ma = ggml_dup_tensor(ctx_lora_, x.a), x.va = ggml_dup_tensor(ctx_lora_, x.a);
        x.mb = ggml_dup_tensor(ctx_lora_, x.b), x.vb = ggml_dup_tensor(ctx_lora_, x.b);
        ggml_set_name(x.ma, (x.name + ".lora_a.m").c_str());
        ggml_set_name(x.va, (x.name + ".lora_a.v").c_str());
        ggml_set_name(x.mb, (x.name + ".lora_b.m").c_str());
        ggml_set_name(x.vb, (x.name + ".lora_b.v").c_str());
        lora_[x.name] = loras_.size();
        loras_.push_back(x);
      }
    // Tests and bench_train compare the ways: "" or 0 hand GEMMs for the vocabulary and the
    // body, "body" the body by ggml's autodiff (the path before), anything else autodiff only.
    const std::string plain = (o_.env ? o_.env : Env::Default())->getenv("A4PS_LEARN_PLAIN_BACKWARD").value_or("");
    body_gemm_ = plain.empty() || plain == "0";
    if (plain.empty() || plain == "0" || plain == "body") {
      const int64_t n_embd = m_.output->ne[0], n_vocab = m_.output->ne[1];
      ctx_out_t_ = ggml_init({ggml_tensor_overhead() * 2, nullptr, true});
      out_t_ = ggml_new_tensor_2d(ctx_out_t_, GGML_TYPE_F32, n_vocab, n_embd);
    }
    choose_device(probe);
    if (!backend_) backend_ = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    if (!backend_) throw Error("ggml has no CPU backend");
    buf_lora_ = ggml_backend_alloc_ctx_tensors(ctx_lora_, backend_);
    if (!buf_lora_) throw Error("out of memory for the LoRA tensors on " + device_);
    ggml_backend_buffer_clear(buf_lora_, 0);
    // A: uniform(+-1/sqrt(n_in)) (as PEFT's default), B: 0, so the fresh adapter is a no-op.
    uint64_t st = o_.seed * 0x2545F4914F6CDD1DULL + 1;
    std::vector<float> buf;
    for (auto& x : loras_) {
      buf.resize(static_cast<size_t>(ggml_nelements(x.a)));
      const float bound = 1.0f / std::sqrt(static_cast<float>(x.a->ne[0]));
      for (auto& v : buf) v = (static_cast<float>(splitmix(st) >> 40) / static_cast<float>(1 << 24) * 2 - 1) * bound;
      ggml_backend_tensor_set(x.a, buf.data(), 0, ggml_nbytes(x.a));
    }
    auto reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(backend_));
    auto set_threads = reinterpret_cast<void (*)(ggml_backend_t, int)>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads"));
    int nt = o_.threads > 0 ? o_.threads : static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    if (set_threads) set_threads(backend_, nt);  // the CPU's; a GPU has no such knob
    galloc_ = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_));
    const bool cpu = ggml_backend_dev_type(ggml_backend_get_device(backend_)) == GGML_BACKEND_DEVICE_TYPE_CPU;
    if (out_t_ && cpu && grad_type() != GGML_TYPE_F32) {
      // On the CPU the transposed copies are bf16 (unless bf16_backward is off): the backward
      // GEMMs run ~2-3x faster than in f32 (AVX512-BF16), in half the memory. Only gradients
      // pass through them; the forward pass, and so the loss, keeps the base's precision.
      const int64_t n_vocab = out_t_->ne[0], n_embd = out_t_->ne[1];
      ggml_free(ctx_out_t_);
      ctx_out_t_ = ggml_init({ggml_tensor_overhead() * 2, nullptr, true});
      out_t_ = ggml_new_tensor_2d(ctx_out_t_, grad_type(), n_vocab, n_embd);
    }
    if (out_t_) transpose_output();
    // On the CPU only: a GPU's out_prod is a GEMM already (cuBLAS), and its memory is scarcer.
    if (body_gemm_ && cpu) {
      // A quantized base's copies are larger than the base (bf16: 2 bytes a weight): where
      // they would crowd the memory, the backward stays with out_prod (slower, no copies).
      uint64_t need = 0;
      for (int64_t l = 0; l < m_.hp.n_layer; ++l)
        for (const auto& k : kLoraTargets)
          need += static_cast<uint64_t>(ggml_nelements(weight(l, k))) * ggml_type_size(grad_type());
      const uint64_t avail = static_cast<uint64_t>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
      if (need <= avail / 2) transpose_body();
      else note_ += "; the backward through the base by out_prod (its transposed copies, " + human_bytes(need) + ", would crowd the " +
                    human_bytes(avail) + " of free memory)";
    }
    if (o_.grad_accum > 1) {
      ctx_acc_ = ggml_init({loras_.size() * 2 * ggml_tensor_overhead(), nullptr, true});
      for (auto& x : loras_) acc_[x.a] = ggml_dup_tensor(ctx_acc_, x.a), acc_[x.b] = ggml_dup_tensor(ctx_acc_, x.b);
      buf_acc_ = ggml_backend_alloc_ctx_tensors(ctx_acc_, backend_);
      if (!buf_acc_) throw Error("out of memory for the gradient accumulators on " + device_);
      ggml_backend_buffer_clear(buf_acc_, 0);
    }
  }

  const std::string& device() const { return device_; }
  const std::string& device_note() const { return note_; }

  size_t graph_size() const { return 16384 + static_cast<size_t>(m_.hp.n_layer) * 512; }

  // A micro-batch's forward pass (its examples padded at the end to the longest: the causal
  // mask keeps padding out of every real position), loss, backward pass and, when it ends
  // the optimizer step (optimize), the AdamW steps; otherwise its gradients are added to
  // the accumulators. In ctx (no data).
  void build(ggml_context* ctx, const std::vector<const detail::Tokenized*>& mb, bool optimize, StepGraph& s) {
    att_t_.clear();
    s.B = static_cast<int64_t>(mb.size());
    for (auto* ex : mb) s.T = std::max(s.T, static_cast<int64_t>(ex->tokens.size()));
    const int64_t T = s.T;
    select_rows(mb, T, s.sel, s.lab);
    const int64_t n_sel = static_cast<int64_t>(s.sel.size());
    s.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T * s.B);
    s.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
    s.rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_sel);
    s.labels = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, m_.hp.n_vocab, n_sel);
    for (auto* x : {s.tokens, s.pos, s.rows, s.labels}) ggml_set_input(x);
    if (optimize) {
      s.opt_pars = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, 7);
      ggml_set_input(s.opt_pars);
    }
    if (gpu_graph_) {
      s.mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, T, T);
      ggml_set_input(s.mask);
    }
    ggml_tensor* h = forward(ctx, s.tokens, s.pos, s.rows, s.mask, s.B);  // [n_embd, n_sel], after the output norm
    ggml_tensor* logits = ggml_mul_mat(ctx, m_.output, h);
    s.loss = ggml_cross_entropy_loss(ctx, logits, s.labels);  // mean over the selected (assistant) rows
    ggml_set_output(s.loss);
    ggml_cgraph* gf = ggml_new_graph_custom(ctx, graph_size(), true);
    for (auto& [x, t] : att_t_) ggml_build_forward_expand(gf, t);
    ggml_tensor* target = s.loss;  // what the backward pass differentiates
    if (out_t_) {
      // ggml differentiates a matmul with out_prod, ~3x slower per FLOP than its GEMM on
      // CPU; the vocabulary projection is the largest one. So its backward is done here:
      // dL/dh = W^T (softmax - labels) / n_sel, a GEMM on a transposed copy of W, stored
      // into g (outside the autodiff graph), and the rest of the network differentiates
      // the surrogate sum(h * g), whose gradient with respect to h is exactly g.
      ggml_tensor* dlogits = ggml_scale(ctx, ggml_sub(ctx, ggml_soft_max(ctx, logits), s.labels), 1.0f / static_cast<float>(n_sel));
      ggml_tensor* g = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, m_.hp.n_embd, n_sel);
      ggml_set_input(g);  // allocated up front, never reused for another tensor
      ggml_build_forward_expand(gf, ggml_cpy(ctx, ggml_mul_mat(ctx, out_t_, dlogits), g));
      ggml_build_forward_expand(gf, s.loss);
      target = ggml_sum(ctx, ggml_mul(ctx, h, g));  // comes after the copy in node order
    }
    ggml_set_loss(target);
    ggml_build_forward_expand(gf, target);
    ggml_build_backward_expand(ctx, gf, nullptr);
    if (!wt_.empty()) gemm_backward(gf);
    s.seed = ggml_graph_get_grad_acc(gf, target);
    ggml_set_input(s.seed);
    for (auto& x : loras_)
      for (auto [p, m, v] : {std::tuple{x.a, x.ma, x.va}, std::tuple{x.b, x.mb, x.vb}}) {
        ggml_tensor* g = ggml_graph_get_grad(gf, p);
        if (!g) continue;
        auto acc = acc_.find(p);
        if (acc == acc_.end()) {
          ggml_build_forward_expand(gf, ggml_opt_step_adamw(ctx, p, g, m, v, s.opt_pars));
        } else if (!optimize) {
          ggml_build_forward_expand(gf, ggml_cpy(ctx, ggml_add(ctx, acc->second, g), acc->second));
        } else {
          ggml_build_forward_expand(gf, ggml_opt_step_adamw(ctx, p, ggml_add(ctx, acc->second, g), m, v, s.opt_pars));
        }
      }
    s.gf = gf;
  }

  // ggml differentiates y = W x with respect to x as out_prod(W, dy^T): axpy loops, ~3x
  // slower per FLOP than its GEMM on CPU, and the frozen body's matmuls are most of a
  // step. Each such node is turned into the GEMM mul_mat(W^T, dy) on a transposed copy of
  // W, made once (same values: W^T's rows are W's columns); attention's K and V, as W of
  // their products, on copies made in the forward pass (att_t_). LoRA's own matmuls keep
  // ggml's way: their W is a parameter, not in wt_.
  void gemm_backward(ggml_cgraph* gf) {
    for (int i = 0; i < ggml_graph_n_nodes(gf); ++i) {
      ggml_tensor* t = ggml_graph_node(gf, i);
      if (t->op != GGML_OP_OUT_PROD || !t->src[1] || t->src[1]->op != GGML_OP_TRANSPOSE) continue;
      auto it = wt_.find(t->src[0]);
      if (it == wt_.end() && (it = att_t_.find(t->src[0])) == att_t_.end()) continue;
      ggml_tensor *wt = it->second, *dy = t->src[1]->src[0];
      // out_prod's broadcast over the third dimension (GQA) is mul_mat's: both map i2 to i2 / (ne2 / ne02).
      if (dy->ne[0] != wt->ne[0] || t->ne[0] != wt->ne[1] || t->ne[1] != dy->ne[1] || t->ne[2] != dy->ne[2] || t->ne[3] != dy->ne[3] ||
          dy->ne[2] % wt->ne[2] != 0 || dy->ne[3] % wt->ne[3] != 0 || dy->nb[0] != ggml_type_size(dy->type))
        continue;
      t->op = GGML_OP_MUL_MAT;
      std::memset(t->op_params, 0, sizeof t->op_params);
      t->src[0] = wt;
      t->src[1] = dy;
      ++rewritten_;
    }
  }

  // One optimizer step over its micro-batches at learning rate lr; returns the step's
  // mean loss over its assistant tokens. Each micro-batch's gradient is weighted by its
  // share of those tokens, so k micro-batches of one example are one batch of k.
  float step(const std::vector<std::vector<const detail::Tokenized*>>& mbs, int iter, float lr) {
    int64_t n_all = 0;
    for (auto& mb : mbs)
      for (auto* ex : mb) n_all += ex->n_targets();
    float loss = 0;
    for (size_t k = 0; k < mbs.size(); ++k) {
      const bool last = k + 1 == mbs.size();
      ggml_context* ctx = ggml_init({graph_size() * ggml_tensor_overhead() + ggml_graph_overhead_custom(graph_size(), true), nullptr, true});
      struct Free {
        ggml_context* c;
        ~Free() { ggml_free(c); }
      } free_ctx{ctx};
      StepGraph s;
      build(ctx, mbs[k], last, s);
      if (!ggml_gallocr_alloc_graph(galloc_, s.gf))
        throw Error("out of memory for the training graph" + std::string(gpu_graph_ ? " on " + device_ : "") + "; lower --ctx or --batch");
      set_inputs(mbs[k], s);
      if (s.mask) {
        const int64_t T = s.T;
        std::vector<float> mask(static_cast<size_t>(T * T), 0.0f);
        for (int64_t q = 0; q < T; ++q)
          for (int64_t kk = q + 1; kk < T; ++kk) mask[static_cast<size_t>(q * T + kk)] = -INFINITY;
        ggml_backend_tensor_set(s.mask, mask.data(), 0, mask.size() * sizeof(float));
      }
      if (last) {
        // AdamW with bias correction, iter counted from 1 (as ggml_opt_eval does); decoupled weight decay.
        const float beta1 = 0.9f, beta2 = 0.999f;
        float p[7] = {lr, beta1, beta2, 1e-8f, o_.weight_decay, 1.0f / (1.0f - std::pow(beta1, static_cast<float>(iter))),
                      1.0f / (1.0f - std::pow(beta2, static_cast<float>(iter)))};
        ggml_backend_tensor_set(s.opt_pars, p, 0, sizeof p);
      }
      const float w = static_cast<float>(static_cast<double>(s.sel.size()) / static_cast<double>(n_all));
      ggml_backend_tensor_set(s.seed, &w, 0, sizeof w);
      const ggml_status st = ggml_backend_graph_compute(backend_, s.gf);
      if (st != GGML_STATUS_SUCCESS) throw Error("ggml failed to compute a training step on " + device_);
      float l = 0;
      ggml_backend_tensor_get(s.loss, &l, 0, sizeof l);
      loss += w * l;
    }
    if (buf_acc_) ggml_backend_buffer_clear(buf_acc_, 0);
    return loss;
  }

  int rewritten() const { return rewritten_; }

  std::vector<Lora>& loras() { return loras_; }

  void transpose_output() {
    buf_out_t_ = ggml_backend_alloc_ctx_tensors(ctx_out_t_, backend_);
    if (!buf_out_t_) throw Error("out of memory for the transposed output projection");
    transpose_into(m_.output, out_t_);
  }

  ggml_type grad_type() const { return o_.bf16_backward ? GGML_TYPE_BF16 : GGML_TYPE_F32; }

  // Every frozen matmul weight of the body, transposed, for gemm_backward.
  void transpose_body() {
    const std::vector<std::string>& kinds = kLoraTargets;
    ctx_wt_ = ggml_init({static_cast<size_t>(m_.hp.n_layer) * kinds.size() * ggml_tensor_overhead(), nullptr, true});
    for (int64_t l = 0; l < m_.hp.n_layer; ++l)
      for (auto& k : kinds) {
        ggml_tensor* w = weight(l, k);
        wt_[w] = ggml_new_tensor_2d(ctx_wt_, grad_type(), w->ne[1], w->ne[0]);
      }
    buf_wt_ = ggml_backend_alloc_ctx_tensors(ctx_wt_, backend_);
    if (!buf_wt_) throw Error("out of memory for the transposed base weights; set A4PS_LEARN_PLAIN_BACKWARD=body to train without them");
    for (auto& [w, t] : wt_) transpose_into(w, t);
  }

  // dst = w^T, converted to dst's type (f32 or bf16) on the way.
  static void transpose_into(const ggml_tensor* w, ggml_tensor* dst) {
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    const bool direct = dst->type == GGML_TYPE_F32 && ggml_backend_buffer_is_host(dst->buffer);  // else staged here
    std::vector<float> staging(direct ? 0 : static_cast<size_t>(n_in * n_out));
    float* t = direct ? static_cast<float*>(dst->data) : staging.data();
    std::vector<uint8_t> wbytes;  // the weights, from wherever they live
    const char* wdata = static_cast<const char*>(w->data);
    if (w->buffer && !ggml_backend_buffer_is_host(w->buffer)) {
      wbytes.resize(ggml_nbytes(w));
      ggml_backend_tensor_get(const_cast<ggml_tensor*>(w), wbytes.data(), 0, wbytes.size());
      wdata = reinterpret_cast<const char*>(wbytes.data());
    }
    const auto* tr = ggml_get_type_traits(w->type);
    constexpr int64_t kBlock = 64;  // rows per block, so that the writes stay sequential
    std::vector<float> rows(static_cast<size_t>(kBlock * n_in));
    for (int64_t v0 = 0; v0 < n_out; v0 += kBlock) {
      const int64_t nb = std::min(kBlock, n_out - v0);
      for (int64_t r = 0; r < nb; ++r) {
        const char* src = wdata + (v0 + r) * w->nb[1];
        float* row = rows.data() + r * n_in;
        if (w->type == GGML_TYPE_F32) std::memcpy(row, src, static_cast<size_t>(n_in) * sizeof(float));
        else tr->to_float(src, row, n_in);
      }
      for (int64_t e = 0; e < n_in; ++e)
        for (int64_t r = 0; r < nb; ++r) t[e * n_out + v0 + r] = rows[static_cast<size_t>(r * n_in + e)];
    }
    if (direct) return;
    if (dst->type == GGML_TYPE_F32) {
      ggml_backend_tensor_set(dst, t, 0, staging.size() * sizeof(float));
    } else if (ggml_backend_buffer_is_host(dst->buffer)) {  // bf16 in host memory: no second copy
      ggml_fp32_to_bf16_row(t, static_cast<ggml_bf16_t*>(dst->data), static_cast<int64_t>(staging.size()));
    } else {
      std::vector<uint8_t> conv(ggml_nbytes(dst));
      ggml_fp32_to_bf16_row(t, reinterpret_cast<ggml_bf16_t*>(conv.data()), static_cast<int64_t>(staging.size()));
      ggml_backend_tensor_set(dst, conv.data(), 0, conv.size());
    }
  }

 private:
  // The GPU when ggml has one, the user did not ask for the CPU, the base (in f32) fits
  // the VRAM budget and the device has every op of a training step; else the CPU. device_
  // and note_ say which and why.
  void choose_device(const detail::Tokenized& probe) {
    Env* env = o_.env ? o_.env : Env::Default();
    const std::string want = env->getenv("A4PS_TRAIN_DEVICE").value_or("");
    if (want == "cpu") return cpu_only("as A4PS_TRAIN_DEVICE=cpu asks");
    // A device named as doctor lists it (CUDA1, ...; "CPU" runs the device path on the CPU).
    std::optional<llm::DeviceMemory> dev;
    if (!want.empty() && want != "auto" && want != "gpu") {
      for (auto& c : llm::compute_devices())
        if (c.name == want) dev = llm::DeviceMemory{c.name, c.free_bytes, c.total_bytes};
      if (!dev) throw Error("A4PS_TRAIN_DEVICE is '" + want + "'; write cpu, gpu, auto or a device `a4ps doctor` lists");
    } else {
      dev = llm::offload_device();
    }
    if (!dev) return cpu_only(llm::gpu_advice());
    ggml_backend_dev_t d = nullptr;
    for (size_t i = 0; i < ggml_backend_dev_count() && !d; ++i)
      if (dev->name == ggml_backend_dev_name(ggml_backend_dev_get(i))) d = ggml_backend_dev_get(i);
    if (!d) return cpu_only(dev->name + " is not a ggml device");
    // The base goes to the GPU in f32: ggml's GPU backends differentiate a matmul (out_prod)
    // only in f32.
    std::map<ggml_tensor*, ggml_tensor*> moved;
    const int64_t n = gguf_get_n_tensors(m_.gg);  // (m_.ctx also holds gguf's blob of all their bytes)
    ctx_base_ = ggml_init({static_cast<size_t>(n + 1) * ggml_tensor_overhead(), nullptr, true});
    uint64_t need = 4 * tensor_bytes(ctx_lora_) + (ctx_out_t_ ? tensor_bytes(ctx_out_t_) : 0);
    for (int64_t i = 0; i < n; ++i) {
      ggml_tensor* t = ggml_get_tensor(m_.ctx, gguf_get_tensor_name(m_.gg, i));
      ggml_tensor* c = ggml_new_tensor(ctx_base_, GGML_TYPE_F32, GGML_MAX_DIMS, t->ne);
      ggml_set_name(c, ggml_get_name(t));
      moved[t] = c;
      need += ggml_nbytes(c);
    }
    const uint64_t budget = llm::vram_budget(*dev, env);
    if (need > budget)
      return cpu_only("the base in f32 and its LoRA need " + human_bytes(need) + " on " + dev->name + ", more than the " +
                      human_bytes(budget) + " VRAM budget (A4PS_VRAM_BUDGET)");
    repoint(moved);
    gpu_graph_ = true;
    // Every op of one step must run there: a step is one graph on one device.
    ggml_context* ctx = ggml_init({graph_size() * ggml_tensor_overhead() + ggml_graph_overhead_custom(graph_size(), true), nullptr, true});
    StepGraph s;
    build(ctx, {&probe}, true, s);
    std::map<std::string, int> missing;
    for (int i = 0; i < ggml_graph_n_nodes(s.gf); ++i) {
      ggml_tensor* t = ggml_graph_node(s.gf, i);
      const bool moves_nothing = t->op == GGML_OP_NONE || t->op == GGML_OP_VIEW || t->op == GGML_OP_RESHAPE ||
                                 t->op == GGML_OP_PERMUTE || t->op == GGML_OP_TRANSPOSE;
      if (!moves_nothing && !ggml_backend_dev_supports_op(d, t))
        missing[std::string(ggml_op_desc(t)) + (t->src[0] ? std::string("(") + ggml_type_name(t->src[0]->type) + ")" : "")]++;
    }
    ggml_free(ctx);
    if (!missing.empty()) {
      std::map<ggml_tensor*, ggml_tensor*> back;
      for (auto& [from, to] : moved) back[to] = from;
      repoint(back);
      gpu_graph_ = false;
      std::string ops;
      for (auto& [op, k] : missing) ops += (ops.empty() ? "" : ", ") + op + " x" + std::to_string(k);
      return cpu_only(dev->name + " lacks ops a training step needs: " + ops);
    }
    if (!(backend_ = ggml_backend_dev_init(d, nullptr))) {
      std::map<ggml_tensor*, ggml_tensor*> back;
      for (auto& [from, to] : moved) back[to] = from;
      repoint(back);
      gpu_graph_ = false;
      return cpu_only(dev->name + " could not be started");
    }
    upload(moved);
    device_ = dev->name;
    note_ = "training on " + dev->name + " (" + ggml_backend_dev_description(d) + "), the base in f32";
  }

  void cpu_only(const std::string& why) {
    device_ = "CPU";
    note_ = "training on the CPU: " + why;
  }

  // The model's tensors point at their copies from now on.
  void repoint(const std::map<ggml_tensor*, ggml_tensor*>& to_new) {
    auto to = [&](ggml_tensor*& t) {
      if (t) t = to_new.at(t);
    };
    to(m_.tok_embd), to(m_.output_norm), to(m_.output);
    for (Layer& y : m_.layers)
      for (ggml_tensor** t : {&y.attn_norm, &y.wq, &y.wk, &y.wv, &y.wo, &y.bq, &y.bk, &y.bv, &y.ffn_norm, &y.gate, &y.up, &y.down}) to(*t);
  }

  // The base weights into one GPU buffer, converted to f32 on the way.
  void upload(const std::map<ggml_tensor*, ggml_tensor*>& moved) {
    buf_base_ = ggml_backend_alloc_ctx_tensors(ctx_base_, backend_);
    if (!buf_base_) throw Error("out of memory for the base weights on " + device_ + "; set A4PS_TRAIN_DEVICE=cpu or a smaller A4PS_VRAM_BUDGET");
    ggml_backend_buffer_set_usage(buf_base_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    std::vector<float> f32;
    for (auto& [from, to] : moved) {
      if (from->type == GGML_TYPE_F32) {
        ggml_backend_tensor_set(to, from->data, 0, ggml_nbytes(from));
        continue;
      }
      f32.resize(static_cast<size_t>(ggml_nelements(from)));
      ggml_get_type_traits(from->type)->to_float(from->data, f32.data(), ggml_nelements(from));
      ggml_backend_tensor_set(to, f32.data(), 0, f32.size() * sizeof(float));
    }
  }

  ggml_tensor* weight(int64_t l, const std::string& t) {
    const Layer& y = m_.layers[static_cast<size_t>(l)];
    return t == "attn_q" ? y.wq : t == "attn_k" ? y.wk : t == "attn_v" ? y.wv : t == "attn_output" ? y.wo
         : t == "ffn_gate" ? y.gate : t == "ffn_up" ? y.up : y.down;
  }

  void set_inputs(const std::vector<const detail::Tokenized*>& mb, const StepGraph& s) {
    std::vector<int32_t> toks(static_cast<size_t>(s.T * s.B), 0), ps(static_cast<size_t>(s.T));
    for (size_t b = 0; b < mb.size(); ++b) std::copy(mb[b]->tokens.begin(), mb[b]->tokens.end(), toks.begin() + static_cast<ptrdiff_t>(b) * s.T);
    for (int64_t i = 0; i < s.T; ++i) ps[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    ggml_backend_tensor_set(s.tokens, toks.data(), 0, ggml_nbytes(s.tokens));
    ggml_backend_tensor_set(s.pos, ps.data(), 0, ggml_nbytes(s.pos));
    ggml_backend_tensor_set(s.rows, s.sel.data(), 0, ggml_nbytes(s.rows));
    // The one-hot labels (n_vocab floats a row, ~100 MB a step on a 150k vocabulary) reuse
    // one buffer: a fresh one costs page faults on every step. Only last step's ones are reset.
    for (size_t i : hot_) onehot_[i] = 0.0f;
    hot_.clear();
    onehot_.resize(static_cast<size_t>(m_.hp.n_vocab * static_cast<int64_t>(s.sel.size())), 0.0f);
    for (size_t i = 0; i < s.lab.size(); ++i) hot_.push_back(i * static_cast<size_t>(m_.hp.n_vocab) + static_cast<size_t>(s.lab[i]));
    for (size_t i : hot_) onehot_[i] = 1.0f;
    ggml_backend_tensor_set(s.labels, onehot_.data(), 0, ggml_nbytes(s.labels));
  }

  // W x, plus the LoRA branch (alpha/rank) * B (A x) when W is a target (as llama.cpp's build_lora_mm).
  ggml_tensor* mm(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x) {
    ggml_tensor* y = ggml_mul_mat(ctx, w, x);
    auto it = lora_.find(ggml_get_name(w));
    if (it != lora_.end()) {
      const Lora& l = loras_[it->second];
      ggml_tensor* ab = ggml_mul_mat(ctx, l.b, ggml_mul_mat(ctx, l.a, x));
      y = ggml_add(ctx, y, ggml_scale(ctx, ab, o_.alpha / static_cast<float>(o_.rank)));
    }
    return y;
  }

  // tokens: B examples of T tokens each, one after the other; attention stays within each.
  ggml_tensor* forward(ggml_context* ctx, ggml_tensor* tokens, ggml_tensor* pos, ggml_tensor* rows, ggml_tensor* mask, int64_t B) {
    const auto& hp = m_.hp;
    const int64_t T = tokens->ne[0] / B, hd = hp.n_embd / hp.n_head;
    const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));
    ggml_tensor* x = ggml_get_rows(ctx, m_.tok_embd, tokens);  // [n_embd, T]
    if (x->type != GGML_TYPE_F32) x = ggml_cast(ctx, x, GGML_TYPE_F32);
    auto rope = [&](ggml_tensor* t) {
      return ggml_rope_ext(ctx, t, pos, nullptr, static_cast<int>(hp.n_rot), hp.rope_mode, static_cast<int>(hp.n_ctx_train),
                           hp.freq_base, 1.0f, 0.0f, 1.0f, 32.0f, 1.0f);
    };
    for (const Layer& L : m_.layers) {
      ggml_tensor* cur = ggml_mul(ctx, ggml_rms_norm(ctx, x, hp.eps), L.attn_norm);
      ggml_tensor* q = mm(ctx, L.wq, cur);
      ggml_tensor* k = mm(ctx, L.wk, cur);
      ggml_tensor* v = mm(ctx, L.wv, cur);
      if (L.bq) q = ggml_add(ctx, q, L.bq);
      if (L.bk) k = ggml_add(ctx, k, L.bk);
      if (L.bv) v = ggml_add(ctx, v, L.bv);
      q = rope(ggml_reshape_4d(ctx, q, hd, hp.n_head, T, B));
      k = rope(ggml_reshape_4d(ctx, k, hd, hp.n_head_kv, T, B));
      v = ggml_reshape_4d(ctx, v, hd, hp.n_head_kv, T, B);
      ggml_tensor* Q = ggml_permute(ctx, q, 0, 2, 1, 3);                 // [hd, T, n_head, B]
      ggml_tensor* K = ggml_permute(ctx, k, 0, 2, 1, 3);                 // [hd, T, n_head_kv, B]
      ggml_tensor* V = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3));  // [T, hd, n_head_kv, B]
      if (B > 1) {
        // Heads and examples as one dimension: ggml's autodiff broadcasts (GQA) over the
        // third only. Head h of example b is b * heads + h, so the broadcast still pairs
        // query head h with key head h / (n_head / n_head_kv) of the same example.
        Q = ggml_reshape_3d(ctx, ggml_cont(ctx, Q), hd, T, hp.n_head * B);
        K = ggml_reshape_3d(ctx, ggml_cont(ctx, K), hd, T, hp.n_head_kv * B);
        V = ggml_reshape_3d(ctx, V, T, hd, hp.n_head_kv * B);
      }
      if (!wt_.empty()) {
        // Transposed K and V for gemm_backward: the gradients of Q and of the attention
        // weights become GEMMs too (small copies, made in the forward pass).
        att_t_[K] = ggml_cont(ctx, ggml_transpose(ctx, K));
        att_t_[V] = ggml_cont(ctx, ggml_transpose(ctx, V));
      }
      ggml_tensor* kq = ggml_mul_mat(ctx, K, Q);                         // [T_k, T_q, n_head (x B)], GQA by broadcast
      // On a GPU the causal mask is an input of soft_max_ext: GPU backends lack the backward
      // of diag_mask_inf (DIAG_MASK_ZERO). The CPU keeps its graph as it was.
      kq = mask ? ggml_soft_max_ext(ctx, kq, mask, kq_scale, 0.0f)
                : ggml_soft_max(ctx, ggml_diag_mask_inf(ctx, ggml_scale(ctx, kq, kq_scale), 0));
      ggml_tensor* kqv = ggml_mul_mat(ctx, V, kq);  // [hd, T_q, n_head (x B)]
      if (B > 1) kqv = ggml_reshape_4d(ctx, kqv, hd, T, hp.n_head, B);
      cur = ggml_reshape_2d(ctx, ggml_cont(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3)), hp.n_embd, T * B);
      x = ggml_add(ctx, x, mm(ctx, L.wo, cur));
      cur = ggml_mul(ctx, ggml_rms_norm(ctx, x, hp.eps), L.ffn_norm);
      ggml_tensor* g = ggml_silu(ctx, mm(ctx, L.gate, cur));
      cur = mm(ctx, L.down, ggml_mul(ctx, g, mm(ctx, L.up, cur)));
      x = ggml_add(ctx, x, cur);
    }
    x = ggml_get_rows(ctx, x, rows);  // only positions that predict an assistant token
    x = ggml_mul(ctx, ggml_rms_norm(ctx, x, hp.eps), m_.output_norm);
    return x;
  }

  Base& m_;
  const TrainOptions& o_;
  ggml_context* ctx_lora_ = nullptr;
  ggml_backend_buffer_t buf_lora_ = nullptr;
  ggml_backend_t backend_ = nullptr;  // where the step runs: the GPU or the CPU
  bool gpu_graph_ = false;            // the step's graph is built for a GPU (mask input)
  ggml_context* ctx_base_ = nullptr;  // with a GPU: the base weights there, in f32
  ggml_backend_buffer_t buf_base_ = nullptr;
  std::string device_ = "CPU", note_;
  ggml_gallocr_t galloc_ = nullptr;
  ggml_context* ctx_out_t_ = nullptr;
  ggml_backend_buffer_t buf_out_t_ = nullptr;
  ggml_tensor* out_t_ = nullptr;  // the output projection transposed: [n_vocab, n_embd], f32 (GPU) or bf16 (CPU)
  std::vector<Lora> loras_;
  std::map<std::string, size_t> lora_;
  bool body_gemm_ = false;            // the body's input gradients as GEMMs (gemm_backward)
  ggml_context* ctx_wt_ = nullptr;    // the body's weights transposed, for those GEMMs
  ggml_backend_buffer_t buf_wt_ = nullptr;
  std::map<const ggml_tensor*, ggml_tensor*> wt_;
  std::map<const ggml_tensor*, ggml_tensor*> att_t_;  // this graph's K and V, transposed
  int rewritten_ = 0;                 // out_prods turned into GEMMs, over the run
  std::vector<float> onehot_;         // the labels, kept from step to step (set_inputs)
  std::vector<size_t> hot_;           // where onehot_ holds ones
  ggml_context* ctx_acc_ = nullptr;   // gradient accumulators (grad_accum > 1)
  ggml_backend_buffer_t buf_acc_ = nullptr;
  std::map<const ggml_tensor*, ggml_tensor*> acc_;
};

// gguf reads a tensor's data when it writes the file; a GPU's tensors are copied to the host first.
struct HostCopies {
  std::vector<std::vector<uint8_t>> keep;
  void add(gguf_context* g, ggml_tensor* t) {
    gguf_add_tensor(g, t);
    if (!t->buffer || ggml_backend_buffer_is_host(t->buffer)) return;
    keep.emplace_back(ggml_nbytes(t));
    ggml_backend_tensor_get(t, keep.back().data(), 0, keep.back().size());
    gguf_set_tensor_data(g, ggml_get_name(t), keep.back().data());
  }
};

// Writes tensors + key/values to path atomically (tmp + rename): a kill mid-write leaves
// the previous checkpoint intact.
void write_gguf(gguf_context* g, const fs::path& path) {
  fs::path tmp = path;
  tmp += ".tmp";
  if (!gguf_write_to_file(g, tmp.c_str(), false)) throw Error("cannot write " + tmp.string() + "; check the directory");
  fs::rename(tmp, path);
}

std::string run_fingerprint(const json& j) { return sha256_hex(j.dump()); }

void save_checkpoint(const fs::path& path, const std::string& fp, int step, const std::vector<float>& losses,
                     std::vector<Lora>& loras) {
  gguf_context* g = gguf_init_empty();
  gguf_set_val_str(g, "a4ps.checkpoint.run", fp.c_str());
  gguf_set_val_u32(g, "a4ps.checkpoint.step", static_cast<uint32_t>(step));
  if (!losses.empty()) gguf_set_arr_data(g, "a4ps.checkpoint.losses", GGUF_TYPE_FLOAT32, losses.data(), losses.size());
  HostCopies host;
  for (auto& x : loras)
    for (ggml_tensor* t : {x.a, x.b, x.ma, x.va, x.mb, x.vb}) host.add(g, t);
  try {
    write_gguf(g, path);
  } catch (...) {
    gguf_free(g);
    throw;
  }
  gguf_free(g);
}

// Returns the step to resume from (0: nothing to resume).
int load_checkpoint(const fs::path& path, const std::string& fp, std::vector<float>& losses, std::vector<Lora>& loras) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return 0;
  ggml_context* ctx = nullptr;
  gguf_context* g = gguf_init_from_file(path.c_str(), {false, &ctx});
  if (!g) throw Error("the training checkpoint " + path.string() + " is damaged; remove it to start afresh");
  struct Free {
    gguf_context* g;
    ggml_context* c;
    ~Free() {
      gguf_free(g);
      ggml_free(c);
    }
  } f{g, ctx};
  int64_t ki = gguf_find_key(g, "a4ps.checkpoint.run");
  if (ki < 0 || fp != gguf_get_val_str(g, ki))
    throw Error("the checkpoint in " + path.parent_path().string() +
                " belongs to another training run (other base, data or settings); remove it or choose another checkpoint directory");
  int step = static_cast<int>(gguf_get_val_u32(g, gguf_find_key(g, "a4ps.checkpoint.step")));
  losses.clear();
  int64_t li = gguf_find_key(g, "a4ps.checkpoint.losses");
  if (li >= 0) {
    const float* d = static_cast<const float*>(gguf_get_arr_data(g, li));
    losses.assign(d, d + gguf_get_arr_n(g, li));
  }
  for (auto& x : loras)
    for (ggml_tensor* t : {x.a, x.b, x.ma, x.va, x.mb, x.vb}) {
      ggml_tensor* s = ggml_get_tensor(ctx, ggml_get_name(t));
      if (!s || ggml_nbytes(s) != ggml_nbytes(t)) throw Error("the checkpoint " + path.string() + " lacks " + ggml_get_name(t) + "; remove it");
      ggml_backend_tensor_set(t, s->data, 0, ggml_nbytes(t));
    }
  return step;
}

std::string adapter_bytes(const Hparams& hp, const TrainOptions& o, std::vector<Lora>& loras, const json& lineage,
                          const fs::path& scratch_dir) {
  gguf_context* g = gguf_init_empty();
  gguf_set_val_str(g, "general.architecture", hp.arch.c_str());
  gguf_set_val_str(g, "general.type", "adapter");
  gguf_set_val_str(g, "general.name", "a4ps LoRA");
  gguf_set_val_str(g, "adapter.type", "lora");
  gguf_set_val_f32(g, "adapter.lora.alpha", o.alpha);
  gguf_set_val_str(g, "a4ps.lineage", lineage.dump().c_str());
  HostCopies host;
  for (auto& x : loras) {
    host.add(g, x.a);
    host.add(g, x.b);
  }
  fs::path p = scratch_dir / ("a4ps-lora-" + random_id() + ".gguf");
  try {
    write_gguf(g, p);
  } catch (...) {
    gguf_free(g);
    throw;
  }
  gguf_free(g);
  std::string bytes = read_file(p);
  std::error_code ec;
  fs::remove(p, ec);
  return bytes;
}

void progress(int step, int total, float loss, float avg, double tps) {
  static const bool tty = isatty(2);
  const int every = std::max(1, total / 20);
  if (!tty && step % every != 0 && step != total) return;
  const int width = 30, fill = total ? width * step / total : width;
  std::fprintf(stderr, "%strain [%s%s] %d/%d  loss %.4f  avg %.4f  %.0f tok/s%s", tty ? "\r" : "",
               std::string(static_cast<size_t>(fill), '#').c_str(), std::string(static_cast<size_t>(width - fill), '.').c_str(),
               step, total, static_cast<double>(loss), static_cast<double>(avg), tps, tty && step < total ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace

int train_steps(const TrainOptions& o, int n) {
  if (o.max_steps > 0) return o.max_steps;
  const int64_t per_step = static_cast<int64_t>(std::max(1, o.batch_size)) * std::max(1, o.grad_accum);
  return static_cast<int>(std::max<int64_t>(1, (static_cast<int64_t>(std::max(1, o.epochs)) * n + per_step - 1) / per_step));
}

int warmup_steps(const TrainOptions& o, int total) {
  return o.warmup_steps >= 0 ? std::min(o.warmup_steps, total) : total / 20;
}

float lr_at(const TrainOptions& o, int step, int total) {
  const int w = warmup_steps(o, total);
  if (step <= w) return o.lr * static_cast<float>(step) / static_cast<float>(w);
  if (o.schedule == "constant") return o.lr;
  // From lr at the first step after warm-up, down towards min_lr_ratio * lr after the last.
  const double p = static_cast<double>(step - w - 1) / static_cast<double>(std::max(1, total - w));
  const double r = o.min_lr_ratio;
  return static_cast<float>(o.lr * (r + (1 - r) * 0.5 * (1 + std::cos(M_PI * p))));
}

TrainResult train_lora(const fs::path& base, const std::vector<Example>& data, const TrainOptions& o) {
  if (o.n_ctx < 8) throw Error("the context size must be at least 8 tokens");
  if (o.batch_size < 1) throw Error("the batch size must be at least 1 example");
  if (o.grad_accum < 1) throw Error("gradient accumulation must be at least 1 micro-batch per step");
  if (o.schedule != "cosine" && o.schedule != "constant")
    throw Error("unknown learning-rate schedule '" + o.schedule + "'; choose cosine or constant");
  if (o.warmup_steps < -1) throw Error("warm-up steps must be 0 or more (-1: 5% of the steps)");
  if (!(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1)) throw Error("the cosine's final learning-rate ratio must be between 0 and 1");
  if (!(o.weight_decay >= 0)) throw Error("weight decay must be 0 or more");
  auto vocab = detail::load_vocab(base);
  auto toks = detail::tokenize_all(vocab.get(), data, o.n_ctx, base);
  const std::string tok_fp = detail::fingerprint(vocab.get());
  Base m;
  load_base(base, m);
  if (m.hp.n_vocab != llama_vocab_n_tokens(llama_model_get_vocab(vocab.get())))
    throw Error(base.filename().string() + ": the token embedding does not match the vocabulary; the model is damaged");
  Trainer tr(m, o);
  tr.init_lora(toks.front());
  if (o.progress || Env::Default()->getenv("A4PS_LOG").value_or("") == "debug")
    std::fprintf(stderr, "train: %s\n", tr.device_note().c_str());

  const int N = static_cast<int>(toks.size());
  const int total = train_steps(o, N), warmup = warmup_steps(o, total);
  const std::string base_sha = sha256_file(base), data_sha = dataset_hash(data);
  json hyper = {{"rank", o.rank}, {"alpha", o.alpha}, {"targets", o.targets}, {"lr", o.lr},
                {"epochs", o.epochs}, {"steps", total}, {"n_ctx", o.n_ctx}, {"seed", o.seed}, {"optimizer", "adamw"},
                {"batch_size", o.batch_size}, {"grad_accum", o.grad_accum}, {"schedule", o.schedule}, {"warmup_steps", warmup},
                {"min_lr_ratio", o.min_lr_ratio}, {"weight_decay", o.weight_decay}};
  const std::string fp = run_fingerprint({{"base", base_sha}, {"data", data_sha}, {"hyper", hyper}});

  TrainResult r;
  fs::path ckpt;
  if (!o.checkpoint_dir.empty()) {
    fs::create_directories(o.checkpoint_dir);
    ckpt = o.checkpoint_dir / "checkpoint.gguf";
    r.resumed_from = load_checkpoint(ckpt, fp, r.losses, tr.loras());
    if (r.resumed_from > total) r.resumed_from = total;
    r.losses.resize(static_cast<size_t>(r.resumed_from));
  }
  // The examples are taken in passes (epochs) over the data, each in an order that depends
  // only on (seed, epoch): a resumed run sees exactly what the killed one would have.
  // Asked for in increasing order, so one epoch's order is kept at a time.
  std::vector<int> order(static_cast<size_t>(N));
  int order_epoch = -1;
  auto example = [&](int64_t i) -> const detail::Tokenized& {
    const int epoch = static_cast<int>(i / N);
    if (epoch != order_epoch) {
      for (int k = 0; k < N; ++k) order[static_cast<size_t>(k)] = k;
      std::mt19937_64 rng(o.seed * 1000003ULL + static_cast<uint64_t>(epoch));
      std::shuffle(order.begin(), order.end(), rng);
      order_epoch = epoch;
    }
    return toks[static_cast<size_t>(order[static_cast<size_t>(i % N)])];
  };
  const int per_step = o.batch_size * o.grad_accum;
  auto t0 = Clock::now();
  double ema = r.losses.empty() ? 0 : r.losses.back();
  for (int s = r.resumed_from; s < total; ++s) {
    std::vector<std::vector<const detail::Tokenized*>> mbs(static_cast<size_t>(o.grad_accum));
    int64_t tokens = 0;
    for (int j = 0; j < per_step; ++j) {
      const auto& ex = example(static_cast<int64_t>(s) * per_step + j);
      mbs[static_cast<size_t>(j / o.batch_size)].push_back(&ex);
      tokens += static_cast<int64_t>(ex.tokens.size());
      r.learned += ex.n_targets();
    }
    float l = tr.step(mbs, s + 1, lr_at(o, s + 1, total));
    if (!std::isfinite(l)) throw Error("the training loss diverged (" + std::to_string(l) + ") at step " + std::to_string(s + 1) + "; lower the learning rate");
    r.losses.push_back(l);
    r.tokens += tokens;
    ema = s == 0 || r.losses.size() == 1 ? l : 0.9 * ema + 0.1 * l;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (o.progress) progress(s + 1, total, l, static_cast<float>(ema), secs > 0 ? static_cast<double>(r.tokens) / secs : 0);
    if (o.on_step) o.on_step(s + 1, l);
    if (!ckpt.empty() && o.checkpoint_every > 0 && (s + 1) % o.checkpoint_every == 0 && s + 1 < total)
      save_checkpoint(ckpt, fp, s + 1, r.losses, tr.loras());
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.tokens_per_s = r.seconds > 0 ? static_cast<double>(r.tokens) / r.seconds : 0;
  r.steps = total;
  r.device = tr.device();
  r.device_note = tr.device_note();
  r.backward_gemms = tr.rewritten();
  if (!ckpt.empty()) save_checkpoint(ckpt, fp, total, r.losses, tr.loras());

  auto mean = [&](size_t from, size_t to) {
    double s = 0;
    for (size_t i = from; i < to; ++i) s += r.losses[i];
    return to > from ? s / static_cast<double>(to - from) : 0.0;
  };
  const size_t n = r.losses.size(), w = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(N), n / 5 + 1));
  json metrics = {{"train_loss_first", mean(0, std::min(w, n))}, {"train_loss_last", mean(n - std::min(w, n), n)},
                  {"steps", total}, {"tokens", r.tokens}, {"tokens_per_s", r.tokens_per_s}, {"seconds", r.seconds}};
  r.lineage = {{"base_sha256", base_sha}, {"base", base.filename().string()}, {"arch", m.hp.arch},
               {"tokenizer", tok_fp}, {"dataset_sha256", data_sha}, {"examples", N}, {"hyper", hyper}, {"metrics", metrics}};
  fs::path scratch = o.checkpoint_dir.empty() ? fs::temp_directory_path() : o.checkpoint_dir;
  r.adapter = adapter_bytes(m.hp, o, tr.loras(), r.lineage, scratch);
  return r;
}

}  // namespace a4ps::learn
