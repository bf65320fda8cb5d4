// bench_train: LoRA training throughput (tokens/s) and peak memory (RSS) of A4PS's
// trainer on a 0.5B-shaped synthetic base, against llama.cpp's own llama-finetune (a full
// fine-tune, examples/training/finetune.cpp built unmodified) on the same text, printed
// as ratios in one run; and our trainer after against before (the body differentiated by
// ggml's out_prod, one example per step), with both loss curves and the fraction of this
// CPU's measured matmul peak (--peak alone prints that peak). Each side runs in its own
// child process so that its peak RSS is its own (wait4's ru_maxrss).
//
//   bench_train [--size 0.5b] [--type f32] [--examples 4] [--ctx 256] [--threads 0] [--work DIR]
//               [--batch N] [--rounds N] [--no-peer] [--peer-layers N] | --peak
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml-cpu.h>
#include <ggml.h>
#include <gguf.h>
#include <nlohmann/json.hpp>

#include "learn/learn.h"
#include "util/util.h"

using namespace a4ps;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Child {
  int code = -1;
  double wall_s = 0;
  long peak_rss_kb = 0;
  std::string out, err;
};

Child run_child(const std::vector<std::string>& args, const fs::path& work, const std::string& tag) {
  fs::path o = work / (tag + ".out"), e = work / (tag + ".err");
  std::fflush(stdout);
  std::fflush(stderr);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(o.c_str(), "w", stdout) || !freopen(e.c_str(), "w", stderr)) _exit(127);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  Child c;
  int st = 0;
  rusage ru{};
  wait4(pid, &st, 0, &ru);
  c.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  c.peak_rss_kb = ru.ru_maxrss;
  c.out = read_file(o);
  c.err = read_file(e);
  return c;
}

// Same pattern as the tests, with long assistant answers so that an example is about
// one context window of tokens.
std::vector<learn::Example> dataset(int n) {
  std::vector<learn::Example> out;
  const char* words[] = {"river", "stone", "lantern", "orchard", "harbour", "meadow", "copper", "willow"};
  for (int i = 0; i < n; ++i) {
    std::string ans;
    for (int k = 0; k < 170; ++k) ans += std::string(words[(i + k) % 8]) + (k % 8 == 7 ? ". " : " ");
    out.push_back({{{"system", "You are BRICK."}, {"user", "Describe item " + std::to_string(i) + "."}, {"assistant", ans}}, ""});
  }
  return out;
}

// The same model cut to its first n layers (all widths and the vocabulary kept): this
// llama.cpp's training graph outgrows its node budget (8 x tensors) on 24 layers.
void truncate_layers(const fs::path& in, const fs::path& out, int n) {
  ggml_context* ctx = nullptr;
  gguf_context* g = gguf_init_from_file(in.c_str(), {false, &ctx});
  if (!g) throw Error("cannot read " + in.string());
  gguf_context* o = gguf_init_empty();
  gguf_set_kv(o, g);
  std::string arch = gguf_get_val_str(g, gguf_find_key(g, "general.architecture"));
  gguf_set_val_u32(o, (arch + ".block_count").c_str(), static_cast<uint32_t>(n));
  for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
    std::string name = gguf_get_tensor_name(g, i);
    if (name.rfind("blk.", 0) == 0 && std::stoi(name.substr(4)) >= n) continue;
    gguf_add_tensor(o, ggml_get_tensor(ctx, name.c_str()));
  }
  bool ok = gguf_write_to_file(o, out.c_str(), false);
  gguf_free(o);
  gguf_free(g);
  ggml_free(ctx);
  if (!ok) throw Error("cannot write " + out.string());
}

// One side of the before/after comparison, in this (child) process. "before": the trainer
// as it was (the body differentiated by ggml's out_prod: A4PS_LEARN_PLAIN_BACKWARD=body),
// one example per step; "after": the body's backward as GEMMs, batch examples per step.
// Both at the same constant learning rate, so their per-example loss curves compare.
int child_ours(const fs::path& base, int examples, int ctx, int threads, bool before, int batch) {
  if (before) setenv("A4PS_LEARN_PLAIN_BACKWARD", "body", 1);
  learn::TrainOptions o;
  o.rank = 8;
  o.alpha = 16;
  o.targets = learn::kLoraTargets;
  o.lr = 1e-4f;
  o.epochs = 1;
  o.n_ctx = ctx;
  o.threads = threads;
  o.schedule = "constant";
  o.warmup_steps = 0;
  o.batch_size = before ? 1 : batch;
  o.bf16_backward = !before;  // before, the vocabulary's backward GEMM was on an f32 copy
  o.progress = false;
  auto r = learn::train_lora(base, dataset(examples), o);
  std::printf("%s\n", json{{"tokens", r.tokens}, {"learned", r.learned}, {"seconds", r.seconds}, {"steps", r.steps},
                           {"losses", r.losses}, {"gemms", r.backward_gemms}, {"device_note", r.device_note}}.dump().c_str());
  return 0;
}

