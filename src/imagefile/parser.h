// The Imagefile language: a superset of Ollama's Modelfile. One instruction per line
// (names case-insensitive), `#` comments, values bare, "quoted" (\" \\ \n \t escapes) or
// in a """ block that may span lines. Parsing checks the shape of every instruction, so
// a bad recipe fails before any step runs, with FILE:LINE:COL and what was expected.
//
//   FROM gguf-path [sha256=HEX] | https://...gguf sha256=HEX | ollama:NAME | image.a4ps | TAG | scratch
//   PARAMETER name value          TEMPLATE value       SYSTEM value      LICENSE value
//   ADAPTER file.gguf [scale=S] [name=N] [persona=P]   MESSAGE role value   REQUIRES version
//   PERSONA file.toml | """toml"""                     TOOL name file.py [TESTS file.py]
//   CODEX file.toml    MEMORY file|dir|glob [source=S]  SETTING key value   LABEL key value
//   FINETUNE persona data.jsonl [rank= alpha= steps= epochs= lr= ctx= seed= targets= name=]
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "util/util.h"

namespace a4ps::imagefile {

struct Pos {
  int line = 0, col = 0;  // 1-based
};

// One word or quoted value after the instruction name.
struct Arg {
  std::string text;
  Pos pos;
  bool quoted = false;  // "..." or """...""" (never an option, never split)
};

struct Instruction {
  std::string name;  // upper case: FROM, PARAMETER, ...
  Pos pos;
  std::vector<Arg> args;                     // positional values, in order
  std::map<std::string, Arg> options;        // key=value words (FROM, ADAPTER, MEMORY, FINETUNE)
  std::string canonical() const;             // what the layer hash sees: not spacing or comments
  std::string display() const;               // short form for progress lines
  const Arg& arg(size_t i) const { return args.at(i); }
  std::string opt(const std::string& key, const std::string& fallback = "") const;
};

// FILE:LINE:COL: error: what was wrong; what was expected
class ParseError : public Error {
 public:
  ParseError(const std::string& file, Pos p, const std::string& what)
      : Error(file + ":" + std::to_string(p.line) + ":" + std::to_string(p.col) + ": error: " + one_line(what)), pos(p) {}
  Pos pos;

 private:
  // Quoted input inside a message must not break it over lines.
  static std::string one_line(std::string s) {
    std::string out;
    for (char c : s) {
      if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else out += c;
    }
    return out;
  }
};

// Every instruction the language knows, in documentation order.
const std::vector<std::string>& instruction_names();

// Parses and checks a whole recipe. file names it in errors.
std::vector<Instruction> parse(std::string_view text, const std::string& file = "Imagefile");

// A value written so that parse() reads it back exactly: bare, "quoted" or a """ block.
std::string quote(std::string_view value);
// An option's value (after key=), written so that parse() reads it back exactly.
std::string quote_option(std::string_view value);

}  // namespace a4ps::imagefile
