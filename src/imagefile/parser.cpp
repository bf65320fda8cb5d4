// The Imagefile parser: a hand-written lexer over lines (the grammar is line-shaped, with
// one multi-line token, the """ block), then a shape check per instruction.
#include "imagefile/parser.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace a4ps::imagefile {
namespace {

// What each instruction takes. rest_from: from this positional on, unquoted words are one
// value, the rest of the line (so Modelfile lines like `SYSTEM You are Mario.` keep their spaces).
struct Shape {
  size_t min_args, max_args;
  int rest_from;
  std::set<std::string> options;
  const char* usage;
};

const std::map<std::string, Shape>& shapes() {
  static const std::map<std::string, Shape> s = {
      {"FROM", {1, 1, -1, {"sha256"}, "FROM MODEL.gguf [sha256=HEX] | https://URL sha256=HEX | ollama:NAME | IMAGE.a4ps | TAG | scratch"}},
      {"PARAMETER", {2, 2, 1, {}, "PARAMETER NAME VALUE"}},
      {"TEMPLATE", {1, 1, 0, {}, "TEMPLATE \"\"\"TEXT\"\"\""}},
      {"SYSTEM", {1, 1, 0, {}, "SYSTEM \"\"\"TEXT\"\"\""}},
      {"ADAPTER", {1, 1, -1, {"scale", "name", "persona"}, "ADAPTER FILE.gguf [scale=S] [name=N] [persona=P]"}},
      {"MESSAGE", {2, 2, 1, {}, "MESSAGE system|user|assistant TEXT"}},
      {"LICENSE", {1, 1, 0, {}, "LICENSE \"\"\"TEXT\"\"\""}},
      {"REQUIRES", {1, 1, -1, {}, "REQUIRES VERSION"}},
      {"PERSONA", {1, 1, -1, {}, "PERSONA FILE.toml or PERSONA \"\"\"TOML\"\"\""}},
      {"TOOL", {2, 4, -1, {}, "TOOL NAME FILE.py [TESTS FILE.py]"}},
      {"CODEX", {1, 1, -1, {}, "CODEX FILE.toml"}},
      {"MEMORY", {1, 1, -1, {"source"}, "MEMORY FILE|DIR|GLOB [source=NAME]"}},
      {"FINETUNE", {2, 2, -1, {"rank", "alpha", "steps", "epochs", "lr", "ctx", "seed", "targets", "name", "batch", "grad_accum", "warmup", "schedule", "decay"},
                    "FINETUNE PERSONA DATA.jsonl [rank=N steps=N epochs=N lr=X alpha=X ctx=N seed=N targets=a,b name=N "
                    "batch=N grad_accum=N warmup=N schedule=cosine|constant decay=X]"}},
      {"SETTING", {2, 2, 1, {}, "SETTING KEY VALUE"}},
      {"LABEL", {2, 2, 1, {}, "LABEL KEY VALUE"}},
  };
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

struct Token {
  Arg arg;
  size_t begin = 0, end = 0;  // byte offsets in the text (for rest-of-line values)
};

class Lexer {
 public:
  Lexer(std::string_view t, const std::string& file) : t_(t), file_(file) {}

  bool at_end() const { return i_ >= t_.size(); }
  char peek(size_t k = 0) const { return i_ + k < t_.size() ? t_[i_ + k] : '\0'; }
  Pos pos() const { return {line_, col_}; }
  void next() {
    if (t_[i_] == '\n') {
      ++line_;
      col_ = 1;
    } else if ((static_cast<unsigned char>(t_[i_]) & 0xC0) != 0x80) {
      ++col_;  // columns count characters, not UTF-8 bytes
    }
    ++i_;
  }
  void skip_blank() {
    while (!at_end() && peek() != '\n' && std::isspace(static_cast<unsigned char>(peek()))) next();
  }
  void skip_line() {
    while (!at_end() && peek() != '\n') next();
  }
  [[noreturn]] void fail(Pos p, const std::string& what) const { throw ParseError(file_, p, what); }

  std::string word() {
    size_t b = i_;
    while (!at_end() && !std::isspace(static_cast<unsigned char>(peek()))) next();
    return std::string(t_.substr(b, i_ - b));
  }

  // The tokens after an instruction name, up to the end of its (last) line.
  std::vector<Token> args() {
    std::vector<Token> out;
    for (;;) {
      skip_blank();
      if (at_end()) return out;
      if (peek() == '\n') {
        next();
        return out;
      }
      Token tk;
      tk.arg.pos = pos();
      tk.begin = i_;
      if (t_.substr(i_, 3) == "\"\"\"") {
        for (int k = 0; k < 3; ++k) next();
        size_t close = t_.find("\"\"\"", i_);
        if (close == std::string_view::npos)
          fail(tk.arg.pos, "unterminated \"\"\" block; expected a closing \"\"\" before the end of the file");
        std::string_view body = t_.substr(i_, close - i_);
        // A block that starts on the next line does not start with that line break.
        if (body.substr(0, 2) == "\r\n") body.remove_prefix(2);
        else if (body.substr(0, 1) == "\n") body.remove_prefix(1);
        tk.arg.text = std::string(body);
        tk.arg.quoted = true;
        while (i_ < close + 3) next();
      } else if (peek() == '"') {
        tk.arg.text = dq(tk.arg.pos);
        tk.arg.quoted = true;
      } else {
        // A bare word; an option's value may be quoted: source="my notes.md".
        while (!at_end() && !std::isspace(static_cast<unsigned char>(peek()))) {
          if (peek() == '"' && !tk.arg.text.empty() && tk.arg.text.back() == '=') {
            tk.arg.text += dq(pos());
            continue;
          }
          tk.arg.text += peek();
          next();
        }
      }
      tk.end = i_;
      out.push_back(std::move(tk));
    }
  }

  std::string_view text() const { return t_; }

  // A "double-quoted" value on one line; \" \\ \n \t escapes, any other escaped
  // character stands for itself.
  std::string dq(Pos start) {
    next();
    std::string v;
    for (;;) {
      if (at_end() || peek() == '\n') fail(start, "unterminated \"string\"; expected a closing \" on the same line");
      char c = peek();
      next();
      if (c == '"') return v;
      if (c == '\\' && !at_end() && peek() != '\n') {
        char e = peek();
        next();
        v += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        v += c;
      }
    }
  }

 private:
  std::string_view t_;
  const std::string& file_;
  size_t i_ = 0;
  int line_ = 1, col_ = 1;
};

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

bool is_number(const std::string& s, bool integer) {
  if (s.empty() || s.size() > 30) return false;
  size_t used = 0;
  try {
    if (integer) {
      long long v = std::stoll(s, &used);
      if (v < 0) return false;
    } else {
      std::stod(s, &used);
    }
  } catch (...) {
    return false;
  }
  return used == s.size();
}

bool is_key(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; });
}

