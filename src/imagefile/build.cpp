// The builder and its layer cache. A layer is an image file named by its hash under
// CACHE/layers/, with a small JSON beside it naming its parent (for prune); tags are
// JSON files under CACHE/tags/. Every new file is written under a temporary name and
// renamed when complete, so a failed step leaves nothing behind.
#include "imagefile/build.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/file.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "codex/codex.h"
#include "governance/governance.h"
#include "image/image.h"
#include "learn/learn.h"
#include "llm/llm.h"
#include "llm/model_manager.h"
#include "memory/memory.h"
#include "persona/persona.h"
#include "sandbox/sandbox.h"
#include "util/env.h"

#ifndef A4PS_LLAMA_ID
#define A4PS_LLAMA_ID "unknown"
#endif
#ifndef A4PS_FORGE_SHA256
#define A4PS_FORGE_SHA256 "unknown"
#endif

namespace a4ps::imagefile {
namespace {

using json = nlohmann::json;

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Errors reach the user as one line.
std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

void remove_image_files(const fs::path& p, bool keep_main = false) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    if (*suffix || !keep_main) fs::remove(fs::path(p.string() + suffix), ec);
}

// Settings the Modelfile instructions own; SETTING may not write them.
const std::set<std::string>& reserved_settings() {
  static const std::set<std::string> s = {"parameters", "template", "system", "messages", "license", "requires", "adapters"};
  return s;
}

bool valid_tag(const std::string& t) {
  return !t.empty() && t.size() <= 128 && t[0] != '.' &&
         std::all_of(t.begin(), t.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':'; });
}

std::string os_user(Env* env) {
  if (passwd* pw = getpwuid(geteuid()); pw && pw->pw_name) return pw->pw_name;
  std::string u = env->getenv("USER").value_or("");
  return !u.empty() ? u : "uid-" + std::to_string(geteuid());
}

bool starts_with_bytes(const fs::path& p, std::string_view magic) {
  std::ifstream in(p, std::ios::binary);
  std::string b(magic.size(), '\0');
  in.read(b.data(), static_cast<std::streamsize>(b.size()));
  return in && b == magic;
}

// One file a step reads: how the recipe named it, where it is, its sha256.
struct Input {
  std::string name;
  fs::path path;
  std::string sha256;
};

enum class FromKind { Scratch, Gguf, Url, Ollama, ImageFile, Tag };

struct FromSource {
  FromKind kind{};
  std::string spec;   // the URL, ollama:NAME, or the tag
  fs::path path;      // GGUF or image file
  std::string identity;  // what the layer hash sees
};

