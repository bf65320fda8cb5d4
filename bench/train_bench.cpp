// bench_train: LoRA training throughput (tokens/s) and peak memory (RSS) of A4PS's
// trainer on a 0.5B-shaped synthetic base, against llama.cpp's own llama-finetune (a full
// fine-tune, examples/training/finetune.cpp built unmodified) on the same text, printed
// as ratios in one run. Each side runs in its own child process so that its peak RSS is
// its own (wait4's ru_maxrss).
//
//   bench_train [--size 0.5b] [--type f32] [--examples 6] [--ctx 256] [--threads 0] [--work DIR]
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

int child_ours(const fs::path& base, int examples, int ctx, int threads) {
  learn::TrainOptions o;
  o.rank = 8;
  o.alpha = 16;
  o.targets = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  o.lr = 1e-4f;
  o.epochs = 1;
  o.n_ctx = ctx;
  o.threads = threads;
  auto r = learn::train_lora(base, dataset(examples), o);
  std::printf("%s\n", json{{"tokens", r.tokens}, {"seconds", r.seconds}, {"steps", r.steps},
                           {"loss_first", r.losses.front()}, {"loss_last", r.losses.back()},
                           {"device_note", r.device_note}}.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string size = "0.5b", type = "f32", work = "/tmp/a4ps-bench-train";
  int examples = 4, ctx = 256, threads = 0, layers = 4;
  bool child = false;
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
    else if (a == "--child-ours") child = true, base_arg = next();
    else {
      std::fprintf(stderr, "usage: bench_train [--size 0.5b] [--type f32] [--examples N] [--ctx N] [--threads N] [--peer-layers N] [--work DIR]\n");
      return 2;
    }
  }
  try {
    if (child) return child_ours(base_arg, examples, ctx, threads);
    fs::create_directories(work);
    const fs::path base = fs::path(work) / ("synthetic-qwen2-" + size + "-" + type + ".gguf");
    if (!fs::exists(base)) {
      std::string cmd = std::string(A4PS_SYNTH) + " --arch qwen2 --size " + size + " --type " + type + " -o '" + base.string() + "' >/dev/null";
      if (std::system(cmd.c_str()) != 0) throw Error("could not generate " + base.string());
    }
    const int nt = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
    std::printf("bench_train: base %s (%s), %d examples, ctx %d, %d threads\n", base.filename().c_str(),
                human_bytes(fs::file_size(base)).c_str(), examples, ctx, nt);

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
    auto ours = [&](const fs::path& model, const std::string& tag) {
      Child c = run_child({"/proc/self/exe", "--child-ours", model.string(), "--examples", std::to_string(examples), "--ctx",
                           std::to_string(ctx), "--threads", std::to_string(nt)}, work, tag);
      if (c.code != 0) throw Error("our trainer failed: " + c.err.substr(c.err.size() > 400 ? c.err.size() - 400 : 0));
      json oj = json::parse(c.out.substr(c.out.find('{')));
      Side r{true, oj["tokens"].get<double>() / oj["seconds"].get<double>(), c.peak_rss_kb, ""};
      std::printf("  a4ps LoRA (rank 8, 7 projections/layer): %lld tokens in %.1f s of training = %.2f tokens/s; "
                  "process %.1f s, peak RSS %s; loss %.3f -> %.3f\n",
                  static_cast<long long>(oj["tokens"].get<int64_t>()), oj["seconds"].get<double>(), r.tps, c.wall_s,
                  human_bytes(static_cast<uint64_t>(c.peak_rss_kb) * 1024).c_str(), oj["loss_first"].get<double>(),
                  oj["loss_last"].get<double>());
      if (oj.contains("device_note")) std::printf("  train: %s\n", oj["device_note"].get<std::string>().c_str());
      std::fflush(stdout);
      return r;
    };
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
