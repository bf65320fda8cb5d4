#include "image/diff.h"

#include <dtl/dtl.hpp>

#include <sstream>

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
  return r;
}

bool DiffReport::empty() const {
  for (auto& [k, kd] : kinds)
    if (!kd.empty()) return false;
  return true;
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
  return j;
}

std::string DiffReport::to_text() const {
  if (empty()) return "no differences in personas, tools, codex or adapters\n";
  std::ostringstream out;
  for (auto& [k, kd] : kinds) {
    for (auto& c : kd.added) out << "+ " << kind_name(k) << " " << c.name << " (v" << c.to_version << ")\n";
    for (auto& c : kd.removed) out << "- " << kind_name(k) << " " << c.name << " (v" << c.from_version << ")\n";
    for (auto& c : kd.changed)
      out << "~ " << kind_name(k) << " " << c.name << " (v" << c.from_version << " -> v" << c.to_version
          << ")\n" << c.diff;
  }
  return out.str();
}

}  // namespace a4ps::image
