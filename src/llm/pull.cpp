// Pulling models over HTTP(S): resumable, verified, never a half-file under the real name.
#include <httplib.h>

#include <cstdlib>
#include <fstream>

#include "llm/llm.h"
#include "util/env.h"
#include "util/util.h"

namespace a4ps::llm {

fs::path models_dir() {
  Env* env = Env::Default();
  if (auto d = env->getenv("A4PS_MODELS"); d && !d->empty()) return *d;
  return fs::path(env->getenv("HOME").value_or("/tmp")) / ".cache" / "a4ps" / "models";
}

fs::path adapter_file(const std::string& sha256, const std::function<std::string()>& bytes) {
  fs::path f = models_dir() / "adapters" / (sha256 + ".gguf");
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  if (!fs::exists(f, ec)) {
    fs::create_directories(f.parent_path());
    write_file(f, bytes());
    prune_adapter_files(f.parent_path(), kAdapterFileIdle, f);
  } else if (auto t = fs::last_write_time(f, ec); !ec && now - t > std::chrono::hours(24)) {
    fs::last_write_time(f, now, ec);  // in use: kept by the pruning (a day's precision is plenty)
  }
  return f;
}

void prune_adapter_files(const fs::path& dir, std::chrono::hours idle, const fs::path& keep) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& f = it->path();
    if (f.extension() != ".gguf" || f == keep || !it->is_regular_file(ec)) continue;
    std::error_code e2;
    if (auto t = fs::last_write_time(f, e2); !e2 && now - t > idle) fs::remove(f, e2);  // best effort: a cache
  }
}

namespace {

// "hf-repo/owner/name/file.gguf" -> the repository's download address for that file.
std::string resolve(const std::string& src) {
  if (src.rfind("http://", 0) == 0 || src.rfind("https://", 0) == 0) return src;
  const std::string hf = "hf-repo/";
  if (src.rfind(hf, 0) == 0) {
    std::string rest = src.substr(hf.size());
    auto a = rest.find('/'), b = a == std::string::npos ? a : rest.find('/', a + 1);
    if (b == std::string::npos || b + 1 >= rest.size())
      throw Error("'" + src + "' should look like hf-repo/OWNER/REPO/FILE.gguf");
    return "https://huggingface.co/" + rest.substr(0, b) + "/resolve/main/" + rest.substr(b + 1);
  }
  throw Error("cannot pull '" + src + "': give an http(s):// URL or hf-repo/OWNER/REPO/FILE.gguf");
}

}  // namespace

PullResult pull_model(const std::string& source, const PullOptions& opts) {
  const std::string url = resolve(source);
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme + 3);
  std::string host = url.substr(0, slash), path = slash == std::string::npos ? "/" : url.substr(slash);
  std::string name = opts.name.empty() ? path.substr(path.rfind('/') + 1) : opts.name;
  if (auto q = name.find('?'); q != std::string::npos) name.resize(q);
  if (name.empty()) throw Error("cannot tell a file name from " + url + "; pass --name");
  fs::path dir = opts.dir.empty() ? models_dir() : opts.dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create " + dir.string() + ": " + ec.message());
  PullResult r;
  r.path = dir / name;
  fs::path part = r.path;
  part += ".part";

  // What a previous, interrupted pull left is kept and continued.
  auto h = std::make_unique<Sha256>();
  uint64_t have = 0;
  if (fs::exists(part, ec)) {
    std::ifstream in(part, std::ios::binary);
    std::string buf(1 << 20, '\0');
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      h->update(buf.data(), static_cast<size_t>(in.gcount()));
      have += static_cast<uint64_t>(in.gcount());
    }
  }
  httplib::Client cli(host);
  cli.set_follow_location(true);  // repositories redirect to their file storage
  cli.set_connection_timeout(10);
  cli.set_read_timeout(60);
  httplib::Headers headers;
  if (have) headers.emplace("Range", "bytes=" + std::to_string(have) + "-");
  std::ofstream out;
  uint64_t total = 0, done = have;
  bool started = false;
  std::string http_error;
  auto res = cli.Get(
      path, headers,
      [&](const httplib::Response& resp) {
        if (resp.status == 206 && have) {
          r.resumed_from = have;
          out.open(part, std::ios::binary | std::ios::app);
        } else if (resp.status == 200 || resp.status == 416) {
          if (resp.status == 416) return true;  // nothing left to fetch: the part is complete
          have = done = 0;  // the server ignored the range: start again
          h = std::make_unique<Sha256>();
          out.open(part, std::ios::binary | std::ios::trunc);
        } else {
          http_error = "HTTP " + std::to_string(resp.status);
          return false;
        }
        if (auto len = resp.get_header_value("Content-Length"); !len.empty()) total = done + std::stoull(len);
        started = true;
        return static_cast<bool>(out);
      },
      [&](const char* data, size_t n) {
        out.write(data, static_cast<std::streamsize>(n));
        h->update(data, n);
        done += n;
        if (opts.progress) opts.progress(done, total);
        return static_cast<bool>(out);
      });
  out.close();
  if (!http_error.empty()) throw Error("pulling " + url + " failed: the server answered " + http_error);
  if (!res)
    throw Error("pulling " + url + " failed (" + httplib::to_string(res.error()) + "); " +
                (started ? "run the same command again to resume" : "check the address and your network") +
                ", or point --model at a local GGUF file");
  if (res->status == 416 && !have) throw Error("pulling " + url + " failed: the server answered HTTP 416");
  if (!out && started) throw Error("writing " + part.string() + " failed (disk full?)");
  r.bytes = done;
  r.sha256 = h->hex();
  if (!opts.sha256.empty() && r.sha256 != opts.sha256) {
    fs::remove(part, ec);
    throw Error("the download of " + url + " has sha256 " + r.sha256 + ", expected " + opts.sha256 +
                "; the partial file was removed, pull again");
  }
  fs::rename(part, r.path);
  return r;
}

DefaultModel default_model() {
  // Qwen2.5-0.5B-Instruct, Q4_K_M (Apache-2.0, not gated): small enough for any laptop.
  DefaultModel m{
      .name = "qwen2.5-0.5b-instruct-q4_k_m.gguf",
      .url = "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/"
             "9217f5db79a29953eb74d5343926648285ec7e67/qwen2.5-0.5b-instruct-q4_k_m.gguf",
      .sha256 = "74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db",
      .bytes = 491400032};
  if (auto u = Env::Default()->getenv("A4PS_DEFAULT_MODEL_URL"); u && !u->empty()) m.url = *u;
  return m;
}

fs::path ensure_default_model(const std::function<void(uint64_t, uint64_t)>& progress) {
  DefaultModel m = default_model();
  fs::path f = models_dir() / m.name;
  std::error_code ec;
  if (fs::exists(f, ec) && fs::file_size(f, ec) == m.bytes) return f;  // verified when it was pulled
  try {
    return pull_model(m.url, {.sha256 = m.sha256, .name = m.name, .progress = progress}).path;
  } catch (const Error& e) {
    std::string why = e.what();
    why = why.substr(0, why.find("; "));  // pull's own advice does not fit here
    throw Error("no model chosen, and the default model could not be downloaded (" + why +
                "); point --model or A4PS_MODEL at a local GGUF file, ollama:NAME or openai:URL#MODEL");
  }
}

}  // namespace a4ps::llm