// Builds share the cache; prune needs it to itself (it would delete a layer a running
// build has just made and not yet tagged). An flock on CACHE/lock, released on close.
class CacheLock {
 public:
  CacheLock(const fs::path& cache, bool exclusive) {
    std::error_code ec;
    fs::create_directories(cache, ec);
    fd_ = ::open((cache / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot open " + (cache / "lock").string() + "; check the build cache's permissions");
    if (::flock(fd_, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) != 0) {
      ::close(fd_);
      throw Error("a build is using the cache " + cache.string() + "; prune when it has finished");
    }
  }
  ~CacheLock() { ::close(fd_); }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
};

json read_json(const fs::path& p) {
  json j = json::parse(read_file(p), nullptr, false);
  if (j.is_discarded()) throw Error(p.string() + " is not valid JSON (the build cache is damaged); remove it and build again");
  return j;
}

class Builder {
 public:
  explicit Builder(const BuildOptions& o) : o_(o) {
    file_ = o.imagefile.string();
    dir_ = o.imagefile.has_parent_path() ? o.imagefile.parent_path() : fs::path(".");
    cache_ = o.cache_dir.empty() ? cache_dir(o.env) : o.cache_dir;
    layers_ = cache_ / "layers";
    tags_ = cache_ / "tags";
  }
  ~Builder() {
    kernel_.reset();
    std::error_code ec;
    if (!kernel_root_.empty()) fs::remove_all(kernel_root_, ec);
  }

  BuildResult run() {
    if (o_.output.empty() && o_.tag.empty()) throw Error("say where the image goes: -o IMAGE.a4ps or -t NAME");
    if (!o_.tag.empty() && !valid_tag(o_.tag))
      throw Error("tag '" + o_.tag + "' is not valid; use letters, digits, '.', '-', '_' or ':'");
    std::string text = read_file(o_.imagefile);
    auto ins = parse(text, file_);
    BuildResult res;
    res.imagefile_sha256 = sha256_hex(text);
    reviewer_ = o_.reviewer.empty() ? os_user(o_.env ? o_.env : Env::Default()) : o_.reviewer;
    reason_ = "built from Imagefile " + res.imagefile_sha256;
    // FROM is the base whatever its line (Ollama accepts it anywhere); the rest in order.
    std::stable_partition(ins.begin(), ins.end(), [](const Instruction& i) { return i.name == "FROM"; });
    std::error_code ec;
    fs::create_directories(layers_, ec);
    fs::create_directories(tags_, ec);
    if (ec) throw Error("cannot create the build cache " + cache_.string() + ": " + ec.message());
    CacheLock lock(cache_, false);

    std::string parent, from_tag;
    for (size_t i = 0; i < ins.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      const Instruction& in = ins[i];
      std::string identity;
      std::vector<Input> inputs;
      FromSource from;
      if (in.name == "FROM") {
        from = resolve_from(in);
        identity = from.identity;
        if (from.kind == FromKind::Tag) from_tag = from.spec;
      } else {
        inputs = gather(in);
      }
      std::string key = layer_key(parent, in, identity, inputs);
      fs::path layer = layers_ / (key + ".a4ps");
      Step st{static_cast<int>(i + 1), static_cast<int>(ins.size()), in.display(), key, false, 0};
      st.cached = !o_.no_cache && fs::exists(layer, ec);
      if (o_.on_start) o_.on_start(st);
      if (st.cached) {
        ++res.cached;
      } else {
        make_layer(in, from, inputs, parent, layer, key);
      }
      st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      res.steps.push_back(st);
      if (o_.on_step) o_.on_step(st);
      parent = key;
    }
    res.layer = parent;
    fs::path last = layers_ / (parent + ".a4ps");
    for (auto& p : image::Image::open(last, {.read_only = true}).proposals())
      res.approvals.push_back({p.id, p.kind, p.target, p.reviewer, p.reason});
    if (!o_.output.empty()) write_output(last);
    if (!o_.tag.empty())
      write_file(tags_ / (o_.tag + ".json"),
                 json{{"layer", parent}, {"from_tag", from_tag}, {"imagefile", fs::absolute(o_.imagefile).string()},
                      {"imagefile_sha256", res.imagefile_sha256}, {"built_at", now_utc()}}
                     .dump(2));
    return res;
  }

 private:
  [[noreturn]] void fail(Pos p, const std::string& what) const { throw ParseError(file_, p, one_line(what)); }

  std::string folder() const {
    std::string f = fs::absolute(dir_).lexically_normal().string();
    if (f.size() > 1 && f.back() == '/') f.pop_back();
    return f;
  }

  // sha256 of a file. Large files (models, adapters) are hashed once per size, mtime and
  // inode, remembered in the cache, so a rebuild does not read gigabytes to find nothing changed.
  std::string file_sha(const fs::path& p) const {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || st.st_size < (1 << 20)) return sha256_file(p);
    std::string stamp = std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                        std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_ino);
    fs::path memo = cache_ / "hashes" / sha256_hex(fs::absolute(p).lexically_normal().string());
    std::error_code ec;
    if (fs::exists(memo, ec)) {
      std::string m = read_file(memo);
      if (m.size() > 65 && m.substr(0, m.size() - 65) == stamp) return m.substr(m.size() - 64);
    }
    std::string sum = sha256_file(p);
    fs::create_directories(memo.parent_path(), ec);
    try {
      write_file(memo, stamp + " " + sum);
    } catch (const Error&) {
      // only a memo: the next build hashes again
    }
    return sum;
  }

  fs::path resolve(const std::string& p) const {
    fs::path x(p);
    return x.is_absolute() ? x : dir_ / x;
  }