// Matmul FLOPs of one training pass over `tokens` tokens (T per example) of which `learned`
// are scored: the body's forward and its input gradients (2 + 2 per weight), attention's
// two products (full T x T, forward and backward), the vocabulary projection's forward and
// backward on the scored rows. LoRA's rank-8 products are left out (under 1%).
double train_flops(const fs::path& model, double tokens, double learned, double T) {
  ggml_context* ctx = nullptr;
  gguf_context* g = gguf_init_from_file(model.c_str(), {true, &ctx});
  if (!g) throw Error("cannot read " + model.string());
  double body = 0, n_embd = 0, n_vocab = 0, layers = 0;
  for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
    ggml_tensor* t = ggml_get_tensor(ctx, gguf_get_tensor_name(g, i));
    const std::string n = ggml_get_name(t);
    if (n == "token_embd.weight") n_embd = static_cast<double>(t->ne[0]), n_vocab = static_cast<double>(t->ne[1]);
    if (n.rfind("blk.", 0) == 0 && t->ne[1] > 1) body += static_cast<double>(t->ne[0] * t->ne[1]);
    if (n.rfind("blk.", 0) == 0 && n.find("attn_q.weight") != std::string::npos) layers += 1;
  }
  gguf_free(g);
  ggml_free(ctx);
  return tokens * (4 * body + 3 * 4 * T * n_embd * layers) + learned * 4 * n_embd * n_vocab;
}

// --peak: this CPU's matmul throughput through ggml, the ceiling the trainer can reach.
// One 0.5B-sized projection (896 -> 4864, ffn_up's shape) times a 256-token activation,
// as the forward GEMM in f32 and bf16, and as ggml's out_prod (how autodiff gets an
// input's gradient), repeated in one graph; GFLOP/s over the best of a few rounds.
double peak_gflops(const char* what, ggml_type wtype, bool out_prod, int threads, bool print = true) {
  const int64_t K = 896, M = 4864, N = 256, reps = 8;
  ggml_context* ctx = ggml_init({static_cast<size_t>(8 + 4 * reps) * ggml_tensor_overhead() + ggml_graph_overhead(), nullptr, true});
  ggml_tensor* w = out_prod ? ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, M) : ggml_new_tensor_2d(ctx, wtype, K, M);
  // out_prod reads dY transposed, as autodiff hands it over: dX = W (dY^T)^T
  ggml_tensor* x = out_prod ? ggml_new_tensor_2d(ctx, GGML_TYPE_F32, M, N) : ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, N);
  ggml_cgraph* gf = ggml_new_graph(ctx);
  for (int r = 0; r < reps; ++r) ggml_build_forward_expand(gf, out_prod ? ggml_out_prod(ctx, w, ggml_transpose(ctx, x)) : ggml_mul_mat(ctx, w, x));
  ggml_backend_t be = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(be, threads);
  ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors(ctx, be);
  std::vector<float> f(static_cast<size_t>(K * M));
  for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  if (w->type == GGML_TYPE_F32) ggml_backend_tensor_set(w, f.data(), 0, ggml_nbytes(w));
  else {
    std::vector<uint8_t> q(ggml_nbytes(w));
    ggml_get_type_traits_cpu(w->type)->from_float(f.data(), q.data(), ggml_nelements(w));
    ggml_backend_tensor_set(w, q.data(), 0, q.size());
  }
  f.resize(static_cast<size_t>(ggml_nelements(x)));
  ggml_backend_tensor_set(x, f.data(), 0, ggml_nbytes(x));
  ggml_gallocr_t ga = ggml_gallocr_new(ggml_backend_get_default_buffer_type(be));
  ggml_gallocr_alloc_graph(ga, gf);
  double best = 1e30;
  for (int round = 0; round < 4; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    ggml_backend_graph_compute(be, gf);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double gflops = 2.0 * static_cast<double>(K * M * N * reps) / best / 1e9;
  if (print) std::printf("  %-34s %7.1f GFLOP/s (%d threads)\n", what, gflops, threads);
  ggml_gallocr_free(ga);
  ggml_backend_buffer_free(wbuf);
  ggml_backend_free(be);
  ggml_free(ctx);
  return gflops;
}

