// image show --imagefile: the Imagefile (and the files it names) that rebuilds an image.
// Texts the image holds go into files byte for byte; settings become their instructions.
// FINETUNE results come back as ADAPTER lines: the recipe says what the image is, and a
// rebuild does not retrain.
#include <algorithm>
#include <iomanip>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "imagefile/build.h"

namespace a4ps::imagefile {
namespace {

using json = nlohmann::json;

json setting_json(const image::Image& img, const std::string& key, json fallback) {
  std::string v = img.setting(key);
  if (v.empty()) return fallback;
  json j = json::parse(v, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

std::string value_text(const json& v) { return v.is_string() ? quote(v.get<std::string>()) : v.dump(); }

// A file name for an object name (names are validated, but be safe).
std::string safe(std::string s) {
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return s.empty() || s[0] == '.' ? "_" + s : s;
}

}  // namespace

fs::path write_imagefile(const image::Image& img, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir / "files", ec);
  if (ec) throw Error("cannot create " + (dir / "files").string() + ": " + ec.message());
  auto put = [&](const std::string& rel, std::string_view bytes) {
    fs::path p = dir / rel;
    fs::create_directories(p.parent_path(), ec);
    write_file(p, bytes);
    return rel;
  };
  std::ostringstream o;
  auto info = img.info();
  o << "# Rebuilds image \"" << info.name << "\" (id " << info.id << "), written by a4ps image show --imagefile.\n";

  // FROM: the base model by path and checksum, else the model spec, else nothing.
  std::string model = img.setting("model");
  bool model_done = false;
  if (!info.base_model_path.empty()) {
    o << "FROM " << quote(info.base_model_path) << " sha256=" << info.base_model_sha256 << "\n";
  } else if (model.rfind("ollama:", 0) == 0) {
    o << "FROM " << quote(model) << "\n";
    model_done = true;
  } else {
    o << "FROM scratch\n";
  }

  json params = setting_json(img, "parameters", json::object());
  for (auto& [k, v] : params.items()) {
    if (v.is_array())
      for (auto& x : v) o << "PARAMETER " << k << " " << value_text(x) << "\n";
    else
      o << "PARAMETER " << k << " " << value_text(v) << "\n";
  }
  if (auto t = img.setting("template"); !t.empty()) o << "TEMPLATE " << quote(t) << "\n";
  if (auto s = img.setting("system"); !s.empty()) o << "SYSTEM " << quote(s) << "\n";
  for (auto& m : setting_json(img, "messages", json::array()))
    o << "MESSAGE " << m.value("role", "user") << " " << quote(m.value("content", "")) << "\n";
  for (auto& l : setting_json(img, "license", json::array())) o << "LICENSE " << quote(l.get<std::string>()) << "\n";
  if (auto r = img.setting("requires"); !r.empty()) o << "REQUIRES " << quote(r) << "\n";

  if (auto c = img.get(image::Kind::Codex, "codex"); c && !c->removed)
    o << "CODEX " << put("files/codex.toml", c->content) << "\n";
  for (auto& p : img.list(image::Kind::Persona))
    o << "PERSONA " << quote(put("files/personas/" + safe(p.name) + ".toml", p.content)) << "\n";
  for (auto& t : img.list(image::Kind::Tool))
    o << "TOOL " << t.name << " " << quote(put("files/tools/" + safe(t.name) + ".py", t.content)) << "\n";

  // Adapters: the image-wide stack in its order, then persona adapters oldest first.
  auto adapters = img.list(image::Kind::Adapter);
  std::set<std::string> stacked;
  for (auto& a : setting_json(img, "adapters", json::array())) {
    std::string name = a.value("name", "");
    auto obj = img.get(image::Kind::Adapter, name);
    if (!obj || obj->removed) continue;
    stacked.insert(name);
    std::ostringstream scale;
    scale << std::setprecision(9) << a.value("scale", 1.0);
    o << "ADAPTER " << quote(put("files/adapters/" + safe(name) + ".gguf", img.blob(obj->blob_sha256))) << " name=" << name
      << " scale=" << scale.str() << "\n";
  }
  std::sort(adapters.begin(), adapters.end(), [](auto& x, auto& y) { return x.created_at < y.created_at; });
  for (auto& a : adapters) {
    if (stacked.count(a.name)) continue;
    std::string persona = a.meta.value("persona", "");
    o << "ADAPTER " << quote(put("files/adapters/" + safe(a.name) + ".gguf", img.blob(a.blob_sha256))) << " name=" << a.name
      << (persona.empty() ? "" : " persona=" + persona) << "\n";
  }

  // Memories: each chunk as its own file (a chunk is re-added as one chunk), by source.
  {
    int n = 0;
    for (auto& [source, text] : img.memory_texts()) {
      char name[32];
      std::snprintf(name, sizeof name, "files/memories/%05d.txt", ++n);
      o << "MEMORY " << quote(put(name, text)) << " source=" << quote_option(source) << "\n";
    }
  }

  for (auto& k : img.setting_keys()) {
    static const std::set<std::string> own = {"parameters", "template", "system", "messages", "license", "requires", "adapters"};
    if (own.count(k) || (k == "model" && model_done)) continue;
    if (k.rfind("label.", 0) == 0) o << "LABEL " << k.substr(6) << " " << quote(img.setting(k)) << "\n";
    else o << "SETTING " << k << " " << quote(img.setting(k)) << "\n";
  }
  fs::path out = dir / "Imagefile";
  write_file(out, o.str());
  return out;
}

}  // namespace a4ps::imagefile
