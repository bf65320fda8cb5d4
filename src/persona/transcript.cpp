// The Markdown form of an agent conversation (a4ps thread transcript; the console's too).
#include <sstream>

#include "persona/turn.h"

namespace a4ps::persona {

using json = nlohmann::json;

namespace {
std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

std::string transcript_markdown(const json& st, const std::string& thread, bool prompts) {
  std::ostringstream o;
  o << "# Thread " << thread << "\n";
  auto history = st.value("history", json::array());
  int task = -1;
  for (auto& t : st["transcript"]) {
    int n = t.value("task", 0);
    if (n != task) {
      task = n;
      std::string q = n < static_cast<int>(history.size()) ? history[n].value("task", "") : st.value("task", "");
      o << "\n## Task " << n + 1 << ": " << q << "\n";
    }
    std::string kind = t.value("kind", ""), who = t.value("persona", "");
    o << "\n**" << who << "** (" << kind << ")";
    if (kind == "route") o << " → " << t["route"].value("next", "") << ": " << t["route"].value("brief", "") << "\n";
    else if (kind == "critique") o << ": " << t["critique"].value("verdict", "") << " — " << t["critique"].value("reasons", "") << "\n";
    else o << "\n\n" << t.value("content", "") << "\n";
    if (t.contains("result")) o << "\n> sandbox: " << trim(t["result"].value("ok", false) ? t["result"].value("stdout", "") : t["result"].value("error", "")) << "\n";
    if (prompts && t.contains("prompt"))
      for (auto& m : t["prompt"]) o << "\n<details><summary>" << m.value("role", "") << "</summary>\n\n```\n" << m.value("content", "") << "\n```\n</details>\n";
  }
  if (st.value("answer", json()).is_string()) o << "\n## Answer\n\n" << st["answer"].get<std::string>() << "\n";
  return o.str();
}

}  // namespace a4ps::persona