  Input input(const Arg& a) const {
    fs::path p = resolve(a.text);
    std::error_code ec;
    if (!fs::exists(p, ec))
      fail(a.pos, "file '" + a.text + "' does not exist; expected a path relative to the Imagefile's folder (" + folder() + ")");
    if (!fs::is_regular_file(p, ec)) fail(a.pos, "'" + a.text + "' is not a file; expected a regular file");
    return {a.text, p, file_sha(p)};
  }

  // The files an instruction reads, resolved and hashed (this is also where a missing
  // file is reported, before anything runs).
  std::vector<Input> gather(const Instruction& in) const {
    std::vector<Input> out;
    if (in.name == "ADAPTER" || in.name == "CODEX" || (in.name == "PERSONA" && !in.arg(0).quoted)) {
      out.push_back(input(in.arg(0)));
    } else if (in.name == "TOOL") {
      out.push_back(input(in.arg(1)));
      if (in.args.size() == 4) out.push_back(input(in.arg(3)));
    } else if (in.name == "FINETUNE") {
      out.push_back(input(in.arg(1)));
    } else if (in.name == "MEMORY") {
      const Arg& a = in.arg(0);
      fs::path p = resolve(a.text);
      std::error_code ec;
      if (a.text.find_first_of("*?[") != std::string::npos) {
        glob_t g{};
        if (::glob(p.c_str(), 0, nullptr, &g) == 0)
          for (size_t k = 0; k < g.gl_pathc; ++k) {
            fs::path f = g.gl_pathv[k];
            if (fs::is_regular_file(f, ec)) out.push_back({f.lexically_relative(dir_).string(), f, file_sha(f)});
          }
        globfree(&g);
        if (out.empty()) fail(a.pos, "no file matches '" + a.text + "'; expected a pattern that names at least one file");
      } else if (fs::is_directory(p, ec)) {
        for (auto& e : fs::recursive_directory_iterator(p, ec))
          if (e.is_regular_file() && e.path().filename().string()[0] != '.')
            out.push_back({e.path().lexically_relative(dir_).string(), e.path(), file_sha(e.path())});
        if (out.empty()) fail(a.pos, "folder '" + a.text + "' holds no files; expected text files to remember");
      } else {
        out.push_back(input(a));
      }
      std::sort(out.begin(), out.end(), [](auto& x, auto& y) { return x.name < y.name; });
      if (in.options.count("source") && out.size() != 1)
        fail(in.options.at("source").pos, "source= names one file's memories; expected MEMORY FILE source=NAME");
    }
    return out;
  }

