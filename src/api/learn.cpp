// The public learning API: ALFRED judges a thread (the golden set is chosen from these).
#include "a4ps/learn.h"

#include "api/internal.h"
#include "learn/learn.h"
#include "llm/model_manager.h"
#include "persona/agent.h"

namespace a4ps {

Judgement judge(Image& image, const std::string& thread, const JudgeOptions& o) {
  image::Image& img = image.impl().img;
  std::string spec = persona::choose_model(img, o.model);
  if (spec.empty()) throw Error("no judge model: set JudgeOptions::model (GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE)");
  llm::ModelManager mm;
  auto backend = llm::open_backend(spec, mm, {"ALFRED", {}, {}});
  auto j = learn::judge_thread(img, *backend, thread);
  auto score = [&](const char* k) { return j.scores.value(k, 0); };
  return {score("task_success"), score("correctness"), score("grace"), score("justice"), score("codex_adherence"), j.rationale};
}

}  // namespace a4ps
