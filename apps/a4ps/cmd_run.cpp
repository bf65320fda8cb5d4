// a4ps run | chat | persona: the agent you talk to.
#include <cstdlib>

#include "cli.h"
#include "image/image.h"

namespace a4ps::cli {

std::string chosen_model(const image::Image& img, const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* e = std::getenv("A4PS_MODEL"); e && *e) return e;
  if (auto s = img.setting("model"); !s.empty()) return s;
  return img.info().base_model_path;
}

void add_run_commands(CLI::App&, Globals&) {}

}  // namespace a4ps::cli
