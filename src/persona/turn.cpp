// Turns as text (persona/turn.h): every place that shows a turn comes here.
#include "persona/turn.h"

#include <sstream>

#include "util/util.h"

namespace a4ps::persona {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string or_unknown(const std::string& s) { return s.empty() ? "?" : s; }

std::string prompt_line(const Turn& t, size_t n) {
  return "- " + or_unknown(t.persona) + " (" + or_unknown(t.kind) + "): " + utf8_clip(t.content, n) + "\n";
}

std::string markdown(const Turn& t, bool prompts) {
  std::string o = "\n**" + t.persona + "** (" + t.kind + ")";
  if (t.kind == "route") o += " → " + (t.route ? t.route->next + ": " + t.route->brief : std::string(": ")) + "\n";
  else if (t.kind == "critique")
    o += ": " + (t.critique ? std::string(verdict_name(t.critique->verdict)) + " — " + t.critique->reasons : std::string(" — ")) + "\n";
  else o += "\n\n" + t.content + "\n";
  if (t.result) o += "\n> sandbox: " + trim(t.result->ok ? t.result->stdout_text : t.result->error) + "\n";
  if (prompts && t.prompt)
    for (auto& m : *t.prompt) o += "\n<details><summary>" + m.role + "</summary>\n\n```\n" + m.content + "\n```\n</details>\n";
  return o;
}

std::string summary(const Turn& t) {
  std::string s = t.persona;
  if (t.kind == "route") s += " → " + (t.route ? t.route->next + ": " + t.route->brief : std::string("?: "));
  else if (t.kind == "critique")
    s += ": " + (t.critique ? std::string(verdict_name(t.critique->verdict)) + " — " + t.critique->reasons : std::string("? — "));
  else s += ": " + t.content;
  if (auto& r = t.result)
    s += "\n  [sandbox] " + std::string(r->ok ? "ran: " : "failed: ") +
         (r->ok ? utf8_clip(r->stdout_text + r->value, 300) : r->error_type + ": " + utf8_clip(r->error, 200));
  if (auto& f = t.forged)
    s += "\n  [forge] " + std::string(f->ok ? "wrote" : "could not write") + " tool " + f->name + " in " +
         std::to_string(f->attempts) + " attempt(s)" +
         (f->proposal && *f->proposal ? "; proposal " + std::to_string(*f->proposal) + " waits for a human" : "");
  if (t.hits) s += "\n  [memory] " + std::to_string(t.hits->size()) + " passage(s) found";
  return s;
}

}  // namespace

std::string render_turn(const Turn& t, const RenderOptions& o) {
  switch (o.format) {
    case TurnFormat::PromptLine: return prompt_line(t, o.max_content);
    case TurnFormat::Markdown: return markdown(t, o.prompts);
    case TurnFormat::Summary: return summary(t);
  }
  return "";
}

std::string transcript_markdown(const nlohmann::json& st, const std::string& thread, bool prompts) {
  AgentState s = state_from_json(st);
  std::ostringstream o;
  o << "# Thread " << thread << "\n";
  int task = -1;
  for (auto& t : s.transcript) {
    if (t.task != task) {
      task = t.task;
      std::string q = task < static_cast<int>(s.history.size()) ? s.history[task].task : s.task;
      o << "\n## Task " << task + 1 << ": " << q << "\n";
    }
    o << render_turn(t, {.format = TurnFormat::Markdown, .prompts = prompts});
  }
  if (s.answer) o << "\n## Answer\n\n" << *s.answer << "\n";
  return o.str();
}

}  // namespace a4ps::persona
