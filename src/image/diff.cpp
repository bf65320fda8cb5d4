#include "image/diff.h"

#include <dtl/dtl.hpp>

#include <algorithm>
#include <sstream>

#include "image/sqlite.h"

namespace a4ps::image {
namespace {

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string describe_change(const Object& a, const Object& b) {
  std::string label = std::string(kind_name(a.kind)) + "/" + a.name;
  std::string out = unified_diff(a.content, b.content, label + "@v" + std::to_string(a.version),
                                 label + "@v" + std::to_string(b.version));
  if (a.meta != b.meta) out += "meta: " + a.meta.dump() + " -> " + b.meta.dump() + "\n";
  if (a.blob_sha256 != b.blob_sha256) out += "blob: " + a.blob_sha256 + " -> " + b.blob_sha256 + "\n";
  return out;
}

// Memory chunks by source, in the order they were added.
std::map<std::string, std::vector<std::string>> memory_sources(const Image& img) {
  std::map<std::string, std::vector<std::string>> out;
  for (auto& [source, text] : img.memory_texts()) out[source].push_back(text);
  return out;
}

std::map<std::string, std::string> settings_of(const Image& img) {
  std::map<std::string, std::string> out;
  sql::Stmt s(img.db(), "SELECT key, value FROM settings");
  while (s.step()) out[s.text(0)] = s.text(1);
  if (auto b = img.meta("base_model_sha256"); !b.empty()) out["base_model"] = b;
  return out;
}

std::string joined(const std::vector<std::string>& chunks) {
  std::string out;
  for (auto& c : chunks) out += c + "\n";
  return out;
}

}  // namespace

std::string unified_diff(const std::string& a, const std::string& b, const std::string& label_a,
                         const std::string& label_b) {
  if (a == b) return "";
  dtl::Diff<std::string> d(lines(a), lines(b));
  d.compose();
  d.composeUnifiedHunks();
  std::ostringstream out;
  out << "--- " << label_a << "\n+++ " << label_b << "\n";
  d.printUnifiedFormat(out);
  return out.str();
}

DiffReport diff(const Image& a, const Image& b) {
  DiffReport r;
  for (Kind k : kAllKinds) {
    KindDiff& kd = r.kinds[k];
    std::map<std::string, Object> in_a, in_b;
    for (auto& o : a.list(k)) in_a.emplace(o.name, o);
    for (auto& o : b.list(k)) in_b.emplace(o.name, o);
    for (auto& [name, oa] : in_a) {
      auto it = in_b.find(name);
      if (it == in_b.end()) {
        kd.removed.push_back({name, oa.version, 0, ""});
      } else if (oa.content != it->second.content || oa.meta != it->second.meta ||
                 oa.blob_sha256 != it->second.blob_sha256) {
        kd.changed.push_back({name, oa.version, it->second.version, describe_change(oa, it->second)});
      }
    }
    for (auto& [name, ob] : in_b)
      if (!in_a.count(name)) kd.added.push_back({name, 0, ob.version, ""});
  }
  auto ma = memory_sources(a), mb = memory_sources(b);
  for (auto& [src, ca] : ma) {
    auto it = mb.find(src);
    auto n = [](auto& v) { return static_cast<int64_t>(v.size()); };
    if (it == mb.end()) r.memories.removed.push_back({src, n(ca), 0, ""});
    else if (ca != it->second)
      r.memories.changed.push_back({src, n(ca), n(it->second), unified_diff(joined(ca), joined(it->second), "memory/" + src, "memory/" + src)});
  }
  for (auto& [src, cb] : mb)
    if (!ma.count(src)) r.memories.added.push_back({src, 0, static_cast<int64_t>(cb.size()), ""});
  auto sa = settings_of(a), sb = settings_of(b);
  for (auto& [k, v] : sa)
    if (auto it = sb.find(k); it == sb.end() || it->second != v) r.settings.push_back({k, v, it == sb.end() ? "" : it->second});
  for (auto& [k, v] : sb)
    if (!sa.count(k)) r.settings.push_back({k, "", v});
  std::sort(r.settings.begin(), r.settings.end(), [](auto& x, auto& y) { return x.key < y.key; });
  return r;
}

bool DiffReport::empty() const {
  for (auto& [k, kd] : kinds)
    if (!kd.empty()) return false;
  return memories.empty() && settings.empty();
}

json DiffReport::to_json() const {
  json j = json::object();
  auto list = [](const std::vector<ObjectChange>& v, bool with_diff) {
    json arr = json::array();
    for (auto& c : v) {
      json e = {{"name", c.name}, {"from_version", c.from_version}, {"to_version", c.to_version}};
      if (with_diff) e["diff"] = c.diff;
      arr.push_back(e);
    }
    return arr;
  };
  for (auto& [k, kd] : kinds)
    j[kind_name(k)] = {{"added", list(kd.added, false)}, {"removed", list(kd.removed, false)},
                       {"changed", list(kd.changed, true)}};
  j["memories"] = {{"added", list(memories.added, false)}, {"removed", list(memories.removed, false)},
                   {"changed", list(memories.changed, true)}};
  j["settings"] = json::array();
  for (auto& c : settings) j["settings"].push_back({{"key", c.key}, {"from", c.from}, {"to", c.to}});
  return j;
}

std::string DiffReport::to_text() const {
  if (empty()) return "no differences in personas, tools, codex, adapters, memories or settings\n";
  std::ostringstream out;
  for (auto& [k, kd] : kinds) {
    for (auto& c : kd.added) out << "+ " << kind_name(k) << " " << c.name << " (v" << c.to_version << ")\n";
    for (auto& c : kd.removed) out << "- " << kind_name(k) << " " << c.name << " (v" << c.from_version << ")\n";
    for (auto& c : kd.changed)
      out << "~ " << kind_name(k) << " " << c.name << " (v" << c.from_version << " -> v" << c.to_version
          << ")\n" << c.diff;
  }
  for (auto& c : memories.added) out << "+ memory " << c.name << " (" << c.to_version << " chunks)\n";
  for (auto& c : memories.removed) out << "- memory " << c.name << " (" << c.from_version << " chunks)\n";
  for (auto& c : memories.changed)
    out << "~ memory " << c.name << " (" << c.from_version << " -> " << c.to_version << " chunks)\n" << c.diff;
  for (auto& c : settings) {
    auto shown = [](const std::string& v) { return v.size() > 60 ? v.substr(0, 57) + "..." : v; };
    if (c.from.empty()) out << "+ setting " << c.key << " = " << shown(c.to) << "\n";
    else if (c.to.empty()) out << "- setting " << c.key << " (was " << shown(c.from) << ")\n";
    else out << "~ setting " << c.key << ": " << shown(c.from) << " -> " << shown(c.to) << "\n";
  }
  return out.str();
}

}  // namespace a4ps::image
