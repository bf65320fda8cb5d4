// The rule language: lexer, parser, type checker and incremental monitors.
#include <cctype>
#include <cstring>
#include <compare>
#include <algorithm>
#include <map>

#include "codex/codex.h"

namespace a4ps::codex {

// ---- the event schema rules are checked against ---------------------------------

namespace {

enum class Type { String, Int, Bool };
const char* type_name(Type t) { return t == Type::String ? "a string" : t == Type::Int ? "a number" : "a boolean"; }

// Payload fields of the events A4PS emits (by name; a name has one type everywhere).
const std::map<std::string, Type>& payload_fields() {
  static const std::map<std::string, Type> f = {
      {"name", Type::String},      {"version", Type::Int},        {"sha256", Type::String},
      {"blob_sha256", Type::String}, {"image_id", Type::String},  {"parent_id", Type::String},
      {"parent_head", Type::String}, {"schema", Type::Int},       {"path", Type::String},
      {"id", Type::Int},           {"source", Type::String},      {"kind", Type::String},
      {"target", Type::String},    {"reason", Type::String},      {"thread", Type::String},
      {"status", Type::String},    {"graph", Type::String},       {"error", Type::String},
      {"event", Type::String},     {"why", Type::String},         {"key", Type::String},
      {"network", Type::String},   {"provider", Type::String},    {"approved", Type::Bool},
      {"persona", Type::String},   {"proposal", Type::Int},       {"i", Type::Int},
      {"size", Type::Int}};
  return f;
}

// ---- lexer -------------------------------------------------------------------------

struct Token {
  enum Kind { Ident, String, Number, Op, LParen, RParen, Dot, End } kind;
  std::string text;
  int line, col;
};

std::vector<Token> lex(std::string_view s) {
  std::vector<Token> out;
  int line = 1, col = 1;
  size_t i = 0;
  auto adv = [&](size_t n) {
    for (size_t k = 0; k < n; ++k, ++i) {
      if (s[i] == '\n') ++line, col = 1;
      else ++col;
    }
  };
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      adv(1);
      continue;
    }
    int l = line, cl = col;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::Ident, std::string(s.substr(i, j - i)), l, cl});
      adv(j - i);
    } else if (std::isdigit(static_cast<unsigned char>(c)) || (c == '-' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i + 1;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      out.push_back({Token::Number, std::string(s.substr(i, j - i)), l, cl});
      adv(j - i);
    } else if (c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) ++j;
        if (s[j] == '\n') throw ParseError(l, cl, "string is not closed before the end of the line");
        v += s[j];
      }
      if (j >= s.size()) throw ParseError(l, cl, "string is not closed (missing \")");
      out.push_back({Token::String, v, l, cl});
      adv(j + 1 - i);
    } else if (c == '(' || c == ')' || c == '.') {
      out.push_back({c == '(' ? Token::LParen : c == ')' ? Token::RParen : Token::Dot, std::string(1, c), l, cl});
      adv(1);
    } else {
      static const char* ops[] = {"->", "==", "!=", "<=", ">=", "<", ">"};
      bool found = false;
      for (const char* op : ops)
        if (s.substr(i, std::strlen(op)) == op) {
          out.push_back({Token::Op, op, l, cl});
          adv(std::strlen(op));
          found = true;
          break;
        }
      if (!found) throw ParseError(l, cl, std::string("unexpected character '") + c + "'");
    }
  }
  out.push_back({Token::End, "end of rule", line, col});
  return out;
}

}  // namespace

// ---- formulas --------------------------------------------------------------------

// A formula is a post-order array of nodes, so evaluation is one pass with no recursion.
class Formula {
 public:
  enum Op { True, False, Cmp, Not, And, Or, Implies, Always, Once, Previously, Since };
  struct Node {
    Op op;
    int a = -1, b = -1;  // children (indices)
    // Cmp
    int field = 0;                // 0 kind, 1 actor, 2 seq, 3 payload path
    std::vector<std::string> path;
    std::string cmp;              // == != < <= > >=
    int cmpk = 0;                 // the same as 0..5, for the hot path
    json value;
  };
  std::vector<Node> nodes;  // root last

  size_t size() const { return nodes.size(); }

  // One step: `now` receives every node's value at this event; `pre` holds the values
  // at the previous event (first: empty).
  bool step(const image::Event& e, const json& payload, const std::vector<uint8_t>& pre, std::vector<uint8_t>& now) const {
    const bool first = pre.empty();
    now.resize(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      bool v = false;
      switch (n.op) {
        case True: v = true; break;
        case False: v = false; break;
        case Cmp: v = compare(n, e, payload); break;
        case Not: v = !now[n.a]; break;
        case And: v = now[n.a] && now[n.b]; break;
        case Or: v = now[n.a] || now[n.b]; break;
        case Implies: v = !now[n.a] || now[n.b]; break;
        case Always: v = now[n.a] && (first || pre[i]); break;
        case Once: v = now[n.a] || (!first && pre[i]); break;
        case Previously: v = !first && pre[n.a]; break;
        case Since: v = now[n.b] || (now[n.a] && !first && pre[i]); break;
      }
      now[i] = v;
    }
    return now.back();
  }

