// The Living Codex: principles (text for persona prompts) and rules, written in a small
// past-time temporal logic over the event log and checked on every event *before* its
// effect commits. A rule must hold at every event.
//
//   formula := formula "->" formula | formula "or" formula | formula "and" formula
//            | formula "since" formula | "not" formula
//            | ("always" | "once" | "previously") "(" formula ")"
//            | field op literal | "true" | "false" | "(" formula ")"
//   field   := kind | actor | seq | payload.NAME[.NAME...]      op := == != < <= > >=
//
// always(f): f held at every event so far; once(f): at some event so far; previously(f):
// at the event before this one (false at the first); f since g: g held at some event
// so far and f at every event after it. A comparison with a payload field the event
// lacks is false. Precedence, loosest first: ->, or, and, since, not.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "util/util.h"

namespace a4ps::codex {

using json = nlohmann::json;

// A rule that does not parse or type-check: where, and what was expected.
class ParseError : public Error {
 public:
  ParseError(int line, int column, const std::string& what)
      : Error("line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + what),
        line(line), column(column) {}
  int line, column;
};

struct Rule {
  std::string name, check, message;
  bool builtin = false;  // removable only through an approved codex amendment
};

struct Principle {
  std::string name, text;
};

struct Codex {
  std::vector<Principle> principles;
  std::vector<Rule> rules;
};

// Parses a codex TOML document ([[principles]] name/text, [[rules]] name/check/message)
// and type-checks every rule; errors name the rule and the position inside it.
Codex parse_codex(std::string_view toml, std::string_view origin = "codex");
// The codex every image starts from; its rules are marked builtin.
Codex default_codex();
// TOML text of a codex, as parse_codex reads it.
std::string to_toml(const Codex& c);

class Formula;  // a compiled, type-checked rule
std::shared_ptr<const Formula> compile(std::string_view source);

// Incremental monitors for a set of rules: O(size of the formula) state per rule,
// independent of the length of the log.
class Monitor {
 public:
  explicit Monitor(const Codex& c);
  ~Monitor();
  Monitor(Monitor&&) noexcept;

  // The rules an event would violate given everything seen so far; the monitors move on
  // tentatively (commit/rollback settle it).
  std::vector<const Rule*> step(const image::Event& e);
  void commit();
  void rollback();
  // The monitors' values after every event stepped so far, as bytes; restore() makes
  // saved ones the committed state at seq (false, and nothing changed: not this codex's).
  std::string save() const;
  bool restore(int64_t seq, std::string_view bytes);
  int64_t seen() const;     // seq of the last committed event
  int64_t stepped() const;  // seq of the last event stepped, committed or not
  size_t rules() const;
  size_t state_size() const;  // values kept between events, over all rules

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Guards an image with a codex: every event passes the monitors before its transaction
// may commit; a violation aborts the transaction and is logged as codex.violation.
// The returned guard must outlive its use by the image.
std::shared_ptr<image::EventGuard> guard(const Codex& c);
// What the guard's saved states are keyed by: these rules, and the monitors' layout.
std::string state_key(const Codex& c);

// A monitor for c that has seen the whole log: from the image's saved state for c where
// it is this log's, then the events after it (a full replay only where none is saved).
Monitor monitor_at_head(const image::Image& img, const Codex& c);

// Replays the log against each codex state the image saved (image::GuardState): a state
// the guard would start from must be the one a replay reaches. Said as problems.
struct StateCheck {
  int64_t verified = 0;
  std::vector<std::string> problems;
};
StateCheck check_saved_states(const image::Image& img);

// The codex an image lives by: its own "codex" document (unless removed), else the default.
Codex image_codex(const image::Image& img);
// Opens an image for writing with its codex guarding every event (every write of the
// CLI, the API and the server goes through one of these).
image::Image open_guarded(const std::filesystem::path& path);

}  // namespace a4ps::codex
