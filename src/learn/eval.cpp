// Tokenization shared by training and evaluation, and evaluation through unmodified
// llama.cpp: the adapter is loaded with llama_adapter_lora_init, exactly as a persona
// would load it, so the numbers say what the running agent will see.
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "learn/learn.h"
#include "learn/tokens.h"
#include "llm/llm.h"
#include "util/util.h"

namespace a4ps::learn {
namespace detail {

int Tokenized::n_targets() const {
  int n = 0;
  for (auto m : target) n += m;
  return n;
}

void ModelDel::operator()(llama_model* m) const { llama_model_free(m); }

namespace {

ModelPtr load(const fs::path& base, bool vocab_only) {
  std::error_code ec;
  if (!fs::is_regular_file(base, ec)) throw Error("base model " + base.string() + " not found; pass an existing GGUF file");
  llm::init_llama_logging();
  auto mp = llama_model_default_params();
  mp.vocab_only = vocab_only;
  ModelPtr m(llama_model_load_from_file(base.c_str(), mp));
  if (!m) throw Error("llama.cpp could not load " + base.string() + " (not a GGUF model?); run with A4PS_LOG=debug for details");
  return m;
}

std::string render(const char* tmpl, const std::vector<llm::Message>& msgs, size_t n, bool add_ass) {
  std::vector<llama_chat_message> chat;
  size_t total = 64;
  for (size_t i = 0; i < n; ++i) {
    chat.push_back({msgs[i].role.c_str(), msgs[i].content.c_str()});
    total += msgs[i].content.size() + 64;
  }
  std::string buf(total * 2, '\0');
  int32_t k = llama_chat_apply_template(tmpl, chat.data(), chat.size(), add_ass, buf.data(), static_cast<int32_t>(buf.size()));
  if (k > static_cast<int32_t>(buf.size())) {
    buf.resize(static_cast<size_t>(k));
    k = llama_chat_apply_template(tmpl, chat.data(), chat.size(), add_ass, buf.data(), static_cast<int32_t>(buf.size()));
  }
  if (k < 0) throw Error("the base model's chat template is not one llama.cpp knows; use a model with a standard template");
  buf.resize(static_cast<size_t>(k));
  return buf;
}

std::vector<int32_t> tok(const llama_vocab* v, const std::string& s, bool add_special) {
  int n = -llama_tokenize(v, s.data(), static_cast<int32_t>(s.size()), nullptr, 0, add_special, true);
  std::vector<int32_t> t(static_cast<size_t>(std::max(n, 0)));
  if (n > 0 && llama_tokenize(v, s.data(), static_cast<int32_t>(s.size()), t.data(), n, add_special, true) < 0)
    throw Error("tokenization failed");
  return t;
}

}  // namespace

ModelPtr load_vocab(const fs::path& base) { return load(base, true); }
ModelPtr load_model(const fs::path& base) { return load(base, false); }

std::string fingerprint(const llama_model* m) {
  const llama_vocab* v = llama_model_get_vocab(m);
  Sha256 h;
  const int n = llama_vocab_n_tokens(v);
  for (int i = 0; i < n; ++i) {
    const char* s = llama_vocab_get_text(v, i);
    h.update(s, std::strlen(s) + 1);
  }
  return "vocab-" + std::to_string(n) + "-" + h.hex().substr(0, 16);
}

Tokenized tokenize(const llama_model* m, const Example& ex, int n_ctx) {
  const char* tmpl = llama_model_chat_template(m, nullptr);
  if (!tmpl) throw Error("the base model has no chat template; use a model with tokenizer.chat_template");
  const auto& msgs = ex.messages;
  const std::string full = render(tmpl, msgs, msgs.size(), false);
  // Character spans of assistant turns: from the end of the generation prompt before
  // each one to the end of the conversation rendered up to and including it.
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (msgs[i].role != "assistant") continue;
    size_t a = render(tmpl, msgs, i, true).size();
    std::string upto = render(tmpl, msgs, i + 1, false);
    size_t b = upto.size();
    if (a > b || full.compare(0, b, upto) != 0 || (!spans.empty() && a < spans.back().second))
      throw Error("the chat template does not render turns as a growing prefix; this model's template is not supported for training");
    spans.push_back({a, b});
  }
  const llama_vocab* v = llama_model_get_vocab(m);
  Tokenized out;
  size_t pos = 0;
  auto add = [&](size_t from, size_t to, bool target) {
    if (to <= from) return;
    auto t = tok(v, full.substr(from, to - from), from == 0);
    out.tokens.insert(out.tokens.end(), t.begin(), t.end());
    out.target.insert(out.target.end(), t.size(), target ? 1 : 0);
  };
  for (auto [a, b] : spans) {
    add(pos, a, false);
    add(a, b, true);
    pos = b;
  }
  add(pos, full.size(), false);
  if (static_cast<int>(out.tokens.size()) > n_ctx) {
    out.tokens.resize(static_cast<size_t>(n_ctx));
    out.target.resize(static_cast<size_t>(n_ctx));
  }
  if (!out.target.empty()) out.target[0] = 0;  // the first token has nothing before it
  return out;
}

std::vector<Tokenized> tokenize_all(const llama_model* m, const std::vector<Example>& data, int n_ctx, const fs::path& base) {
  if (data.empty()) throw Error("the dataset is empty; select golden examples first (a4ps learn golden) or pass a JSONL file with examples");
  std::string fp;
  std::vector<Tokenized> out;
  for (size_t i = 0; i < data.size(); ++i) {
    if (!data[i].tokenizer.empty()) {
      if (fp.empty()) fp = fingerprint(m);
      if (data[i].tokenizer != fp)
        throw Error("example " + std::to_string(i + 1) + " was made for another tokenizer (" + data[i].tokenizer +
                    ") than " + base.filename().string() + "'s (" + fp + "); export the dataset again for this model");
    }
    out.push_back(tokenize(m, data[i], n_ctx));
    if (out.back().n_targets() == 0)
      throw Error("example " + std::to_string(i + 1) + " has no assistant tokens within " + std::to_string(n_ctx) +
                  " tokens; give it an assistant turn or raise the context size");
  }
  return out;
}

}  // namespace detail

