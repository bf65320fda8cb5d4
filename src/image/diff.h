// Comparing two images: which personas, tools, codex documents and adapters were
// added, removed or changed (latest versions), with unified source diffs; which memory
// sources differ (their chunks, in order); which settings and base model differ.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "image/image.h"

namespace a4ps::image {

struct ObjectChange {
  std::string name;
  int64_t from_version = 0;  // 0: absent in A
  int64_t to_version = 0;    // 0: absent in B
  std::string diff;          // unified diff of the content, plus meta/blob lines
};

struct KindDiff {
  std::vector<ObjectChange> added, removed, changed;
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};

struct SettingChange {
  std::string key, from, to;  // "" where absent; key "base_model" compares the base GGUF's sha256
};

struct DiffReport {
  std::map<Kind, KindDiff> kinds;  // every kind present, possibly empty
  KindDiff memories;               // by source; versions are chunk counts
  std::vector<SettingChange> settings;
  bool empty() const;
  json to_json() const;
  std::string to_text() const;
};

DiffReport diff(const Image& a, const Image& b);

// Line-based unified diff (3 lines of context); "" when equal.
std::string unified_diff(const std::string& a, const std::string& b, const std::string& label_a,
                         const std::string& label_b);

}  // namespace a4ps::image