 private:
  // Compares without building values: this runs for every rule on every event.
  static bool compare(const Node& n, const image::Event& e, const json& payload) {
    if (n.field == 0 || n.field == 1) {
      if (!n.value.is_string()) return false;
      const std::string& have = n.field == 0 ? e.kind : e.actor;
      const std::string& want = n.value.get_ref<const std::string&>();
      return n.cmpk == 0 ? have == want : n.cmpk == 1 ? have != want : false;
    }
    if (n.field == 2) return ordered(n.cmpk, e.seq <=> n.value.get<int64_t>());
    const json* p = &payload;
    for (auto& k : n.path) {
      if (!p->is_object()) return false;
      auto it = p->find(k);
      if (it == p->end()) return false;  // missing: the comparison is false
      p = &*it;
    }
    const json& v = *p;
    if (n.value.is_string() != v.is_string() || n.value.is_boolean() != v.is_boolean()) return false;
    if (n.cmpk == 0) return v == n.value;
    if (n.cmpk == 1) return v != n.value;
    if (!v.is_number()) return false;
    return ordered(n.cmpk, v.get<double>() <=> n.value.get<double>());
  }
  template <class Ord>
  static bool ordered(int cmp, Ord o) {
    switch (cmp) {
      case 0: return o == 0;
      case 1: return o != 0;
      case 2: return o < 0;
      case 3: return o <= 0;
      case 4: return o > 0;
      default: return o >= 0;
    }
  }
};

namespace {

class Parser {
 public:
  explicit Parser(std::string_view src) : toks_(lex(src)) {}
  std::shared_ptr<Formula> parse() {
    auto f = std::make_shared<Formula>();
    f_ = f.get();
    implies();
    if (peek().kind != Token::End) fail("expected an operator (->, or, and, since) or the end of the rule");
    return f;
  }

 private:
  const Token& peek() const { return toks_[pos_]; }
  const Token& next() { return toks_[pos_++]; }
  bool is_word(const char* w) const { return peek().kind == Token::Ident && peek().text == w; }
  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError(peek().line, peek().col, what + ", found " + describe(peek()));
  }
  static std::string describe(const Token& t) {
    if (t.kind == Token::End) return "the end of the rule";
    if (t.kind == Token::String) return "\"" + t.text + "\"";
    return "'" + t.text + "'";
  }
  int add(Formula::Node n) {
    f_->nodes.push_back(std::move(n));
    return static_cast<int>(f_->nodes.size()) - 1;
  }
  int binary(Formula::Op op, int a, int b) { return add({op, a, b}); }

  int implies() {
    int a = disj();
    if (peek().kind == Token::Op && peek().text == "->") {
      next();
      int b = implies();  // right-associative
      return binary(Formula::Implies, a, b);
    }
    return a;
  }
  int disj() {
    int a = conj();
    while (is_word("or")) {
      next();
      a = binary(Formula::Or, a, conj());
    }
    return a;
  }
  int conj() {
    int a = since();
    while (is_word("and")) {
      next();
      a = binary(Formula::And, a, since());
    }
    return a;
  }
  int since() {
    int a = unary();
    while (is_word("since")) {
      next();
      a = binary(Formula::Since, a, unary());
    }
    return a;
  }
  int unary() {
    if (is_word("not")) {
      next();
      return add({Formula::Not, unary()});
    }
    for (auto [w, op] : {std::pair{"always", Formula::Always}, {"once", Formula::Once}, {"previously", Formula::Previously}})
      if (is_word(w)) {
        next();
        if (peek().kind != Token::LParen) fail(std::string("expected '(' after ") + w);
        next();
        int a = implies();
        if (peek().kind != Token::RParen) fail("expected ')'");
        next();
        return add({op, a});
      }
    if (peek().kind == Token::LParen) {
      next();
      int a = implies();
      if (peek().kind != Token::RParen) fail("expected ')'");
      next();
      return a;
    }
    if (is_word("true") || is_word("false")) return add({next().text == "true" ? Formula::True : Formula::False});
    return comparison();
  }
  int comparison() {
    if (peek().kind != Token::Ident) fail("expected a formula (a comparison, not, always, once, previously or '(')");
    const Token& ft = next();
    Formula::Node n{Formula::Cmp};
    Type type = Type::String;
    std::string field = ft.text;
    if (field == "kind" || field == "actor") {
      n.field = field == "kind" ? 0 : 1;
    } else if (field == "seq") {
      n.field = 2;
      type = Type::Int;
    } else if (field == "payload") {
      n.field = 3;
      do {
        if (peek().kind != Token::Dot) fail("expected '.' and a field name after payload");
        next();
        if (peek().kind != Token::Ident) fail("expected a field name after '.'");
        n.path.push_back(next().text);
      } while (peek().kind == Token::Dot);
      auto it = payload_fields().find(n.path.front());
      if (n.path.size() == 1) {
        if (it == payload_fields().end())
          throw ParseError(ft.line, ft.col, "no event has a payload field '" + n.path.front() + "'");
        type = it->second;
      }
      field = "payload." + n.path.front();
    } else {
      throw ParseError(ft.line, ft.col, "unknown field '" + field + "'; expected kind, actor, seq or payload.NAME");
    }
    if (peek().kind != Token::Op || peek().text == "->") fail("expected a comparison (== != < <= > >=) after " + field);
    n.cmp = next().text;
    n.cmpk = n.cmp == "==" ? 0 : n.cmp == "!=" ? 1 : n.cmp == "<" ? 2 : n.cmp == "<=" ? 3 : n.cmp == ">" ? 4 : 5;
    const Token& lit = peek();
    Type lt;
    if (lit.kind == Token::String) n.value = lit.text, lt = Type::String;
    else if (lit.kind == Token::Number) {
      try {
        n.value = std::stoll(lit.text);
      } catch (const std::out_of_range&) {  // found by the fuzzer
        throw ParseError(lit.line, lit.col, "number " + lit.text.substr(0, 24) + " is too large");
      }
      lt = Type::Int;
    }
    else if (lit.kind == Token::Ident && (lit.text == "true" || lit.text == "false")) n.value = lit.text == "true", lt = Type::Bool;
    else fail("expected a value (a \"string\", a number, true or false)");
    if (n.path.size() <= 1 && lt != type)
      throw ParseError(lit.line, lit.col, field + " is " + type_name(type) + ", compared with " + type_name(lt));
    if (lt != Type::Int && n.cmp != "==" && n.cmp != "!=")
      throw ParseError(lit.line, lit.col, "only numbers can be ordered with " + n.cmp);
    next();
    return add(std::move(n));
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  Formula* f_ = nullptr;
};

}  // namespace

