// libFuzzer target: any input either compiles to a rule or is refused with a
// ParseError/Error; and a compiled rule can be stepped over a few events.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codex/codex.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view src(reinterpret_cast<const char*>(data), size);
  try {
    a4ps::codex::compile(src);
    a4ps::codex::Monitor m(a4ps::codex::Codex{{}, {{"r", std::string(src), "", false}}});
    for (int64_t i = 1; i <= 3; ++i) {
      m.step({i, "t", i == 2 ? "tool.version_added" : "proposal.applied", "fuzz",
              R"({"kind": "tool.register", "version": 2, "name": "x"})", "", ""});
      m.commit();
    }
  } catch (const a4ps::Error&) {
    // refused with a message: fine
  }
  return 0;
}
