// The public tools API: the image's tools, and code run in the sandbox with them.
#include "a4ps/tools.h"

#include "api/internal.h"
#include "forge/forge.h"
#include "sandbox/sandbox.h"

namespace a4ps {

std::vector<ToolInfo> list_tools(const Image& image) {
  std::vector<ToolInfo> out;
  for (auto& o : image.impl().img.list(image::Kind::Tool))
    if (!o.removed) out.push_back({o.name, o.content, o.version});
  return out;
}

CodeResult run_code(const Image& image, const std::string& code, const CodeOptions& o) {
  auto k = forge::image_kernel(image.impl().img, o.sandbox, {.wall_ms = o.wall_ms});
  auto r = k->run(code);
  return {.ok = r.ok, .value = r.value, .output = r.stdout_text, .error_type = r.error_type, .error = r.error,
          .timed_out = r.timed_out};
}

}  // namespace a4ps