std::string tokenizer_fingerprint(const fs::path& base) { return detail::fingerprint(detail::load_vocab(base).get()); }

EvalResult evaluate(const fs::path& base, const fs::path& adapter, const std::vector<Example>& data, int n_ctx) {
  auto model = detail::load_model(base);
  auto toks = detail::tokenize_all(model.get(), data, n_ctx, base);
  int longest = 1;
  for (auto& t : toks) longest = std::max(longest, static_cast<int>(t.tokens.size()));
  auto cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(longest);
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(longest);
  cp.no_perf = true;
  cp.n_threads = cp.n_threads_batch = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  llama_context* ctx = llama_init_from_model(model.get(), cp);
  if (!ctx) throw Error("llama.cpp could not create a context for " + base.string());
  std::unique_ptr<llama_context, void (*)(llama_context*)> ctx_guard(ctx, llama_free);
  if (!adapter.empty()) {
    llama_adapter_lora* a = llama_adapter_lora_init(model.get(), adapter.c_str());
    if (!a) throw Error("llama.cpp refused the adapter " + adapter.string() + " for " + base.filename().string() +
                        " (made for another base model?)");
    float scale = 1.0f;
    llama_set_adapters_lora(ctx, &a, 1, &scale);
  }
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));
  double nll = 0;
  int64_t n = 0;
  for (auto& t : toks) {
    llama_memory_clear(llama_get_memory(ctx), true);
    const int T = static_cast<int>(t.tokens.size());
    llama_batch b = llama_batch_init(T, 0, 1);
    for (int i = 0; i < T; ++i) {
      b.token[i] = t.tokens[static_cast<size_t>(i)];
      b.pos[i] = i;
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = 0;
      b.logits[i] = i + 1 < T && t.target[static_cast<size_t>(i) + 1];
    }
    b.n_tokens = T;
    int rc = llama_decode(ctx, b);
    if (rc != 0) {
      llama_batch_free(b);
      throw Error("llama.cpp failed to evaluate an example (decode returned " + std::to_string(rc) + ")");
    }
    for (int i = 0; i + 1 < T; ++i) {
      if (!t.target[static_cast<size_t>(i) + 1]) continue;
      const float* lg = llama_get_logits_ith(ctx, i);
      float mx = *std::max_element(lg, lg + n_vocab);
      double s = 0;
      for (int k = 0; k < n_vocab; ++k) s += std::exp(static_cast<double>(lg[k]) - mx);
      nll += std::log(s) + mx - lg[t.tokens[static_cast<size_t>(i) + 1]];
      ++n;
    }
    llama_batch_free(b);
  }
  EvalResult r;
  r.tokens = n;
  r.loss = n ? nll / static_cast<double>(n) : 0;
  r.ppl = std::exp(r.loss);
  return r;
}

std::string loss_svg(const std::vector<std::pair<std::string, std::vector<float>>>& series, const std::string& title) {
  const double W = 640, H = 360, L = 60, R = 20, T = 40, B = 40;
  float lo = INFINITY, hi = -INFINITY;
  size_t n = 1;
  for (auto& [name, v] : series)
    for (float x : v) lo = std::min(lo, x), hi = std::max(hi, x), n = std::max(n, v.size());
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (hi - lo < 1e-6f) hi = lo + 1;
  auto X = [&](size_t i) { return L + (W - L - R) * (n > 1 ? static_cast<double>(i) / static_cast<double>(n - 1) : 0.0); };
  auto Y = [&](float y) { return T + (H - T - B) * (1.0 - (y - lo) / (hi - lo)); };
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  std::ostringstream o;
  auto esc = [](std::string s) {
    std::string r;
    for (char c : s) r += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
    return r;
  };
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << L << "\" y=\"24\" font-size=\"14\">" << esc(title) << "</text>\n"
    << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n"
    << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
  char buf[64];
  for (int k = 0; k <= 4; ++k) {
    float y = lo + (hi - lo) * static_cast<float>(k) / 4;
    std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(y));
    o << "<text x=\"" << L - 6 << "\" y=\"" << Y(y) + 4 << "\" text-anchor=\"end\">" << buf << "</text>\n";
  }
  o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">step (" << n << ")</text>\n";
  for (size_t s = 0; s < series.size(); ++s) {
    const auto& [name, v] = series[s];
    o << "<polyline fill=\"none\" stroke=\"" << colors[s % 4] << "\" stroke-width=\"1.5\" points=\"";
    for (size_t i = 0; i < v.size(); ++i) o << X(i) << "," << Y(v[i]) << " ";
    o << "\"/>\n<text x=\"" << W - R - 150 << "\" y=\"" << T + 16 * (s + 1) << "\" fill=\"" << colors[s % 4] << "\">"
      << esc(name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace a4ps::learn
