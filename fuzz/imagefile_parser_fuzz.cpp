// libFuzzer target: any input either parses as an Imagefile or is refused with one
// ParseError line that names a position inside the input; and every value of a parsed
// recipe, written back with quote(), reads back exactly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "imagefile/parser.h"

using namespace a4ps::imagefile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view src(reinterpret_cast<const char*>(data), size);
  std::vector<Instruction> ins;
  try {
    ins = parse(src);
  } catch (const ParseError& e) {
    std::string_view m = e.what();
    if (m.find('\n') != std::string_view::npos || e.pos.line < 1 || e.pos.col < 1) __builtin_trap();
    return 0;
  }
  for (auto& i : ins) {
    (void)i.canonical();
    (void)i.display();
    for (auto& a : i.args) {
      auto back = parse("FROM scratch\nSETTING k " + quote(a.text) + "\n");
      if (back.at(1).args.at(1).text != a.text) __builtin_trap();
    }
    for (auto& [k, v] : i.options) {
      auto back = parse("FROM scratch\nMEMORY f source=" + quote_option(v.text) + "\n");
      if (back.at(1).opt("source") != v.text) __builtin_trap();
    }
  }
  return 0;
}
