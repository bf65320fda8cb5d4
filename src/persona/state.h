// The agent graph's state, typed: what the personas share while they work on a task, and
// each turn of the transcript. The graph stores it as JSON in every checkpoint; the keys
// are named only in state.cpp, and they are those of every image written so far, so
// old threads still resume.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace a4ps::persona {

// The routing word for "ALFRED writes the answer now" (not a persona's name).
inline constexpr const char* kAnswerRoute = "ANSWER";

// Who works next, and one sentence for them. parsed: the router's reply was valid JSON.
struct Route {
  std::string next = kAnswerRoute;
  std::string brief;
  bool parsed = true;
};

enum class Verdict { Accept, Revise };
const char* verdict_name(Verdict v);                       // "accept", "revise"
std::optional<Verdict> parse_verdict(const std::string& s);  // none: any other word

// The critic's review of a draft. back_to_brick (state only, not in the turn): the
// critique sends the work back to the builder for another round.
struct Critique {
  Verdict verdict = Verdict::Accept;
  std::string reasons;
  bool parsed = true;
  bool back_to_brick = false;
};

// What code did in the sandbox.
struct CodeResult {
  bool ok = false;
  std::string stdout_text, value, error_type, error;
};

// The builder's work: its text, the code in it (if any) and what that code did.
struct Draft {
  std::string text, code;
  std::optional<CodeResult> result;
};

// A passage memory search found (clipped for the state).
struct Hit {
  int64_t id = 0;
  std::string source;
  double score = 0;
  std::string text;
};

// What the researcher reported, and the passages it read.
struct Notes {
  std::string text;
  std::vector<Hit> hits;
};

// A tool the forge wrote for a missing function; proposal waits for a human when it worked.
struct Forged {
  std::string name;
  bool ok = false;
  int attempts = 0;
  std::optional<int64_t> proposal;
};

// How a human decided the proposal the run waited on.
enum class Decision { Approved, Rejected };
const char* decision_name(Decision d);  // "approved", "rejected" (the proposal's status words)

struct Message {
  std::string role, content;
};

// One turn of the transcript. Model turns carry their exact prompt, tokens and adapter;
// the graph's own turns (approval, rerun) do not.
struct Turn {
  std::string persona;
  std::string kind;  // the action (route, act, critique, retrieve, respond, answer), approval or rerun
  std::string content;
  int task = 0;  // which task of the conversation (the answers given before it)
  std::optional<std::vector<Message>> prompt;
  std::optional<int> tokens;         // generated
  std::optional<int> prompt_tokens;  // evaluated as its prompt (cached prefix included)
  std::optional<std::string> adapter;
  std::optional<Route> route;
  std::optional<Critique> critique;
  std::optional<CodeResult> result;
  std::optional<Forged> forged;
  std::optional<std::vector<Hit>> hits;
};

// A finished task: what was asked and the answer.
struct Exchange {
  std::string task, answer;
};

struct AgentState {
  std::string task;   // the current task
  std::string model;  // the run's model spec ("" = none given)
  int turns = 0;      // routing decisions in this task
  int rounds = 0;     // revision rounds in this task
  std::optional<Route> route;
  std::optional<Draft> draft;
  std::optional<Critique> critique;
  std::optional<Notes> notes;
  std::optional<int64_t> proposal;  // the proposal the run waits on
  std::optional<Decision> decision;
  std::optional<std::string> answer;
  std::vector<Turn> transcript;   // every turn of every task
  std::vector<Exchange> history;  // the tasks answered so far
  std::vector<Forged> forged;     // every tool the forge wrote

  int task_no() const { return static_cast<int>(history.size()); }
};

// JSON, both ways, in one place. Reading is lenient (a missing key is its default) so
// states written by earlier builds read; writing gives exactly the keys the graph stores.
AgentState state_from_json(const nlohmann::json& j);
Turn turn_from_json(const nlohmann::json& j);
nlohmann::json to_json(const Turn& t);
nlohmann::json to_json(const CodeResult& r);
std::vector<Turn> transcript_from_json(const nlohmann::json& transcript);  // non-objects skipped

// The agent graph's channels: which keys the state has and which of them accumulate.
std::vector<std::string> replaced_channels();  // task, model, route, ...
std::vector<std::string> appended_channels();  // transcript, history, forged

// The input that starts a new task: it clears the previous task's working state.
nlohmann::json new_task(const std::string& task, const std::string& model);

// What a node writes: each call names one channel; an appended channel gets one item.
class Update {
 public:
  Update& route(const Route& r);
  Update& turns(int n);
  Update& rounds(int n);
  Update& draft(const Draft& d);
  Update& critique(const Critique& c);
  Update& notes(const Notes& n);
  Update& proposal(std::optional<int64_t> id);  // none: cleared (null)
  Update& decision(Decision d);
  Update& answer(const std::string& a);
  Update& turn(const Turn& t);         // appended to the transcript
  Update& exchange(const Exchange& e);  // appended to the history
  Update& forged(const Forged& f);      // appended to forged
  const nlohmann::json& as_json() const& { return j_; }
  nlohmann::json as_json() && { return std::move(j_); }  // a node's finished update

 private:
  nlohmann::json j_ = nlohmann::json::object();
};

}  // namespace a4ps::persona