  FromSource resolve_from(const Instruction& in) const {
    const Arg& a = in.arg(0);
    const std::string& s = a.text;
    const std::string pin = in.opt("sha256");
    FromSource f;
    std::error_code ec;
    auto pinned_file = [&](const fs::path& p) {
      std::string sum = file_sha(p);
      if (!pin.empty() && lower(pin) != sum)
        fail(in.options.at("sha256").pos, "'" + s + "' has sha256 " + sum + "; expected sha256=" + lower(pin) +
                                              " (a changed file, or a wrong checksum in the Imagefile)");
      return sum;
    };
    if (s == "scratch") {
      f = {FromKind::Scratch, s, {}, "scratch"};
    } else if (s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0) {
      f = {FromKind::Url, s, {}, "url " + s + " " + lower(pin)};
    } else if (s.rfind("ollama:", 0) == 0) {
      if (s.size() == 7) fail(a.pos, "ollama: needs a model name; expected FROM ollama:NAME[:TAG]");
      f = {FromKind::Ollama, s, {}, "ollama " + s};
    } else if (fs::path p = resolve(s); fs::is_regular_file(p, ec)) {
      p = fs::absolute(p).lexically_normal();
      if (starts_with_bytes(p, "GGUF")) {
        f = {FromKind::Gguf, s, p, "gguf " + p.string() + " " + pinned_file(p)};
      } else if (starts_with_bytes(p, std::string("SQLite format 3\0", 16))) {
        if (!o_.output.empty() && fs::exists(o_.output, ec) && fs::equivalent(p, o_.output, ec))
          fail(a.pos, "FROM cycle: the image is built FROM its own output " + s + "; expected FROM another image");
        // An image in use may hold changes in its WAL: name its state by identity, the
        // head of its event chain (every change appends an event) and its checkpoints.
        if (!pin.empty()) pinned_file(p);
        auto i = image::Image::open(p, {.read_only = true}).info();
        f = {FromKind::ImageFile, s, p, "image " + i.id + " " + i.head_hash + " " + std::to_string(i.counts.checkpoints)};
      } else {
        fail(a.pos, "'" + s + "' is neither a GGUF model nor an a4ps image; expected FROM MODEL.gguf or IMAGE.a4ps");
      }
    } else if (valid_tag(s) && fs::exists(tags_ / (s + ".json"), ec)) {
      // Walk the tag's own FROM chain: building -t X FROM Y where Y comes FROM X is a cycle.
      std::vector<std::string> chain = {s};
      for (std::string t = s;;) {
        if (t == o_.tag) {
          std::string path;
          for (auto& c : chain) path += c + " <- ";
          fail(a.pos, "FROM cycle: " + o_.tag + " <- " + path.substr(0, path.size() - 4) + "; expected a FROM that does not lead back to " + o_.tag);
        }
        fs::path tf = tags_ / (t + ".json");
        if (!fs::exists(tf, ec)) break;
        t = read_json(tf).value("from_tag", "");
        if (t.empty() || std::find(chain.begin(), chain.end(), t) != chain.end()) break;
        chain.push_back(t);
      }
      if (!pin.empty()) fail(in.options.at("sha256").pos, "sha256= pins a file or a URL, not a tag; expected FROM " + s);
      std::string layer = read_json(tags_ / (s + ".json")).value("layer", "");
      if (!fs::exists(layers_ / (layer + ".a4ps"), ec))
        fail(a.pos, "tag '" + s + "' names a layer that is no longer in the cache; expected a tag that exists (build it again)");
      f = {FromKind::Tag, s, layers_ / (layer + ".a4ps"), "tag " + layer};
    } else if (s.rfind(".", 0) == 0 || s.rfind("/", 0) == 0 || s.rfind("~", 0) == 0 || s.ends_with(".gguf") ||
               s.ends_with(".a4ps") || s.ends_with(".bin") || s.ends_with(".safetensors")) {
      fail(a.pos, "'" + s + "' does not exist; expected a GGUF or image path relative to the Imagefile's folder, a tag, ollama:NAME or a URL");
    } else {
      // A model name, as Ollama reads one when no such file exists (FROM llama3.2,
      // FROM hf.co/owner/repo:Q4_K_M): an Ollama model.
      f = {FromKind::Ollama, "ollama:" + s, {}, "ollama ollama:" + s};
    }
    if (!pin.empty() && (f.kind == FromKind::Scratch || f.kind == FromKind::Ollama))
      fail(in.options.at("sha256").pos, "sha256= pins a file or a URL; expected no checksum for " + s);
    return f;
  }

  std::string layer_key(const std::string& parent, const Instruction& in, const std::string& identity,
                        const std::vector<Input>& inputs) const {
    std::string k = "a4ps-layer 1\nparent " + parent + "\n" + in.canonical() + "\n" + identity + "\n";
    for (auto& f : inputs) k += "file " + f.name + " " + f.sha256 + "\n";
    // The versions of what can change the result.
    k += "a4ps " A4PS_VERSION "\n";
    if (in.name == "FINETUNE" || in.name == "MEMORY") k += "llama.cpp " A4PS_LLAMA_ID "\n";  // training, embeddings
    if (in.name == "TOOL") k += "sandbox " A4PS_FORGE_SHA256 "\n";
    return sha256_hex(k);
  }

