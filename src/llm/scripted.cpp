#include <fstream>

#include <nlohmann/json.hpp>

#include "llm/backend.h"
#include "util/util.h"

namespace a4ps::llm {

std::vector<float> Backend::embed(const std::string&) {
  throw Error("the " + name() + " backend does not provide embeddings");
}

namespace {

class Scripted final : public Backend {
 public:
  Scripted(const std::filesystem::path& path, std::string persona) : path_(path), persona_(std::move(persona)) {
    std::ifstream in(path);
    if (!in) throw Error("cannot read script " + path.string() + "; check the path");
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string())
        throw Error("script " + path.string() + " line " + std::to_string(n) + ": expected {\"text\": \"...\"}");
      entries_.push_back({j["text"], j.value("persona", ""), j.value("match", ""), false});
    }
  }
  std::string name() const override { return "scripted (fake; replays " + path_.filename().string() + ")"; }

  ChatResult chat(const ChatRequest& req) override {
    std::string last_user;
    for (auto& m : req.messages)
      if (m.role == "user") last_user = m.content;
    for (auto& e : entries_) {
      if (e.used || (!e.persona.empty() && e.persona != persona_) ||
          (!e.match.empty() && last_user.find(e.match) == std::string::npos))
        continue;
      e.used = true;
      ChatResult r;
      r.text = e.text;
      r.finish_reason = "stop";
      for (auto& s : req.stop)
        if (auto p = r.text.find(s); !s.empty() && p != std::string::npos) r.text.resize(p);
      if (req.on_token && !req.on_token(r.text)) r.finish_reason = "cancelled";
      r.completion_tokens = static_cast<int>(r.text.size());
      // The fake's tokens are bytes, the prompt's as well: usage counts move like a model's.
      for (auto& m : req.messages) r.prompt_tokens += static_cast<int>(m.content.size());
      return r;
    }
    throw Error("scripted backend " + path_.string() + " has no response left for " +
                (persona_.empty() ? std::string("this turn") : "persona " + persona_) +
                " (last user message: \"" + last_user.substr(0, 60) + "\"); add a line to the script");
  }

 private:
  struct Entry {
    std::string text, persona, match;
    bool used;
  };
  std::filesystem::path path_;
  std::string persona_;
  std::vector<Entry> entries_;
};

}  // namespace

std::unique_ptr<Backend> scripted_backend(const std::filesystem::path& script, std::string persona) {
  return std::make_unique<Scripted>(script, std::move(persona));
}

}  // namespace a4ps::llm