void check_option(Lexer& lx, const std::string& ins, const std::string& key, const Arg& v) {
  auto bad = [&](const std::string& want) { lx.fail(v.pos, ins + " option " + key + "='" + v.text + "' is not valid; expected " + want); };
  if (key == "sha256" && !is_hex64(v.text)) bad("64 hexadecimal digits");
  if ((key == "rank" || key == "steps" || key == "epochs" || key == "ctx" || key == "seed" || key == "batch" || key == "grad_accum" ||
       key == "warmup") && !is_number(v.text, true)) bad("a whole number");
  if ((key == "scale" || key == "alpha" || key == "lr" || key == "decay") && !is_number(v.text, false)) bad("a number");
  if (key == "schedule" && v.text != "cosine" && v.text != "constant") bad("cosine or constant");
  if ((key == "name" || key == "persona") && !is_key(v.text)) bad("letters, digits, '.', '-' or '_'");
  if (v.text.empty()) bad("a value after '='");
}

Instruction shape_check(Lexer& lx, Instruction ins, std::vector<Token> toks) {
  const Shape& s = shapes().at(ins.name);
  auto usage = std::string("expected ") + s.usage;
  // Rest-of-line values: unquoted words from rest_from on are one value, spaces kept.
  if (s.rest_from >= 0 && toks.size() > static_cast<size_t>(s.rest_from) + 1) {
    size_t k = static_cast<size_t>(s.rest_from);
    for (size_t j = k; j < toks.size(); ++j)
      if (toks[j].arg.quoted)
        lx.fail(toks[j].arg.pos, ins.name + " takes one value: plain text to the end of the line or one quoted value; " + usage);
    Token merged = toks[k];
    merged.end = toks.back().end;
    merged.arg.text = std::string(lx.text().substr(merged.begin, merged.end - merged.begin));
    toks.resize(k);
    toks.push_back(std::move(merged));
  }
  for (auto& tk : toks) {
    auto eq = tk.arg.text.find('=');
    bool option = !tk.arg.quoted && !s.options.empty() && ins.args.size() >= s.min_args && eq != std::string::npos && eq > 0;
    if (option) {
      std::string key = tk.arg.text.substr(0, eq);
      if (!s.options.count(key)) {
        std::string known;
        for (auto& o : s.options) known += (known.empty() ? "" : ", ") + o + "=";
        lx.fail(tk.arg.pos, "unknown " + ins.name + " option '" + key + "'; expected " + known);
      }
      if (ins.options.count(key)) lx.fail(tk.arg.pos, "option '" + key + "' is given twice; expected it once");
      Arg v{tk.arg.text.substr(eq + 1), {tk.arg.pos.line, tk.arg.pos.col + static_cast<int>(eq) + 1}, false};
      check_option(lx, ins.name, key, v);
      ins.options[key] = v;
      continue;
    }
    if (!ins.options.empty()) lx.fail(tk.arg.pos, "'" + tk.arg.text.substr(0, 40) + "' after the options of " + ins.name + "; " + usage);
    if (ins.args.size() >= s.max_args) lx.fail(tk.arg.pos, "unexpected '" + tk.arg.text.substr(0, 40) + "'; " + usage);
    ins.args.push_back(tk.arg);
  }
  if (ins.args.size() < s.min_args) {
    Pos p = ins.pos;
    p.col += static_cast<int>(ins.name.size()) + 1;
    lx.fail(p, ins.name + " is missing " + (ins.args.empty() ? "its value" : "a value") + "; " + usage);
  }
  // Per instruction details.
  if (ins.name == "TOOL") {
    if (ins.args.size() == 3) lx.fail(ins.args[2].pos, "TESTS needs a file; " + usage);
    if (ins.args.size() == 4 && upper(ins.args[2].text) != "TESTS")
      lx.fail(ins.args[2].pos, "unexpected '" + ins.args[2].text.substr(0, 40) + "'; " + usage);
    const std::string& n = ins.args[0].text;
    if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0])) ||
        !std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }))
      lx.fail(ins.args[0].pos, "tool name '" + n.substr(0, 40) + "' is not a Python identifier; expected letters, digits and '_'");
  } else if (ins.name == "MESSAGE") {
    const std::string r = ins.args[0].text;
    if (r != "system" && r != "user" && r != "assistant")
      lx.fail(ins.args[0].pos, "unknown MESSAGE role '" + r.substr(0, 40) + "'; expected system, user or assistant");
  } else if (ins.name == "PARAMETER" || ins.name == "SETTING" || ins.name == "LABEL") {
    if (!is_key(ins.args[0].text)) lx.fail(ins.args[0].pos, ins.name + " name '" + ins.args[0].text.substr(0, 40) + "' is not valid; expected letters, digits, '.', '-' or '_'");
  } else if (ins.name == "FINETUNE") {
    if (!is_key(ins.args[0].text)) lx.fail(ins.args[0].pos, "persona name '" + ins.args[0].text.substr(0, 40) + "' is not valid; expected letters, digits, '-' or '_'");
  } else if (ins.name == "FROM") {
    const std::string& src = ins.args[0].text;
    bool url = src.rfind("https://", 0) == 0 || src.rfind("http://", 0) == 0;
    if (url && !ins.options.count("sha256"))
      lx.fail(ins.args[0].pos, "FROM a URL needs its checksum; expected FROM " + src.substr(0, 60) + " sha256=HEX");
  }
  for (auto& a : ins.args)
    if (a.text.empty() && ins.name != "SYSTEM" && ins.name != "TEMPLATE" && ins.name != "LICENSE" && ins.name != "MESSAGE" &&
        ins.name != "SETTING" && ins.name != "LABEL")
      lx.fail(a.pos, ins.name + " has an empty value; " + usage);
  return ins;
}

}  // namespace