  void make_layer(const Instruction& in, const FromSource& from, const std::vector<Input>& inputs,
                  const std::string& parent, const fs::path& layer, const std::string& key) {
    fs::path tmp = layer;
    tmp += ".tmp-" + random_id().substr(0, 12);
    try {
      if (in.name == "FROM") start_image(in, from, tmp);
      else image::Image::open(layers_ / (parent + ".a4ps"), {.read_only = true}).save_as(tmp);
      {
        auto img = image::Image::open(tmp, {.sync = image::Sync::Normal});
        auto doc = img.get(image::Kind::Codex, "codex");
        img.set_guard(codex::guard(doc ? codex::parse_codex(doc->content, "the image's codex") : codex::default_codex()));
        if (in.name != "FROM") apply(in, img, inputs);
        img.append_event("imagefile.step", reviewer_, {{"instruction", in.display()}, {"layer", key}, {"reason", reason_}});
      }
      write_file(layers_ / (key + ".json"), json{{"parent", parent}, {"instruction", in.display()}, {"built_at", now_utc()}}.dump());
      std::error_code ec;
      remove_image_files(layer, true);  // the rename replaces the file itself atomically
      fs::rename(tmp, layer, ec);
      if (ec) throw Error("cannot store layer " + layer.string() + ": " + ec.message());
    } catch (const ParseError&) {
      remove_image_files(tmp);
      throw;
    } catch (const std::exception& e) {
      remove_image_files(tmp);
      fail(in.pos, in.name + " failed: " + e.what());
    }
  }

  void start_image(const Instruction& in, const FromSource& f, const fs::path& tmp) {
    image::CreateOptions co{.name = "image", .sync = image::Sync::Normal};
    switch (f.kind) {
      case FromKind::Gguf:
        co.base_model = f.path;
        break;
      case FromKind::Url: {
        // A verified download lands in the model folder once; a cached layer never fetches.
        // A file of that name and checksum already in the model folder is the download.
        std::string name = f.spec.substr(f.spec.rfind('/') + 1);
        name = name.substr(0, name.find('?'));
        fs::path have = llm::models_dir() / name;
        std::error_code ec;
        if (!name.empty() && fs::is_regular_file(have, ec) && file_sha(have) == lower(in.opt("sha256"))) {
          co.base_model = have;
          break;
        }
        llm::PullResult r;
        try {
          r = llm::pull_model(f.spec, {.sha256 = lower(in.opt("sha256"))});
        } catch (const Error& e) {
          fail(in.arg(0).pos, e.what());
        }
        co.base_model = r.path;
        break;
      }
      case FromKind::ImageFile:
      case FromKind::Tag:
        image::Image::open(f.path, {.read_only = true}).save_as(tmp);
        return;
      default:
        break;
    }
    auto img = image::Image::create(tmp, co);
    if (f.kind == FromKind::Ollama) img.set_setting("model", f.spec);
  }

  // A self-modification, approved by the person running the build, then applied.
  int64_t approve_and_apply(image::Image& img, int64_t proposal) {
    img.decide(proposal, true, reviewer_, reason_);
    return governance::apply(img, proposal);
  }

  static json setting_json(const image::Image& img, const std::string& key, json fallback) {
    std::string v = img.setting(key);
    if (v.empty()) return fallback;
    json j = json::parse(v, nullptr, false);
    return j.is_discarded() ? fallback : j;
  }

  // Ollama's parameters are numbers, booleans or strings; keep their type.
  static json typed(const std::string& v) {
    if (v == "true") return true;
    if (v == "false") return false;
    json j = json::parse(v, nullptr, false);
    if (!j.is_discarded() && j.is_number()) return j;
    return v;
  }

  sandbox::Kernel& kernel() {
    if (kernel_) return *kernel_;
    char tmpl[] = "/tmp/a4ps-build-XXXXXX";
    if (!mkdtemp(tmpl)) throw Error("cannot create a sandbox workspace under /tmp");
    kernel_root_ = tmpl;
    chmod(tmpl, 0711);  // the sandbox user must reach the workspace inside
    auto p = o_.sandbox.empty() ? sandbox::strongest() : sandbox::parse_provider(o_.sandbox);
    kernel_ = sandbox::Kernel::start({.provider = p, .workspace = kernel_root_ / "work"});
    return *kernel_;
  }

