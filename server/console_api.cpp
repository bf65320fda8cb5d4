// /console/api/*: what the console shows beyond the Agent Protocol routes (threads, runs,
// approvals and their streams, which it uses as they are). Each route parses, calls the
// public API (include/a4ps/) and presents; no SQL and no policy here.
#include <nlohmann/json.hpp>

#include "a4ps/audit.h"
#include "a4ps/error.h"
#include "a4ps/governance.h"
#include "a4ps/learn.h"
#include "a4ps/live.h"
#include "a4ps/memory.h"
#include "a4ps/personas.h"
#include "a4ps/threads.h"
#include "a4ps/tools.h"
#include "console.h"
#include "request.h"

namespace a4ps::server {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

namespace {

json parsed(const std::string& text, json fallback = json::object()) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// Runs a handler; HttpError and the library's one-line Errors become JSON errors.
template <class F>
httplib::Server::Handler guarded(F f) {
  return [f](const Request& req, Response& res) {
    res.set_header("Cache-Control", "no-store");
    try {
      f(req, res);
    } catch (const HttpError& e) {
      res.status = e.status();
      res.set_content(json{{"error", e.code()}, {"detail", e.what()}}.dump(), "application/json");
    } catch (const a4ps::Error& e) {
      res.status = 409;
      res.set_content(json{{"error", "rejected"}, {"detail", e.what()}}.dump(), "application/json");
    }
  };
}

void send(Response& res, const json& j) { res.set_content(j.dump(), "application/json"); }

std::string str_field(const json& b, const char* key, bool required, size_t max = 1 << 20) {
  if (!b.contains(key) || b[key].is_null()) {
    if (required) throw HttpError(400, "bad_request", std::string("'") + key + "' is required");
    return "";
  }
  if (!b[key].is_string()) throw HttpError(400, "bad_request", std::string("'") + key + "' must be a string");
  std::string s = b[key];
  if (required && s.find_first_not_of(" \t\r\n") == std::string::npos)
    throw HttpError(400, "bad_request", std::string("'") + key + "' must not be empty");
  if (s.size() > max) throw HttpError(413, "payload_too_large", std::string("'") + key + "' is too long");
  return s;
}

json tool_json(const ToolInfo& t) {
  return {{"name", t.name}, {"version", t.version}, {"source", t.source}, {"created_at", t.created_at}, {"removed", t.removed}};
}

}  // namespace

void add_console_api(httplib::Server& s, const ConsoleOptions& o) {
  auto image = o.image;

  // A proposal with what a reviewer needs, and the interrupted threads that wait on it.
  s.Get(R"(/console/api/approvals/([^/]+))", guarded([image](const Request& req, Response& res) {
          int64_t id = parse_proposal_id(req.matches[1]);
          auto img = image();
          ProposalDetail d;
          try {
            d = show_proposal(*img, id);
          } catch (const a4ps::Error& e) {
            throw HttpError(404, "not_found", e.what());
          }
          json losses = json::array();  // an adapter's: the loss curve of the run that trained it
          if (d.info.kind == "adapter.activate")
            for (auto& r : training_runs(*img))
              if (r.sha256 == d.blob_sha256) losses = r.losses;
          json waiting = json::array();
          for (auto& t : list_threads(*img, {.status = "interrupted"})) {
            ThreadDetail td = get_thread(*img, t.id);
            for (int64_t w : td.waiting_for)
              if (w == id) waiting.push_back({{"thread_id", t.id}, {"title", t.title}});
          }
          send(res, {{"id", d.info.id}, {"kind", d.info.kind}, {"target", d.info.target}, {"status", d.info.status},
                     {"created_at", d.info.created_at}, {"decided_at", d.info.decided_at}, {"reviewer", d.info.reviewer},
                     {"reason", d.info.reason}, {"payload", parsed(d.info.payload_json)}, {"summary", d.summary},
                     {"before", d.before}, {"after", d.after}, {"diff", d.diff}, {"why", d.why}, {"tests", d.tests},
                     {"tests_passed", d.tests_passed}, {"forge_attempts", d.forge_attempts},
                     {"codex_problems", d.codex_problems}, {"drops_builtin_rules", d.drops_builtin_rules},
                     {"adapter", {{"persona", d.persona}, {"base_sha256", d.base_sha256}, {"blob_sha256", d.blob_sha256},
                                  {"metrics", parsed(d.metrics_json)}, {"losses", losses}}},
                     {"waiting_threads", waiting}});
        }));

  // The transcript as turns; with ?prompts=true, the exact prompt each persona saw.
  s.Get(R"(/console/api/threads/([^/]+)/transcript)", guarded([image](const Request& req, Response& res) {
          std::string id = req.matches[1];
          check_id(id, "thread id");
          bool prompts = req.get_param_value("prompts") == "true";
          auto img = image();
          try {
            send(res, parsed(thread_transcript_json(*img, id, prompts), json::array()));
          } catch (const a4ps::Error& e) {
            throw HttpError(404, "not_found", e.what());
          }
        }));

  // --- tools ---
  s.Get("/console/api/tools", guarded([image](const Request&, Response& res) {
          auto img = image();
          json out = json::array();
          for (auto& t : list_tools(*img, {.all_versions = true})) out.push_back(tool_json(t));
          send(res, out);
        }));
  s.Get(R"(/console/api/tools/([^/]+)/diff)", guarded([image](const Request& req, Response& res) {
          std::string name = req.matches[1];
          check_id(name, "tool name");
          int a = parse_int_param(req.get_param_value("a"), "a", 1, 1 << 30, 1);
          int b = parse_int_param(req.get_param_value("b"), "b", 1, 1 << 30, 1);
          auto img = image();
          send(res, {{"diff", diff_tool(*img, name, a, b)}});
        }));
  s.Post(R"(/console/api/tools/([^/]+)/rollback)", guarded([image](const Request& req, Response& res) {
           std::string name = req.matches[1];
           check_id(name, "tool name");
           json b = parse_body(req.body);
           if (!b.contains("to_version") || !b["to_version"].is_number_integer() || b["to_version"].get<int64_t>() < 1)
             throw HttpError(400, "bad_request", "'to_version' must be a version number (1 or more)");
           auto img = image();
           send(res, {{"proposal", propose_tool_rollback(*img, name, b["to_version"].get<int64_t>())}});
         }));

  // --- memory ---
  s.Get("/console/api/memory", guarded([image](const Request& req, Response& res) {
          auto img = image();
          std::string q = req.get_param_value("q");
          json out = json::object();
          json sources = json::array();
          for (auto& m : memory_sources(*img))
            sources.push_back({{"source", m.source}, {"chunks", m.chunks}, {"bytes", m.bytes}, {"embedded", m.embedded},
                               {"embedder", m.embedder}, {"added_at", m.added_at}});
          out["sources"] = sources;
          if (!q.empty()) {
            json hits = json::array();
            for (auto& h : search_memory(*img, q, {.k = 10}))
              hits.push_back({{"id", h.id}, {"source", h.source}, {"text", h.text}, {"score", h.score}});
            out["hits"] = hits;
          }
          send(res, out);
        }));
  s.Post("/console/api/memory", guarded([image](const Request& req, Response& res) {
           json b = parse_body(req.body);
           std::string source = str_field(b, "source", true, 500), text = str_field(b, "text", true, 8 << 20);
           auto img = image();
           // Checked whole (UTF-8, not empty) before the image is touched; one transaction.
           auto docs = memory_documents({}, {{source, text}});
           MemoryAdded a = add_memories(*img, docs);
           send(res, {{"chunks", a.chunks}, {"embedder", a.embedder}});
         }));

  // --- learning ---
  s.Get("/console/api/learning", guarded([image](const Request&, Response& res) {
          auto img = image();
          json runs = json::array();
          for (auto& r : training_runs(*img))
            runs.push_back({{"seq", r.seq}, {"sha256", r.sha256}, {"persona", r.persona},
                            {"train_loss_first", r.train_loss_first}, {"train_loss_last", r.train_loss_last},
                            {"lineage", parsed(r.lineage_json)}, {"losses", r.losses}});
          json golden = json::array();
          for (auto& g : golden_counts(*img)) golden.push_back({{"persona", g.persona}, {"examples", g.examples}});
          json personas = json::array();
          for (auto& p : list_personas(*img))
            personas.push_back({{"name", p.name}, {"role", p.role}, {"colour", p.colour}, {"version", p.version}, {"builtin", p.builtin}});
          json adapters = json::array();  // what was proposed, decided and applied
          for (auto& p : list_proposals(*img, ""))
            if (p.kind == "adapter.activate")
              adapters.push_back({{"proposal", p.id}, {"target", p.target}, {"status", p.status}, {"payload", parsed(p.payload_json)}});
          send(res, {{"runs", runs}, {"golden", golden}, {"personas", personas}, {"adapters", adapters}});
        }));
  s.Post("/console/api/learning/activate", guarded([image](const Request& req, Response& res) {
           json b = parse_body(req.body);
           std::string persona = str_field(b, "persona", true, 100), run = str_field(b, "run", false, 100);
           auto img = image();
           AdapterProposal p = propose_adapter_activation(*img, persona, run);
           send(res, {{"proposal", p.proposal}, {"name", p.name}});
         }));
  s.Post("/console/api/learning/rollback", guarded([image](const Request& req, Response& res) {
           json b = parse_body(req.body);
           std::string persona = str_field(b, "persona", true, 100);
           auto img = image();
           AdapterRollback r = rollback_adapter(*img, persona);  // a proposal: a human decides in the inbox
           send(res, {{"proposal", r.proposal}, {"name", r.name}, {"to_version", r.to_version}});
         }));

  // --- codex ---
  s.Get("/console/api/codex", guarded([image](const Request&, Response& res) {
          auto img = image();
          CodexInfo c = image_codex(*img);
          json principles = json::array(), rules = json::array(), violations = json::array();
          for (auto& p : c.principles) principles.push_back({{"name", p.name}, {"text", p.text}});
          for (auto& r : c.rules)
            rules.push_back({{"name", r.name}, {"check", r.check}, {"message", r.message}, {"builtin", r.builtin}});
          for (auto& v : codex_violations(*img))
            violations.push_back({{"seq", v.seq}, {"ts", v.ts}, {"event", v.event}, {"actor", v.actor}, {"why", v.why}});
          send(res, {{"toml", c.toml}, {"principles", principles}, {"rules", rules}, {"violations", violations}});
        }));

  // --- the image ---
  s.Get("/console/api/image", guarded([image](const Request&, Response& res) {
          auto img = image();
          ImageInfo i = img->info();
          send(res, {{"path", i.path}, {"id", i.id}, {"name", i.name}, {"base_model", i.base_model},
                     {"created_at", i.created_at}, {"parent_id", i.parent_id}, {"schema_version", i.schema_version},
                     {"file_bytes", i.file_bytes}, {"personas", i.personas}, {"tools", i.tools}, {"memories", i.memories},
                     {"threads", i.threads}, {"checkpoints", i.checkpoints}, {"proposals", i.proposals},
                     {"proposals_pending", i.proposals_pending}, {"events", i.events}, {"head_seq", i.head_seq},
                     {"head_hash", i.head_hash}, {"adapters", i.adapters}});
        }));
  s.Post("/console/api/image/check", guarded([image](const Request& req, Response& res) {
           parse_body(req.body);
           auto img = image();
           CheckResult c = check_image(*img);
           send(res, {{"ok", c.ok}, {"problems", c.problems}, {"events_verified", c.events_verified},
                      {"blobs_verified", c.blobs_verified}});
         }));
  s.Get("/console/api/image/events", guarded([image](const Request& req, Response& res) {
          int limit = parse_int_param(req.get_param_value("limit"), "limit", 1, 1000, 100);
          int before = parse_int_param(req.get_param_value("before"), "before", 0, 1 << 30, 0);
          auto img = image();
          json out = json::array();
          for (auto& e : image_events(*img, {.before = before, .limit = limit}))
            out.push_back({{"seq", e.seq}, {"ts", e.ts}, {"kind", e.kind}, {"actor", e.actor}, {"payload", parsed(e.payload_json)}});
          send(res, out);
        }));

  // --- goals (live mode): its budget and today's use, families by learning progress, the
  // goals and the latest decisions; one goal's attempts with their rewards ---
  s.Get("/console/api/goals", guarded([image](const Request&, Response& res) {
          auto img = image();
          LiveBudget b = live_budget(*img);
          LiveUsage u = live_usage(*img);
          json families = json::array(), goals = json::array(), decisions = json::array();
          for (auto& f : goal_families(*img))
            families.push_back({{"family", f.family}, {"attempts", f.attempts}, {"successes", f.successes}, {"goals", f.goals},
                                {"open", f.open}, {"fast", f.fast}, {"slow", f.slow}, {"lp", f.lp}, {"paused", f.paused}});
          for (auto& g : list_goals(*img))
            goals.push_back({{"id", g.id}, {"family", g.family}, {"title", g.title}, {"task", g.task}, {"status", g.status},
                             {"veto", g.veto}, {"attempts", g.attempts}, {"successes", g.successes}, {"thread", g.thread},
                             {"created_at", g.created_at}});
          for (auto& d : live_decisions(*img, 30))
            decisions.push_back({{"ts", d.ts}, {"kind", d.kind}, {"goal", d.goal}, {"family", d.family}, {"reason", d.reason}});
          send(res, {{"budget", {{"wall_s_per_day", b.wall_s_per_day}, {"tokens_per_day", b.tokens_per_day},
                                 {"sandbox_s_per_day", b.sandbox_s_per_day}, {"forges_per_day", b.forges_per_day}}},
                     {"usage", {{"day", u.day}, {"wall_s", u.wall_s}, {"tokens", u.tokens}, {"sandbox_s", u.sandbox_s},
                                {"forges", u.forges}}},
                     {"families", families}, {"goals", goals}, {"decisions", decisions}});
        }));
  s.Get("/console/api/goals/competence.svg", guarded([image](const Request&, Response& res) {
          auto img = image();
          std::string svg;
          try {
            svg = competence_svg(*img);
          } catch (const a4ps::Error& e) {  // no attempts yet
            throw HttpError(404, "not_found", e.what());
          }
          res.set_content(svg, "image/svg+xml");
        }));
  s.Get(R"(/console/api/goals/(\d+))", guarded([image](const Request& req, Response& res) {
          int64_t id = parse_proposal_id(req.matches[1]);
          auto img = image();
          GoalDetail d;
          try {
            d = show_goal(*img, id);
          } catch (const a4ps::Error& e) {
            throw HttpError(404, "not_found", e.what());
          }
          json attempts = json::array();
          for (auto& a : d.attempts)
            attempts.push_back({{"id", a.id}, {"status", a.status}, {"passed", a.passed}, {"lp", a.lp}, {"grace", a.grace},
                                {"justice", a.justice}, {"codex", a.codex}, {"reward", a.reward},
                                {"started_at", a.started_at}, {"finished_at", a.finished_at}});
          json decisions = json::array();
          for (auto& x : d.decisions) decisions.push_back({{"ts", x.ts}, {"kind", x.kind}, {"reason", x.reason}});
          const GoalInfo& g = d.goal;
          send(res, {{"id", g.id}, {"family", g.family}, {"title", g.title}, {"task", g.task}, {"test", g.test},
                     {"plan", parsed(g.plan_json)}, {"source", g.source}, {"status", g.status}, {"veto", g.veto},
                     {"thread", g.thread}, {"attempts", attempts}, {"decisions", decisions}});
        }));
  s.Post(R"(/console/api/goals/(pause|resume))", guarded([image](const Request& req, Response& res) {
           const bool pause = req.matches[1] == "pause";
           std::string target = str_field(parse_body(req.body), "target", true, 200);
           auto img = image();
           send(res, {{"changed", pause_goals(*img, target, pause)}});
         }));
}

}  // namespace a4ps::server