// The f32 and bf16 GEMMs' GFLOP/s: the peaks the trainer's figures are fractions of.
struct Peak {
  double f32 = 0, bf16 = 0;
};
Peak peak(int threads) {
  std::printf("peak: ggml matmul throughput on this CPU, [896 x 4864] x [896 x 256]:\n");
  Peak p;
  p.f32 = peak_gflops("mul_mat f32 (the forward GEMM)", GGML_TYPE_F32, false, threads);
  p.bf16 = peak_gflops("mul_mat bf16 weights", GGML_TYPE_BF16, false, threads);
  peak_gflops("out_prod f32 (autodiff's dX)", GGML_TYPE_F32, true, threads);
  std::fflush(stdout);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  std::string size = "0.5b", type = "f32", work = "/tmp/a4ps-bench-train";
  int examples = 4, ctx = 256, threads = 0, layers = 4;
  bool child = false, want_peak = false, before = false, no_peer = false;
  int batch = 1, rounds = 1;
  std::string base_arg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--size") size = next();
    else if (a == "--type") type = next();
    else if (a == "--examples") examples = std::stoi(next());
    else if (a == "--ctx") ctx = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--work") work = next();
    else if (a == "--peer-layers") layers = std::stoi(next());
    else if (a == "--peak") want_peak = true;
    else if (a == "--batch") batch = std::stoi(next());
    else if (a == "--rounds") rounds = std::stoi(next());
    else if (a == "--no-peer") no_peer = true;
    else if (a == "--before") before = true;
    else if (a == "--after") before = false;
    else if (a == "--child-ours") child = true, base_arg = next();
    else {
      std::fprintf(stderr, "usage: bench_train [--size 0.5b] [--type f32] [--examples N] [--ctx N] [--threads N] [--peer-layers N] [--work DIR]\n"
                           "                   [--batch N] [--rounds N] [--no-peer] | --peak\n");
      return 2;
    }
  }
  try {
    if (child) return child_ours(base_arg, examples, ctx, threads, before, batch);
    if (want_peak) return peak(threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency())).f32 > 0 ? 0 : 1;
    fs::create_directories(work);
    const fs::path base = fs::path(work) / ("synthetic-qwen2-" + size + "-" + type + ".gguf");
    if (!fs::exists(base)) {
      std::string cmd = std::string(A4PS_SYNTH) + " --arch qwen2 --size " + size + " --type " + type + " -o '" + base.string() + "' >/dev/null";
      if (std::system(cmd.c_str()) != 0) throw Error("could not generate " + base.string());
    }
    const int nt = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
    std::printf("bench_train: base %s (%s), %d examples, ctx %d, %d threads, batch %d (after)\n", base.filename().c_str(),
                human_bytes(fs::file_size(base)).c_str(), examples, ctx, nt, batch);
    const Peak pk = peak(nt);

    // The peer's input: the same examples, rendered as plain text (llama-finetune reads text).
    // llama.cpp pads its context to 256 tokens and cuts the text into windows at half
    // that stride, so the text goes twice: about as many windows as we have examples.
    {
      std::ofstream f(fs::path(work) / "data.txt");
      for (int rep = 0; rep < 2; ++rep)
        for (auto& ex : dataset(examples))
          for (auto& m : ex.messages) f << m.role << ": " << m.content << "\n";
    }

    struct Side {
      bool ok = false;
      double tps = 0;
      long rss_kb = 0;
      std::string why;
    };
    struct Ours {
      double tps = 0, flops = 0;
      long rss_kb = 0;
      std::vector<float> losses;
    };
    auto ours_side = [&](const fs::path& model, const std::string& tag, bool before) {
      Child c = run_child({"/proc/self/exe", "--child-ours", model.string(), "--examples", std::to_string(examples), "--ctx",
                           std::to_string(ctx), "--threads", std::to_string(nt), "--batch", std::to_string(batch),
                           before ? "--before" : "--after"}, work, tag);
      if (c.code != 0) throw Error("our trainer failed: " + c.err.substr(c.err.size() > 400 ? c.err.size() - 400 : 0));
      json oj = json::parse(c.out.substr(c.out.find('{')));
      Ours r;
      const double tokens = oj["tokens"].get<double>(), secs = oj["seconds"].get<double>();
      r.tps = tokens / secs;
      r.flops = train_flops(model, tokens, oj["learned"].get<double>(), tokens / examples) / secs;
      r.rss_kb = c.peak_rss_kb;
      r.losses = oj["losses"].get<std::vector<float>>();
      std::string ls;
      for (float l : r.losses) ls += (ls.empty() ? "" : " ") + std::to_string(l).substr(0, 6);
      std::printf("  a4ps LoRA %s: %lld tokens in %.1f s = %.2f tokens/s, %.1f GFLOP/s (%.0f%% of the f32 peak, %.0f%% of bf16's); process %.1f s, "
                  "peak RSS %s; %d backward GEMMs; losses per step [%s]\n",
                  before ? "before (out_prod, batch 1)" : ("after (GEMM, batch " + std::to_string(batch) + ")").c_str(),
                  static_cast<long long>(tokens), secs, r.tps, r.flops / 1e9, 100 * r.flops / 1e9 / pk.f32, 100 * r.flops / 1e9 / pk.bf16, c.wall_s,
                  human_bytes(static_cast<uint64_t>(c.peak_rss_kb) * 1024).c_str(), oj["gemms"].get<int>(), ls.c_str());
      std::fflush(stdout);
      return r;
    };
    // Before and after alternate, rounds times: the machine is shared, ratios are per round.
    auto compare = [&](const fs::path& model, const std::string& tag) {
      Ours last_after;
      for (int round = 0; round < rounds; ++round) {
        Ours b = ours_side(model, tag + "-before", true);
        Ours a = ours_side(model, tag + "-after", false);
        std::printf("  after/before: tokens/s x%.2f, peak RSS x%.2f\n", a.tps / b.tps,
                    static_cast<double>(a.rss_kb) / static_cast<double>(b.rss_kb));
        last_after = a;
      }
      return Side{true, last_after.tps, last_after.rss_kb, ""};
    };
    auto ours = [&](const fs::path& model, const std::string& tag) { return compare(model, tag); };
    auto peer = [&](const fs::path& model, const std::string& tag) {
      Side r;
#ifdef A4PS_LLAMA_FINETUNE
      Child c = run_child({A4PS_LLAMA_FINETUNE, "-m", model.string(), "-f", (fs::path(work) / "data.txt").string(), "-c",
                           std::to_string(ctx), "-b", std::to_string(ctx), "-ub", std::to_string(ctx), "-t", std::to_string(nt),
                           "--epochs", "1", "-val-split", "0", "-o", (fs::path(work) / "finetuned.gguf").string()},
                          work, tag);
      std::error_code ec;
      fs::remove(fs::path(work) / "finetuned.gguf", ec);
      if (c.code != 0) {
        size_t at = c.err.find("GGML_ASSERT");
        r.why = at != std::string::npos ? c.err.substr(at, c.err.find('\n', at) - at) : "exit " + std::to_string(c.code);
        std::printf("  llama-finetune (full fine-tune): failed: %s\n", r.why.c_str());
        return r;
      }
      // Its progress bar: "data=000004/000004 ... t=00:00:12": windows of ctx tokens
      // over the epoch's time.
      std::string all = c.err + c.out;
      long ndata = 0;
      double secs = 0;
      const std::regex re(R"(data=(\d+)/(\d+).*?t=(\d+):(\d+):(\d+))");
      for (std::sregex_iterator it(all.begin(), all.end(), re), end; it != end; ++it) {
        ndata = std::stol((*it)[1]);
        secs = std::stoi((*it)[3]) * 3600 + std::stoi((*it)[4]) * 60 + std::stoi((*it)[5]);
      }
      if (ndata == 0 || secs <= 0) throw Error("could not read llama-finetune's progress from " + work + "/" + tag + ".err");
      r = {true, static_cast<double>(ndata) * ctx / secs, c.peak_rss_kb, ""};
      std::printf("  llama-finetune (full fine-tune):          %ld tokens in %.0f s of training = %.2f tokens/s; "
                  "process %.1f s, peak RSS %s\n",
                  ndata * ctx, secs, r.tps, c.wall_s, human_bytes(static_cast<uint64_t>(c.peak_rss_kb) * 1024).c_str());
#else
      r.why = "llama-finetune was not built (llama.cpp source not found)";
      std::printf("  %s\n", r.why.c_str());
#endif
      std::fflush(stdout);
      return r;
    };
    auto ratio = [](const Side& a, const Side& b) {
      std::printf("  ratio a4ps/llama-finetune: tokens/s x%.2f, peak RSS x%.2f\n", a.tps / b.tps,
                  static_cast<double>(a.rss_kb) / static_cast<double>(b.rss_kb));
    };

    std::printf("%s, all layers:\n", base.filename().c_str());
    Side o1 = ours(base, "ours-full");
    if (no_peer) return 0;
    Side p1 = peer(base, "peer-full");
    if (p1.ok) ratio(o1, p1);
    if (!p1.ok && layers > 0) {
      const fs::path cut = fs::path(work) / ("synthetic-qwen2-" + size + "-" + type + "-" + std::to_string(layers) + "layers.gguf");
      if (!fs::exists(cut)) truncate_layers(base, cut, layers);
      std::printf("%s (same widths and vocabulary, first %d layers), where llama-finetune runs:\n", cut.filename().c_str(), layers);
      Side o2 = ours(cut, "ours-cut");
      Side p2 = peer(cut, "peer-cut");
      if (p2.ok) ratio(o2, p2);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