  void apply(const Instruction& in, image::Image& img, const std::vector<Input>& inputs) {
    const std::string& n = in.name;
    if (n == "PARAMETER") {
      json p = setting_json(img, "parameters", json::object());
      const std::string& k = in.arg(0).text;
      if (k == "stop") {
        if (!p["stop"].is_array()) p["stop"] = json::array();
        p["stop"].push_back(in.arg(1).text);
      } else {
        p[k] = typed(in.arg(1).text);
      }
      img.set_setting("parameters", p.dump());
    } else if (n == "TEMPLATE" || n == "SYSTEM" || n == "REQUIRES") {
      img.set_setting(lower(n), in.arg(0).text);
    } else if (n == "LICENSE") {
      json l = setting_json(img, "license", json::array());
      l.push_back(in.arg(0).text);
      img.set_setting("license", l.dump());
    } else if (n == "MESSAGE") {
      json m = setting_json(img, "messages", json::array());
      m.push_back({{"role", in.arg(0).text}, {"content", in.arg(1).text}});
      img.set_setting("messages", m.dump());
    } else if (n == "SETTING") {
      const std::string& k = in.arg(0).text;
      if (reserved_settings().count(k) || k.rfind("label.", 0) == 0)
        fail(in.arg(0).pos, "setting '" + k + "' belongs to its own instruction; expected " +
                                (k.rfind("label.", 0) == 0 ? std::string("LABEL") : upper(k == "messages" ? "message" : k == "parameters" ? "parameter" : k == "adapters" ? "adapter" : k)));
      img.set_setting(k, in.arg(1).text);
    } else if (n == "LABEL") {
      img.set_setting("label." + in.arg(0).text, in.arg(1).text);
    } else if (n == "PERSONA") {
      std::string toml = in.arg(0).quoted ? in.arg(0).text : read_file(inputs.at(0).path);
      approve_and_apply(img, persona::propose_change(img, toml, reason_));
    } else if (n == "CODEX") {
      approve_and_apply(img, governance::propose_amendment(img, read_file(inputs.at(0).path), reason_));
    } else if (n == "TOOL") {
      add_tool(in, img, inputs);
    } else if (n == "MEMORY") {
      // Embedded with the image's base GGUF, as `a4ps memory add` would (never a remote
      // model: a build needs no network); without one, full-text only.
      std::unique_ptr<llm::ModelManager> mm;
      memory::Embedder emb;
      fs::path base = img.meta("base_model_path");
      std::error_code ec;
      if (!base.empty() && fs::is_regular_file(base, ec)) {
        mm = std::make_unique<llm::ModelManager>(llm::ManagerOptions{.n_threads = o_.threads});
        emb = memory::model_embedder(base.string(), *mm);
      }
      for (auto& f : inputs) {
        std::string source = in.opt("source", f.name), text = memory::read_text_file(f.path);
        try {
          memory::add_text(img, text, source, emb);
        } catch (const memory::EmbedError&) {
          emb = {};  // this model does not embed: the text still counts
          memory::add_text(img, text, source, emb);
        }
      }
    } else if (n == "ADAPTER") {
      // An adapter made for another architecture would fail only when a persona loads it.
      fs::path base = img.meta("base_model_path");
      std::error_code ec;
      if (!base.empty() && fs::is_regular_file(base, ec)) {
        std::string want = llm::read_model_info(base).architecture, got = llm::read_model_info(inputs.at(0).path).architecture;
        if (got != want)
          fail(in.arg(0).pos, "adapter '" + in.arg(0).text + "' is for a " + got + " model and the base is " + want +
                                  "; expected an adapter made for this base model");
      }
      std::string bytes = read_file(inputs.at(0).path);
      std::string name = in.opt("name", inputs.at(0).path.stem().string());
      std::string persona = upper(in.opt("persona"));
      approve_and_apply(img, governance::propose_adapter(img, name, bytes, img.meta("base_model_sha256"), persona));
      if (persona.empty()) {  // the image-wide stack, applied in order (Ollama keeps only the last)
        json a = setting_json(img, "adapters", json::array());
        a.push_back({{"name", name}, {"scale", std::stod(in.opt("scale", "1"))}});
        img.set_setting("adapters", a.dump());
      } else if (in.options.count("scale")) {
        fail(in.options.at("scale").pos, "scale= is for the image-wide adapter stack; expected no scale with persona=");
      }
    } else if (n == "FINETUNE") {
      finetune(in, img, inputs);
    }
  }