std::shared_ptr<const Formula> compile(std::string_view source) { return Parser(source).parse(); }

// ---- monitors ---------------------------------------------------------------------

struct Monitor::Impl {
  std::vector<Rule> rules;
  std::vector<std::shared_ptr<const Formula>> formulas;
  std::vector<std::vector<uint8_t>> committed, pending, scratch;
  int64_t seen = 0, pending_seen = 0;
};

Monitor::Monitor(const Codex& c) : impl_(std::make_unique<Impl>()) {
  impl_->rules = c.rules;
  for (auto& r : c.rules) impl_->formulas.push_back(compile(r.check));
  impl_->committed.resize(c.rules.size());
  impl_->pending = impl_->committed;
  impl_->scratch.resize(c.rules.size());
}
Monitor::~Monitor() = default;
Monitor::Monitor(Monitor&&) noexcept = default;

std::vector<const Rule*> Monitor::step(const image::Event& e) {
  json payload = json::parse(e.payload, nullptr, false);
  std::vector<const Rule*> bad;
  for (size_t i = 0; i < impl_->formulas.size(); ++i) {
    if (!impl_->formulas[i]->step(e, payload, impl_->pending[i], impl_->scratch[i])) bad.push_back(&impl_->rules[i]);
    impl_->pending[i].swap(impl_->scratch[i]);
  }
  impl_->pending_seen = e.seq;
  return bad;
}
void Monitor::commit() {
  impl_->committed = impl_->pending;
  impl_->seen = impl_->pending_seen;
}
void Monitor::rollback() {
  impl_->pending = impl_->committed;
  impl_->pending_seen = impl_->seen;
}
// Per rule: its length as 4 bytes (little end first), then its values.
std::string Monitor::save() const {
  std::string out;
  for (auto& st : impl_->pending) {
    uint32_t n = static_cast<uint32_t>(st.size());
    for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((n >> (8 * b)) & 0xff));
    out.append(reinterpret_cast<const char*>(st.data()), st.size());
  }
  return out;
}
bool Monitor::restore(int64_t seq, std::string_view bytes) {
  std::vector<std::vector<uint8_t>> states;
  size_t at = 0;
  for (size_t i = 0; i < impl_->formulas.size(); ++i) {
    if (bytes.size() - at < 4) return false;
    uint32_t n = 0;
    for (int b = 0; b < 4; ++b) n |= uint32_t{static_cast<uint8_t>(bytes[at + b])} << (8 * b);
    at += 4;
    if (bytes.size() - at < n) return false;
    states.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  if (at != bytes.size() || seq < 0) return false;
  impl_->committed = states;
  impl_->pending = std::move(states);
  impl_->seen = impl_->pending_seen = seq;
  return true;
}
int64_t Monitor::seen() const { return impl_->seen; }
int64_t Monitor::stepped() const { return impl_->pending_seen; }
size_t Monitor::rules() const { return impl_->rules.size(); }
size_t Monitor::state_size() const {
  size_t n = 0;
  for (auto& s : impl_->committed) n += s.size();
  return n;
}

}  // namespace a4ps::codex