const std::vector<std::string>& instruction_names() {
  static const std::vector<std::string> n = {"FROM", "PARAMETER", "TEMPLATE", "SYSTEM", "ADAPTER", "MESSAGE", "LICENSE", "REQUIRES",
                                             "PERSONA", "TOOL", "CODEX", "MEMORY", "FINETUNE", "SETTING", "LABEL"};
  return n;
}

std::string Instruction::opt(const std::string& key, const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second.text;
}

std::string Instruction::canonical() const {
  // Length-prefixed fields: no spelling of two different instructions collides.
  std::string out = name;
  auto add = [&](const std::string& s) { out += "\x1f" + std::to_string(s.size()) + ":" + s; };
  for (auto& a : args) add(a.text);
  for (auto& [k, v] : options) add(k + "=" + v.text);
  return out;
}

std::string Instruction::display() const {
  std::string out = name;
  for (auto& a : args) {
    std::string t = a.text.substr(0, a.text.find('\n'));
    if (t.size() > 40) t = t.substr(0, 37) + "...";
    out += " " + (a.quoted && a.text.find('\n') != std::string::npos ? std::string("\"\"\"…\"\"\"") : t);
  }
  for (auto& [k, v] : options) out += " " + k + "=" + (k == "sha256" ? v.text.substr(0, 12) : v.text);
  return out;
}