  void add_tool(const Instruction& in, image::Image& img, const std::vector<Input>& inputs) {
    const std::string& name = in.arg(0).text;
    std::string source = read_file(inputs.at(0).path);
    std::string tests = inputs.size() > 1 ? read_file(inputs.at(1).path) : "";
    auto py = [](const std::string& s) { return "__import__('json').loads(" + json(json(s).dump()).dump() + ")"; };
    sandbox::Kernel& k = kernel();
    // The forge's own ast checks, in the sandbox (parameters are the tool's own choice here).
    auto r = k.run("import a4ps_forge\nprint(__import__('json').dumps(a4ps_forge.check(" + py(source) + ", " + py(name) + ", None)))");
    if (!r.ok) throw Error("the sandbox could not check the tool: " + r.error_type + ": " + r.error);
    auto problems = json::parse(r.stdout_text, nullptr, false);
    if (problems.is_discarded() || !problems.is_array()) throw Error("the tool checker answered something unreadable");
    if (!problems.empty()) {
      std::string why;
      for (auto& p : problems) why += (why.empty() ? "" : "; ") + p.get<std::string>();
      fail(in.arg(1).pos, "tool " + name + " was refused by the forge's checks: " + why + "; expected one function " + name + " using allowed imports");
    }
    // A fresh namespace, as the forge tests a tool.
    auto t = k.run("_ns = {}\nexec(" + py(source) + ", _ns)\nexec(" + py(tests.empty() ? "assert callable(" + name + ")" : tests) + ", _ns)\nTrue");
    if (!t.ok) {
      std::string why = t.timed_out ? "it ran out of time" : t.error_type + (t.error.empty() ? "" : ": " + t.error);
      fail(inputs.size() > 1 ? in.arg(3).pos : in.arg(1).pos,
           "tool " + name + " failed its tests in the sandbox (" + why + "); expected tests that pass");
    }
    auto cur = img.get(image::Kind::Tool, name);
    int64_t id = img.propose(image::ProposalKind::ToolRegister, name,
                             {{"before", cur ? cur->content : ""}, {"after", source}, {"tests", tests}, {"why", reason_},
                              {"sandbox", sandbox::provider_name(k.provider())}});
    approve_and_apply(img, id);
  }

  void finetune(const Instruction& in, image::Image& img, const std::vector<Input>& inputs) {
    std::string persona = upper(in.arg(0).text);
    if (!persona::find(img, persona))
      fail(in.arg(0).pos, "no persona " + persona + " in the image; expected one of ALFRED, BRICK, ROBIN, BABS or a PERSONA above");
    fs::path base = img.meta("base_model_path");
    std::error_code ec;
    if (base.empty() || !fs::is_regular_file(base, ec))
      fail(in.pos, "FINETUNE trains on a local GGUF base model, and this image has none; expected FROM MODEL.gguf");
    auto data = learn::parse_jsonl(read_file(inputs.at(0).path), inputs.at(0).name);
    if (data.empty()) fail(in.arg(1).pos, inputs.at(0).name + " holds no examples; expected JSONL chat examples");
    learn::TrainOptions t;
    t.rank = std::stoi(in.opt("rank", "8"));
    t.alpha = std::stof(in.opt("alpha", std::to_string(2 * t.rank)));
    t.max_steps = std::stoi(in.opt("steps", "0"));
    t.epochs = std::stoi(in.opt("epochs", "1"));
    t.lr = std::stof(in.opt("lr", "0.001"));
    t.n_ctx = std::stoi(in.opt("ctx", "512"));
    t.seed = std::stoull(in.opt("seed", "1"));
    t.batch_size = std::stoi(in.opt("batch", "1"));
    t.grad_accum = std::stoi(in.opt("grad_accum", "1"));
    t.warmup_steps = std::stoi(in.opt("warmup", "0"));
    t.schedule = in.opt("schedule", t.schedule);
    t.weight_decay = std::stof(in.opt("decay", "0"));
    if (in.options.count("targets")) {
      t.targets.clear();
      std::string s = in.opt("targets");
      for (size_t b = 0; b <= s.size();) {
        size_t e = s.find(',', b);
        if (e == std::string::npos) e = s.size();
        if (e > b) t.targets.push_back(s.substr(b, e - b));
        b = e + 1;
      }
    }
    t.threads = o_.threads;
    t.progress = false;
    auto r = learn::train_lora(base, data, t);
    std::string name = in.opt("name", lower(persona) + "-lora");
    json curve = json::array();
    for (float l : r.losses) curve.push_back(l);
    {
      image::Image::Tx tx(img);
      std::string sha = img.store_blob(r.adapter);
      img.append_event("learn.trained", reviewer_,
                       {{"sha256", sha}, {"persona", persona}, {"name", name}, {"size", static_cast<int64_t>(r.adapter.size())},
                        {"lineage", r.lineage}, {"curve", curve}, {"imagefile", reason_}});
      tx.commit();
    }
    approve_and_apply(img, governance::propose_adapter(img, name, r.adapter, img.meta("base_model_sha256"), persona));
  }

