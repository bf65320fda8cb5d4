// Transitional: the commands not yet moved onto the public API (helper B's cmd_learn and
// cmd_run) still open images through these. Delete this file (and the two declarations
// in cli.h) once none does: apps_are_thin.sh flags its internal includes until then.
#include "cli.h"
#include "codex/codex.h"
#include "image/image.h"

namespace a4ps::cli {

codex::Codex image_codex(const image::Image& img) { return codex::image_codex(img); }

image::Image open_guarded(const std::string& path) { return codex::open_guarded(path); }

}  // namespace a4ps::cli