std::vector<Instruction> parse(std::string_view text, const std::string& file) {
  Lexer lx(text, file);
  std::vector<Instruction> out;
  int from_line = 0;
  for (;;) {
    lx.skip_blank();
    if (lx.at_end()) break;
    if (lx.peek() == '\n') {
      lx.next();
      continue;
    }
    if (lx.peek() == '#') {
      lx.skip_line();
      continue;
    }
    Instruction ins;
    ins.pos = lx.pos();
    std::string w = lx.word();
    ins.name = upper(w);
    if (!shapes().count(ins.name)) {
      std::string known;
      for (auto& n : instruction_names()) known += (known.empty() ? "" : ", ") + n;
      lx.fail(ins.pos, "unknown instruction '" + w.substr(0, 40) + "'; expected one of " + known);
    }
    out.push_back(shape_check(lx, std::move(ins), lx.args()));
    if (out.back().name == "FROM") {
      if (from_line) lx.fail(out.back().pos, "a second FROM (the first is on line " + std::to_string(from_line) + "); expected one FROM per Imagefile");
      from_line = out.back().pos.line;
    }
  }
  if (!from_line)
    throw ParseError(file, {1, 1}, "no FROM instruction; expected FROM followed by a model, an image, a tag or scratch");
  return out;
}

namespace {
// v in double quotes, with its quotes, backslashes, newlines and tabs escaped.
std::string double_quoted(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out + "\"";
}
}  // namespace

std::string quote_option(std::string_view v) {
  if (!v.empty() && std::none_of(v.begin(), v.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\\'; }))
    return std::string(v);
  return double_quoted(v);
}

std::string quote(std::string_view v) {
  bool bare = !v.empty() && v.front() != '#' && std::none_of(v.begin(), v.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\\' || c == '=';
  });
  if (bare) return std::string(v);
  // A block reads back exactly unless the value holds """ or ends with a quote (which
  // would touch the closing """).
  if (v.find('\n') != std::string_view::npos && v.find("\"\"\"") == std::string_view::npos && v.back() != '"')
    return "\"\"\"\n" + std::string(v) + "\"\"\"";
  return double_quoted(v);
}

}  // namespace a4ps::imagefile
