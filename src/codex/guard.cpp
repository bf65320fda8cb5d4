// The codex as the image's event guard: its monitors see each event before it commits, and
// their state is saved and restored so that an open need not replay the whole log. Apart
// from the rule language (rules.cpp), which the fuzzer builds alone.
#include <algorithm>

#include "codex/codex.h"
#include "image/image.h"
#include "util/util.h"

namespace a4ps::codex {

namespace {

// Saved states of this layout: a build whose monitors keep other values changes it.
constexpr const char* kStateLayout = "codex-monitors/1:";

class CodexGuard final : public image::EventGuard {
 public:
  explicit CodexGuard(const Codex& c);
  // What the monitors have stepped through, including this transaction's own events,
  // so that catching up never replays them.
  int64_t seen() const override { return m_.stepped(); }
  void catch_up(const image::Event& e) override {
    m_.step(e);  // already committed: it happened, whatever the verdict
    m_.commit();
  }
  std::string check(const image::Event& e) override {
    auto bad = m_.step(e);
    if (bad.empty() || e.kind == "codex.violation") return "";
    std::string why;
    for (auto* r : bad) why += (why.empty() ? "" : "; ") + r->name + (r->message.empty() ? "" : " (" + r->message + ")");
    return "rule " + why;
  }
  void committed() override { m_.commit(); }
  void rolled_back() override { m_.rollback(); }
  std::string state_key() const override { return key_; }
  std::string save_state() const override { return m_.save(); }
  bool restore_state(int64_t seq, std::string_view state) override { return m_.restore(seq, state); }
  Monitor&& monitor() && { return std::move(m_); }

 private:
  Monitor m_;
  std::string key_;
};

}  // namespace

std::string state_key(const Codex& c) {
  Sha256 h;
  for (auto& r : c.rules) h.update(r.name).update("\n").update(r.check).update("\n");
  return std::string(kStateLayout) + h.hex();
}

CodexGuard::CodexGuard(const Codex& c) : m_(c), key_(codex::state_key(c)) {}

std::shared_ptr<image::EventGuard> guard(const Codex& c) { return std::make_shared<CodexGuard>(c); }

Monitor monitor_at_head(const image::Image& img, const Codex& c) {
  CodexGuard g(c);
  img.catch_up(g);  // from the saved state, as an open does
  return std::move(g).monitor();
}

StateCheck check_saved_states(const image::Image& img) {
  StateCheck out;
  auto saved = img.guard_states();
  if (saved.empty()) return out;
  // The codices this image has lived by: its document's versions, and the default.
  std::vector<Codex> codices{default_codex()};
  for (auto& o : img.history(image::Kind::Codex, "codex")) {
    if (o.removed) continue;
    try {
      codices.push_back(parse_codex(o.content));
    } catch (const Error&) {
      // A version this build cannot read matches no saved state: said below if one is left.
    }
  }
  for (auto& s : saved) {
    if (s.key.rfind(kStateLayout, 0) != 0) continue;  // another build's layout: never restored here
    const Codex* c = nullptr;
    for (auto& x : codices)
      if (state_key(x) == s.key) c = &x;
    const std::string where = "the codex's saved state at event " + std::to_string(s.seq);
    if (!c) {
      out.problems.push_back(where + " is for rules this image never had");
      continue;
    }
    Monitor m(*c);
    image::Event last;
    for (int64_t after = 0; after < s.seq;) {
      auto page = img.events(after, std::min<int64_t>(4096, s.seq - after));
      if (page.empty()) break;
      for (auto& e : page) m.step(e);
      last = page.back();
      after = last.seq;
    }
    if (last.seq != s.seq || last.hash != s.event_hash) {
      out.problems.push_back(where + " is for another event log");
      continue;
    }
    if (m.save() != s.state) {
      out.problems.push_back(where + " differs from a replay of the log");
      continue;
    }
    ++out.verified;
  }
  return out;
}

}  // namespace a4ps::codex