  void write_output(const fs::path& layer) {
    fs::path out = o_.output;
    fs::path tmp = out;
    tmp += ".tmp-build-" + random_id().substr(0, 12);
    try {
      // The output is an image of its own: a new identity named after its file, whose
      // recorded parent is the build (every layer carries the FROM layer's identity).
      image::fork(layer, tmp, out.stem().string());
      std::error_code ec;
      remove_image_files(out, true);
      fs::rename(tmp, out, ec);
      if (ec) throw Error("cannot write " + out.string() + ": " + ec.message());
    } catch (...) {
      remove_image_files(tmp);
      throw;
    }
  }

  BuildOptions o_;
  std::string file_, reviewer_, reason_;
  fs::path dir_, cache_, layers_, tags_;
  std::unique_ptr<sandbox::Kernel> kernel_;
  fs::path kernel_root_;
};

}  // namespace

fs::path cache_dir(Env* env) {
  if (!env) env = Env::Default();
  if (auto c = env->getenv("A4PS_CACHE"); c && !c->empty()) return fs::path(*c) / "build";
  return fs::path(env->getenv("HOME").value_or("/tmp")) / ".cache" / "a4ps" / "build";
}

BuildResult build(const BuildOptions& opts) { return Builder(opts).run(); }

fs::path tag_path(const std::string& tag, const fs::path& cache) {
  fs::path c = cache.empty() ? cache_dir() : cache;
  fs::path tf = c / "tags" / (tag + ".json");
  std::error_code ec;
  if (!valid_tag(tag) || !fs::exists(tf, ec)) throw Error("no built image tagged '" + tag + "'; build one with a4ps build -t " + tag);
  return c / "layers" / (read_json(tf).value("layer", "") + ".a4ps");
}

PruneResult prune(const fs::path& cache) {
  fs::path c = cache.empty() ? cache_dir() : cache;
  PruneResult r;
  std::error_code ec;
  if (!fs::is_directory(c, ec)) return r;
  CacheLock lock(c, true);
  std::set<std::string> keep;
  if (fs::is_directory(c / "tags", ec))
    for (auto& e : fs::directory_iterator(c / "tags", ec)) {
      if (e.path().extension() != ".json") continue;
      for (std::string l = read_json(e.path()).value("layer", ""); !l.empty() && !keep.count(l);) {
        keep.insert(l);
        fs::path meta = c / "layers" / (l + ".json");
        l = fs::exists(meta, ec) ? read_json(meta).value("parent", "") : "";
      }
    }
  if (!fs::is_directory(c / "layers", ec)) return r;
  std::set<std::string> seen_kept;
  std::vector<fs::path> doomed;
  for (auto& e : fs::directory_iterator(c / "layers", ec)) {
    std::string f = e.path().filename().string();
    std::string hash = f.substr(0, f.find('.'));
    if (keep.count(hash) && f.find(".tmp-") == std::string::npos) {
      if (f.ends_with(".a4ps")) seen_kept.insert(hash);
      continue;
    }
    doomed.push_back(e.path());
    if (f.ends_with(".a4ps")) ++r.removed;
  }
  for (auto& p : doomed) {
    r.bytes_freed += fs::file_size(p, ec);
    fs::remove(p, ec);
  }
  r.kept = static_cast<int>(seen_kept.size());
  return r;
}

}  // namespace a4ps::imagefile
