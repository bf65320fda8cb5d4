// Building an image from an Imagefile, with a layer cache in the spirit of Squeaker: each
// instruction is a layer, a snapshot of the image after it, stored under a hash of its
// parent layer, its instruction, the sha256 of every file it reads and the versions of
// what can change its result. A rebuild reuses every layer whose hash is unchanged.
//
// Self-modifications (PERSONA, TOOL, CODEX, ADAPTER, FINETUNE) go through proposals like
// any other change: the person running the build approves them (reviewer = the OS user,
// reason = "built from Imagefile <sha256>"), in the image's audit log.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "imagefile/parser.h"

namespace a4ps {
class Env;
}

namespace a4ps::image {
class Image;
}

namespace a4ps::imagefile {

namespace fs = std::filesystem;

struct Step {
  int index = 0, total = 0;  // 1-based
  std::string text;          // e.g. "MEMORY notes/"
  std::string layer;         // its hash
  bool cached = false;
  double seconds = 0;
};

struct BuildOptions {
  fs::path imagefile = "Imagefile";
  fs::path output;           // -o: write the image here (atomically)
  std::string tag;           // -t: name the result in the cache
  bool no_cache = false;     // rebuild every layer (and refresh the cache)
  fs::path cache_dir;        // default: cache_dir()
  std::string reviewer;      // default: the OS user running the build
  std::string sandbox;       // TOOL tests: gvisor | bwrap (default: the strongest that works)
  int threads = 0;           // FINETUNE: CPU threads (0: all)
  std::function<void(const Step&)> on_start;  // before each step (cached already known)
  std::function<void(const Step&)> on_step;   // after each step, with its time
  Env* env = nullptr;        // the environment ($A4PS_CACHE, $HOME, $USER); nullptr: Env::Default()
};

struct Approval {
  int64_t proposal = 0;
  std::string kind, target, reviewer, reason;
};

struct BuildResult {
  std::string layer;           // the final layer's hash
  std::string imagefile_sha256;
  std::vector<Step> steps;
  int cached = 0;
  std::vector<Approval> approvals;  // the self-modifications in the image, as approved
};

// Where layers and tags live: $A4PS_CACHE/build, else ~/.cache/a4ps/build.
fs::path cache_dir(Env* env = nullptr);  // $A4PS_CACHE/build, else ~/.cache/a4ps/build

// Builds. A recipe that does not parse, or a step that fails, throws ParseError (one line,
// "FILE:LINE:COL: error: what; what was expected"); a failed build leaves no output and no
// temporary file (the layers of the steps before it stay cached).
BuildResult build(const BuildOptions& opts);

struct PruneResult {
  int removed = 0, kept = 0;
  uint64_t bytes_freed = 0;
};
// Removes every layer that no tag reaches (a tag keeps its layer and all its ancestors).
PruneResult prune(const fs::path& cache = {});

// The tag's image file in the cache; throws Error when there is no such tag.
fs::path tag_path(const std::string& tag, const fs::path& cache = {});

// Writes dir/Imagefile (and the files it names, under dir) that rebuilds an image
// equivalent to img: same personas, tools, codex, adapters, memories and settings.
// Returns the Imagefile's path.
fs::path write_imagefile(const image::Image& img, const fs::path& dir);

}  // namespace a4ps::imagefile
