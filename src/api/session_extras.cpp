// What a program shows of a conversation besides its answers: the state, the steps and a
// copy to go on in. Beside session.cpp, which runs the turns.
#include "api/internal.h"
#include "persona/turn.h"

namespace a4ps {

using json = nlohmann::json;

std::string Session::state_json(const std::string& thread) const {
  auto cp = impl_->cp->get(thread);
  if (!cp) return "";
  json s = cp->state;
  s["transcript"] = persona::without_prompts(s.value("transcript", json::array()));
  return s.dump();
}

std::vector<SessionStep> Session::history(const std::string& thread) const {
  std::vector<SessionStep> out;
  for (auto& c : impl_->cp->list(thread)) out.push_back({c.id, c.step, c.meta.value("source", ""), c.next});
  return out;
}

bool Session::fork(const std::string& thread, const std::string& to) {
  if (to.empty()) throw Error("name the thread to fork into");
  auto cp = impl_->cp->get(thread);
  if (!cp) return false;
  impl_->graph->fork(thread, cp->id, to);
  return true;
}

}  // namespace a4ps
