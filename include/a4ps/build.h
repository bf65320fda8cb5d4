// Building images from an Imagefile (a superset of Ollama's Modelfile), layer by layer
// with a cache, and the reverse: an Imagefile that rebuilds an image (what `a4ps build`
// and `a4ps image show --imagefile` do).
//
// Self-modifications in a recipe (PERSONA, TOOL, CODEX, ADAPTER, FINETUNE) become
// proposals approved by the person running the build, in the image's audit log.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "a4ps/error.h"

namespace a4ps {

// A recipe that does not parse, or a step that failed: the message is located like a
// compiler's ("FILE:LINE:COL: error: what; what was expected").
class BuildError : public Error {
 public:
  using Error::Error;
};

struct BuildStep {
  int index = 0, total = 0;  // 1-based
  std::string text;          // the instruction, short (e.g. "MEMORY notes/")
  std::string layer;         // its hash
  bool cached = false;
  double seconds = 0;        // known once it finished
};

struct BuildApproval {
  int64_t proposal = 0;
  std::string kind, target, reviewer, reason;
};

struct BuildOptions {
  std::string imagefile = "Imagefile";
  std::string output;   // write the image here (atomically); output or tag is required
  std::string tag;      // name the result in the build cache (usable as FROM NAME)
  bool no_cache = false;  // run every step again (the cache is refreshed)
  std::string cache_dir;  // "" $A4PS_CACHE/build, else ~/.cache/a4ps/build
  std::string reviewer;   // who approves the recipe's self-modifications ("" the OS user)
  std::string sandbox;    // where TOOL tests run: gvisor or bwrap ("" the strongest that works)
  int threads = 0;        // FINETUNE's CPU threads (0: all cores)
  std::function<void(const BuildStep&)> on_start;  // before each step
  std::function<void(const BuildStep&)> on_step;   // after each step, with its time
};

struct BuildResult {
  std::string layer;  // the final layer's hash
  std::string imagefile_sha256;
  std::vector<BuildStep> steps;
  int cached = 0;     // steps taken from the cache
  std::vector<BuildApproval> approvals;  // the self-modifications, as approved
};

// Builds. Throws BuildError for a bad recipe or a failed step (no output and no temporary
// file is left; the layers of the steps before it stay cached), Error when neither output
// nor tag is given.
BuildResult build_image(const BuildOptions& options);

struct PruneResult {
  int removed = 0, kept = 0;
  uint64_t bytes_freed = 0;
};
// Removes every cached layer no tag reaches. cache_dir "" as in BuildOptions.
PruneResult prune_build_cache(const std::string& cache_dir = "");

// The image file a build tag names; throws Error when there is no such tag.
std::string tagged_image(const std::string& tag, const std::string& cache_dir = "");

// Writes dir/Imagefile (and the files it names, under dir) that rebuilds an image like
// the one at image_or_tag (an image file, or a build tag); returns the Imagefile's path.
std::string write_imagefile(const std::string& image_or_tag, const std::string& dir);

}  // namespace a4ps
