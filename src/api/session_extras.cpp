// What a program shows of a conversation besides its answers: the state, the steps, a
// copy to go on in, and the transcript. Beside session.cpp, which runs the turns.
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

namespace {

// The newest state of an agent conversation; Error when there is none.
json conversation_state(const Image& image, const std::string& thread) {
  auto cp = graph::image_checkpointer(image.impl().img);
  auto last = cp->get(thread);
  if (!last) throw Error("no thread '" + thread + "' in " + image.path() + "; see `a4ps thread ls " + image.path() + "`");
  if (!last->state.contains("transcript")) throw Error("thread '" + thread + "' is not an agent conversation");
  return last->state;
}

}  // namespace

std::string transcript_markdown(const Image& image, const std::string& thread, bool prompts) {
  return persona::transcript_markdown(conversation_state(image, thread), thread, prompts);
}

std::string transcript_json(const Image& image, const std::string& thread, bool prompts) {
  json st = conversation_state(image, thread);
  return (prompts ? st["transcript"] : persona::without_prompts(st["transcript"])).dump();
}

}  // namespace a4ps
