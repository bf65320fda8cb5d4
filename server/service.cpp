#include "a4ps_serve.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "a4ps/error.h"
#include "a4ps/events.h"
#include "a4ps/governance.h"
#include "a4ps/image.h"
#include "a4ps/live.h"
#include "a4ps/runs.h"
#include "a4ps/threads.h"
#include "console.h"
#include "guarded_server.h"
#include "mcp.h"
#include "mcp_message.h"
#include "openai.h"
#include "request.h"
#include "runner.h"

namespace a4ps::server {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using httplib::Request;
using httplib::Response;

namespace {

// Image handles for request handlers (an Image is used by one thread at a time): taken
// from a free list, opened when none is free, given back after the request.
class ImagePool {
 public:
  explicit ImagePool(std::string path) : path_(std::move(path)) {}
  struct Lease {
    ImagePool* pool;
    std::unique_ptr<Image> img;
    ~Lease() {
      if (img) pool->give(std::move(img));
    }
    Image& operator*() { return *img; }
  };
  Lease take() {
    {
      std::lock_guard lk(mu_);
      if (!free_.empty()) {
        auto i = std::move(free_.back());
        free_.pop_back();
        return {this, std::move(i)};
      }
    }
    return {this, std::make_unique<Image>(Image::open(path_, {.create_if_missing = false}))};
  }

 private:
  void give(std::unique_ptr<Image> i) {
    std::lock_guard lk(mu_);
    if (free_.size() < 32) free_.push_back(std::move(i));
  }
  std::string path_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Image>> free_;
};

json parsed(const std::string& text, json fallback = json::object()) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// The state as clients see it: turns without the exact prompts (those stay in the image).
json public_state(const std::string& state_json) {
  json s = parsed(state_json);
  if (s.is_object() && s.contains("transcript") && s["transcript"].is_array())
    for (auto& t : s["transcript"])
      if (t.is_object()) t.erase("prompt");
  return s;
}

json checkpoint_json(const CheckpointInfo& c, bool with_state) {
  json j = {{"thread_id", c.thread}, {"checkpoint_id", c.id}, {"parent_checkpoint_id", c.parent_id}, {"step", c.step},
            {"source", c.source}, {"node", c.node}, {"next", c.next}, {"created_at", c.created_at}};
  if (with_state) j["values"] = public_state(c.state_json);
  return j;
}

json summary_json(const ThreadSummary& t) {
  return {{"thread_id", t.id},         {"graph", t.graph},          {"status", t.status},
          {"created_at", t.created_at}, {"updated_at", t.updated_at}, {"checkpoints", t.checkpoints},
          {"tasks", t.tasks},           {"title", t.title}};
}

json run_json(const RunData& r, bool with_output) {
  json j = {{"run_id", r.id}, {"thread_id", r.thread}, {"status", run_state_name(r.state)},
            {"kind", r.resume ? "resume" : "task"}, {"created_at", r.created_at}};
  if (!r.finished_at.empty()) j["finished_at"] = r.finished_at;
  if (!r.resume) j["task"] = r.task;
  if (!r.error.empty()) j["error"] = r.error;
  if (!r.answer_json.empty()) {
    json a = parsed(r.answer_json);
    json waiting = json::array();  // an interrupted run: the proposals it waits on
    for (auto& i : a.value("interrupts", json::array()))
      if (i.is_object() && i.value("payload", json()).is_object() && i["payload"].contains("proposal"))
        waiting.push_back(i["payload"]["proposal"]);
    if (r.state == RunState::Interrupted) j["waiting_for"] = waiting;
    if (with_output) j["output"] = a;
  }
  return j;
}

json proposal_json(const ProposalInfo& p) {
  return {{"id", p.id},         {"kind", p.kind},       {"target", p.target}, {"status", p.status},
          {"created_at", p.created_at}, {"decided_at", p.decided_at}, {"reviewer", p.reviewer},
          {"reason", p.reason}, {"payload", parsed(p.payload_json)}};
}

void send_json(Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

void send_error(Response& res, int status, const std::string& code, const std::string& detail) {
  send_json(res, status, {{"error", code}, {"detail", detail}});
}

const char* code_for(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "request_timeout";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 431: return "headers_too_large";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal" : "error";
  }
}

// The host part of a Host header ("127.0.0.1:8420" -> "127.0.0.1", "[::1]:80" -> "::1").
std::string host_of(const std::string& h) {
  if (!h.empty() && h[0] == '[') {
    auto close = h.find(']');
    return close == std::string::npos ? h : h.substr(1, close - 1);
  }
  return h.substr(0, h.find(':'));
}

std::string sse(int64_t id, const std::string& event, const std::string& data) {
  return "id: " + std::to_string(id) + "\nevent: " + event + "\ndata: " + data + "\n\n";
}

}  // namespace

struct Service::Impl {
  ServeOptions o;
  Listen listen;
  std::unique_ptr<Runner> runner;
  std::unique_ptr<McpServer> mcp;  // /mcp: the image's approved tools over MCP
  std::unique_ptr<Console> console;  // /: the web console for a human in the loop
  ImagePool pool;
  GuardedServer http;
  int port = 0;
  std::mutex created_mu;
  std::set<std::string> created;  // POST /threads ids that have not run yet (the image makes a thread on its first step)
  std::atomic<int64_t> requests{0}, streams_open{0};
  std::atomic<bool> stopped{false};
  std::thread live;  // live mode's loop (ServeOptions::live)
  std::mutex live_mu;
  std::condition_variable live_cv;

  // Live mode: rounds of run_live while the service runs; user runs pre-empt it.
  void live_loop() {
    try {
      Image img = Image::open(o.image, {.create_if_missing = false});
      int pause_s = o.live_pause_s;
      while (!stopped) {
        LiveReport r = run_live(img, {.model = o.model, .sandbox = o.sandbox, .user_active = [this] { return !runner->idle(); },
                                      .stop = [this] { return stopped.load(); }});
        if (o.log)
          o.log("live: " + std::to_string(r.attempts) + " attempt(s), " + std::to_string(r.passed) + " passed, " +
                std::to_string(r.preempted) + " pre-empted; ended: " + r.stopped);
        // A round that did nothing waits twice as long before the next (up to an hour), so an
        // idle service does not ask for goals over and over.
        pause_s = r.attempts > 0 ? o.live_pause_s : std::min(std::max(pause_s, 1) * 2, 3600);
        std::unique_lock lk(live_mu);
        live_cv.wait_for(lk, std::chrono::seconds(pause_s), [this] { return stopped.load(); });
      }
    } catch (const std::exception& e) {
      if (o.log) o.log(std::string("live mode stopped: ") + e.what());
    }
  }

  explicit Impl(ServeOptions opts)
      : o(std::move(opts)), pool(o.image), http(std::chrono::milliseconds(o.request_deadline_ms)) {}

  // Runs a handler; whatever it throws becomes a JSON error with the right status.
  template <class F>
  auto guard(F f) {
    return [this, f](const Request& req, Response& res) {
      try {
        f(req, res);
      } catch (const HttpError& e) {
        send_error(res, e.status(), e.code(), e.what());
      } catch (const Busy& e) {
        send_error(res, 409, "busy", e.what());
      } catch (const a4ps::Error& e) {
        send_error(res, 400, "rejected", e.what());
      } catch (const std::bad_alloc&) {
        send_error(res, 503, "unavailable", "out of memory; retry later");
      } catch (const std::exception& e) {
        send_error(res, 500, "internal", e.what());
      }
    };
  }

  std::string thread_id(const Request& req) {
    std::string id = req.matches[1];
    check_id(id, "thread id");
    return id;
  }

  bool was_created(const std::string& id) {
    std::lock_guard lk(created_mu);
    return created.count(id) > 0;
  }

  // The thread's detail, or a 404 (a thread POST /threads made but that never ran: idle).
  json thread_detail(const std::string& id) {
    json j;
    try {
      auto img = pool.take();
      ThreadDetail d = get_thread(*img, id);
      j = summary_json(d.summary);
      j["metadata"] = parsed(d.meta_json);
      j["interrupts"] = parsed(d.interrupts_json, json::array());
      j["waiting_for"] = d.waiting_for;
      if (!d.error.empty()) j["error"] = d.error;
      j["values"] = d.has_checkpoint ? public_state(d.latest.state_json) : json::object();
      j["checkpoint_id"] = d.has_checkpoint ? d.latest.id : "";
      j["next"] = d.has_checkpoint ? d.latest.next : std::vector<std::string>{};  // nodes to run from there
      std::lock_guard lk(created_mu);  // the image knows it now
      created.erase(id);
    } catch (const a4ps::Error& e) {
      if (!was_created(id) && !runner->busy(id))
        throw HttpError(404, "not_found", "no thread '" + id + "'; create one with POST /threads");
      j = {{"thread_id", id}, {"graph", "agent"}, {"status", "idle"}, {"checkpoints", 0}, {"values", json::object()}};
    }
    j["busy"] = runner->busy(id);
    return j;
  }

  std::shared_ptr<Run> start_run(const Request& req, const std::string& id) {
    CreateRun c = parse_create_run(parse_body(req.body));
    if (runner->stopping()) throw HttpError(503, "shutting_down", "the server is shutting down; retry against its next start");
    json t;
    try {
      t = thread_detail(id);
    } catch (const HttpError& e) {
      if (e.status() != 404 || !c.create) throw;
      t = {{"status", "idle"}, {"graph", "agent"}};
    }
    std::string status = t.value("status", "idle"), graph = t.value("graph", "agent");
    if (graph != "agent" && !graph.empty())
      throw HttpError(409, "wrong_graph", "thread '" + id + "' runs the graph " + graph + ", not the agent; use another thread");
    bool busy = t.value("busy", false);
    if (!busy || !c.enqueue) {  // a queued run is checked by the run itself when its turn comes
      if (c.resume && status == "done")
        throw HttpError(409, "thread_done", "thread '" + id + "' is done; give it a new task instead of resuming");
      // A fork from the middle of a run is idle too, but has steps to go on with.
      if (c.resume && status == "idle" && t.value("next", json::array()).empty())
        throw HttpError(409, "nothing_to_resume", "thread '" + id + "' has nothing to resume; give it a task");
      if (!c.resume && status == "interrupted")
        throw HttpError(409, "waits_for_human", "thread '" + id +
                                                    "' waits for a human: decide its proposal at /approvals/{id}, then resume "
                                                    "with {\"command\": {\"resume\": true}}");
    }
    auto run = runner->submit(id, c.task, c.resume, c.enqueue);
    if (t.value("checkpoints", 0) == 0) {
      std::lock_guard lk(created_mu);  // it exists from now on, even before its first step lands
      created.insert(id);
    }
    return run;
  }

  // SSE of a thread's events after `cursor`; with `run`, ends once that run ended and
  // every event it made was sent (with an "end" event carrying the run).
  // `after` (a run's stream joined with Last-Event-ID): start after that event instead,
  // when it is past the run's start.
  void stream(Response& res, const std::string& thread, int64_t cursor, std::shared_ptr<Run> run, int64_t after = -1) {
    struct State {
      int64_t cursor;
      bool started = false;
      Clock::time_point last_write = Clock::now();
    };
    auto st = std::make_shared<State>(State{cursor});
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    ++streams_open;
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, thread, run, st, after](size_t, httplib::DataSink& sink) {
          auto write = [&](const std::string& s) {
            st->last_write = Clock::now();
            return sink.write(s.data(), s.size());
          };
          if (!sink.is_writable()) return false;
          if (run && !st->started) {
            // A run's stream starts where the run started (it may have queued behind another).
            RunData r = runner->snapshot(run);
            if (r.state == RunState::Pending) {
              runner->wait_change(thread, runner->version(thread), std::chrono::milliseconds(200));
              return true;
            }
            if (r.started == Clock::time_point{}) {  // cancelled before it started: no steps of its own
              write(sse(0, "metadata", json{{"run_id", r.id}, {"thread_id", r.thread}}.dump()));
              write(sse(0, "end", run_json(r, true).dump()));
              sink.done();
              return true;
            }
            st->cursor = std::max(r.last_event, after);
            st->started = true;
            if (!write(sse(st->cursor, "metadata", json{{"run_id", r.id}, {"thread_id", r.thread}}.dump()))) return false;
          }
          uint64_t v = runner->version(thread);  // read before looking, so no wake-up is missed
          bool ended = run && runner->snapshot(run).finished_state();
          std::vector<ThreadEvent> evs;
          {
            auto img = pool.take();
            evs = thread_events(*img, thread, st->cursor, 256);
          }
          for (auto& e : evs) {
            if (!write(sse(e.id, "updates", e.data_json))) return false;
            st->cursor = e.id;
          }
          if (!evs.empty()) return true;
          if (ended) {
            write(sse(st->cursor, "end", run_json(runner->snapshot(run), true).dump()));
            sink.done();
            return true;
          }
          if (runner->stopping()) {
            sink.done();
            return true;
          }
          if (Clock::now() - st->last_write > std::chrono::seconds(15) && !write(": ping\n\n")) return false;
          runner->wait_change(thread, v, std::chrono::milliseconds(500));
          return true;
        },
        [this](bool) { --streams_open; });
  }

  std::string metrics() {
    Metrics m = runner->metrics();
    std::string out;
    auto line = [&](const std::string& name, const std::string& help, const char* type, int64_t v) {
      out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + std::to_string(v) + "\n";
    };
    out += "# HELP a4ps_runs Runs since the server started, by their status now.\n# TYPE a4ps_runs gauge\n";
    for (const char* s : {"pending", "running", "success", "interrupted", "error", "cancelled"})
      out += std::string("a4ps_runs{status=\"") + s + "\"} " + std::to_string(m.runs_by_status[s]) + "\n";
    line("a4ps_run_queue_depth", "Runs waiting for a worker.", "gauge", m.queue_depth);
    line("a4ps_runs_running", "Runs a worker is doing now.", "gauge", m.running);
    line("a4ps_tokens_total", "Tokens the personas generated in finished runs.", "counter", m.tokens);
    line("a4ps_turns_total", "Persona turns taken.", "counter", m.turns);
    line("a4ps_model_loads_total", "Embedded models loaded from disk (shared by every run).", "counter", m.model_loads);
    line("a4ps_models_loaded", "Embedded models in memory now.", "gauge", m.models_loaded);
    line("a4ps_sandbox_calls_total", "Code runs in the sandbox.", "counter", m.sandbox_calls);
    line("a4ps_sandbox_failures_total", "Code runs in the sandbox that failed.", "counter", m.sandbox_failures);
    out += "# HELP a4ps_sandbox_call_seconds Wall time of each code run in the sandbox.\n"
           "# TYPE a4ps_sandbox_call_seconds histogram\n";
    int64_t cumulative = 0;
    for (size_t b = 0; b <= std::size(kSandboxBuckets); ++b) {
      cumulative += m.sandbox_bucket[b];
      std::string le = b < std::size(kSandboxBuckets) ? json(kSandboxBuckets[b]).dump() : "+Inf";
      out += "a4ps_sandbox_call_seconds_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "a4ps_sandbox_call_seconds_sum " + json(m.sandbox_seconds_sum).dump() + "\na4ps_sandbox_call_seconds_count " +
           std::to_string(m.sandbox_timed) + "\n";
    line("a4ps_sandbox_kernels_idle", "Threads' sandbox kernels kept between their runs now.", "gauge", m.kernels_idle);
    line("a4ps_sandbox_kernel_reuses_total", "Runs that went on in their thread's kept kernel.", "counter", m.kernel_reuses);
    out += "# HELP a4ps_sandbox_kernels_closed_total Kept kernels closed, by why.\n# TYPE a4ps_sandbox_kernels_closed_total counter\n";
    out += "a4ps_sandbox_kernels_closed_total{reason=\"idle\"} " + std::to_string(m.kernels_closed_idle) + "\n";
    out += "a4ps_sandbox_kernels_closed_total{reason=\"evicted\"} " + std::to_string(m.kernels_closed_evicted) + "\n";
    out += "# HELP a4ps_run_seconds Wall time of finished runs.\n# TYPE a4ps_run_seconds summary\n";
    out += "a4ps_run_seconds_sum " + json(m.run_seconds_sum).dump() + "\na4ps_run_seconds_count " + std::to_string(m.runs_finished) + "\n";
    int64_t pending = 0;
    {
      auto img = pool.take();
      pending = static_cast<int64_t>(list_proposals(*img, "pending").size());
    }
    line("a4ps_approvals_pending", "Proposals waiting for a human.", "gauge", pending);
    line("a4ps_http_requests_total", "HTTP requests routed.", "counter", requests.load());
    line("a4ps_http_requests_timed_out_total", "Requests not read whole in time (answered 408).", "counter",
         http.requests_timed_out());
    line("a4ps_streams_open", "Event streams open now.", "gauge", streams_open.load());
    return out;
  }

  void routes();
};

void Service::Impl::routes() {
  auto& s = http;
  // Before any route: the request was read whole (the slowloris deadline no longer
  // applies), then the origin rule (CORS is closed unless --allow-origin) and the token.
  s.set_pre_routing_handler([this](const Request& req, Response& res) {
    http.request_read();
    ++requests;
    // A refusal here comes before the body is read: the connection must close, or its
    // client's next request would be read from the middle of this body.
    auto refused = [&res] {
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    };
    // DNS rebinding: a web page on evil.example whose name resolves to 127.0.0.1 reaches a
    // loopback server "same-origin"; its Host header still names evil.example.
    if (is_loopback(listen.host) && !is_loopback(host_of(req.get_header_value("Host")))) {
      send_error(res, 403, "forbidden_host", "this server answers only requests addressed to a loopback name (Host header)");
      return refused();
    }
    if (req.has_header("Origin")) {
      std::string origin = req.get_header_value("Origin");
      bool same = origin == "http://" + req.get_header_value("Host");
      bool allowed = same || std::find(o.allow_origins.begin(), o.allow_origins.end(), origin) != o.allow_origins.end();
      if (!allowed) {
        send_error(res, 403, "forbidden_origin",
                   "cross-origin requests are refused; start the server with --allow-origin " + printable(origin, 100) +
                       " to allow this one");
        return refused();
      }
      if (!same) {
        res.set_header("Access-Control-Allow-Origin", origin);
        res.set_header("Access-Control-Expose-Headers", "Mcp-Session-Id");
        res.set_header("Vary", "Origin");
      }
      if (req.method == "OPTIONS") {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE");
        res.set_header("Access-Control-Allow-Headers",
                       "Authorization, Content-Type, Last-Event-ID, Mcp-Session-Id, MCP-Protocol-Version");
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    try {  // CSRF: no form-typed posts; the console's cookie only with its header
      console->check(req);
    } catch (const HttpError& e) {
      send_error(res, e.status(), e.code(), e.what());
      return refused();
    }
    if (!o.token.empty() && req.path != "/health" && !console->admits(req)) {
      std::string presented = bearer_token(req.get_header_value("Authorization"));
      if (!token_equals(presented, o.token)) {
        res.set_header("WWW-Authenticate", "Bearer");
        std::string why = presented.empty() ? "this server needs a bearer token: send Authorization: Bearer TOKEN"
                                            : "the bearer token is wrong";
        if (is_openai_path(req.path)) res.status = 401, res.set_content(openai_error(401, why).dump(), "application/json");
        else send_error(res, 401, "unauthorized", why);
        return refused();
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // httplib's own refusals (no route, a body over the limit, bad headers) as JSON too.
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const Request& req, Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (req.path == "/mcp" && res.status == 413) {  // MCP clients read JSON-RPC's error shape
      res.set_content(McpError(kInvalidRequest, "the message is larger than this server's --max-body").response().dump(),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    std::string detail = res.status == 404   ? "no such endpoint: " + printable(req.method, 16) + " " + printable(req.path, 200)
                         : res.status == 413 ? "the request body is too large"
                                             : "the request could not be read (" + std::to_string(res.status) + ")";
    if (is_openai_path(req.path)) res.set_content(openai_error(res.status, detail).dump(), "application/json");  // its clients' shape
    else send_error(res, res.status, code_for(res.status), detail);
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
    send_error(res, 500, "internal", "the server failed on this request");
  });

  // --- the OpenAI-compatible door (/v1) ---
  add_openai_routes(http, {.runner = runner.get(), .models = runner->models(),
                           .image = [this] {
                             std::shared_ptr<ImagePool::Lease> l(new ImagePool::Lease(pool.take()));
                             return std::shared_ptr<Image>(l, l->img.get());
                           },
                           .model = o.model, .max_tokens = o.max_tokens, .max_wait_s = o.max_wait_s});

  s.set_post_routing_handler([](const Request& req, Response& res) { Console::secure_headers(req, res); });
  console->add_routes(s);

  s.Get("/health", guard([this](const Request&, Response& res) {
          auto img = pool.take();
          ImageInfo i = (*img).info();
          send_json(res, runner->stopping() ? 503 : 200,
                    {{"status", runner->stopping() ? "stopping" : "ok"}, {"image", i.path}, {"name", i.name},
                     {"threads", i.threads}, {"proposals_pending", i.proposals_pending}});
        }));
  s.Get("/metrics", guard([this](const Request&, Response& res) {
          res.set_content(metrics(), "text/plain; version=0.0.4");
        }));

  // --- threads ---
  s.Post("/threads", guard([this](const Request& req, Response& res) {
           CreateThread c = parse_create_thread(parse_body(req.body));
           std::string id = c.thread_id;
           if (id.empty()) {
             static std::atomic<uint64_t> n{0};
             id = "t-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "-" + std::to_string(++n);
           } else {
             try {
               thread_detail(id);
               throw HttpError(409, "exists", "thread '" + id + "' exists already");
             } catch (const HttpError& e) {
               if (e.status() != 404) throw;
             }
           }
           {
             std::lock_guard lk(created_mu);
             if (created.size() >= 100000)  // held in memory until their first run: bounded
               throw HttpError(503, "too_many_threads", "too many threads wait for their first run; give them tasks first");
             created.insert(id);
           }
           send_json(res, 200, thread_detail(id));
         }));
  auto search = [this](const SearchThreads& q, Response& res) {
    auto img = pool.take();
    ThreadFilter f{.status = q.status, .graph = q.graph, .text = q.text, .limit = q.limit, .offset = q.offset};
    json out = json::array();
    for (auto& t : list_threads(*img, f)) out.push_back(summary_json(t));
    send_json(res, 200, out);
  };
  s.Post("/threads/search", guard([search](const Request& req, Response& res) {
           search(parse_search_threads(parse_body(req.body)), res);
         }));
  s.Get("/threads", guard([search](const Request& req, Response& res) {
          SearchThreads q;
          q.status = req.get_param_value("status");
          q.limit = parse_int_param(req.get_param_value("limit"), "limit", 1, 1000, 100);
          q.offset = parse_int_param(req.get_param_value("offset"), "offset", 0, 1 << 30, 0);
          search(parse_search_threads(json{{"status", q.status}, {"limit", q.limit}, {"offset", q.offset}}), res);
        }));
  s.Get(R"(/threads/([^/]+))", guard([this](const Request& req, Response& res) {
          send_json(res, 200, thread_detail(thread_id(req)));
        }));
  s.Get(R"(/threads/([^/]+)/state)", guard([this](const Request& req, Response& res) {
          std::string id = thread_id(req), cp = req.get_param_value("checkpoint");
          if (!cp.empty()) check_id(cp, "checkpoint");
          thread_detail(id);  // 404 first
          auto img = pool.take();
          try {
            send_json(res, 200, checkpoint_json(thread_checkpoint(*img, id, cp), true));
          } catch (const a4ps::Error& e) {
            throw HttpError(404, "not_found", e.what());
          }
        }));
  s.Get(R"(/threads/([^/]+)/history)", guard([this](const Request& req, Response& res) {
          std::string id = thread_id(req);
          int limit = parse_int_param(req.get_param_value("limit"), "limit", 1, 10000, 100);
          bool values = req.get_param_value("values") != "false";
          thread_detail(id);
          auto img = pool.take();
          json out = json::array();
          for (auto& c : thread_history(*img, id)) {
            if (static_cast<int>(out.size()) >= limit) break;
            out.push_back(checkpoint_json(c, values));
          }
          send_json(res, 200, out);
        }));
  s.Post(R"(/threads/([^/]+)/copy)", guard([this](const Request& req, Response& res) {
           std::string id = thread_id(req);
           CopyThread c = parse_copy_thread(parse_body(req.body));
           thread_detail(id);
           if (runner->busy(id)) throw HttpError(409, "busy", "thread '" + id + "' has a run in progress; copy it when it ends");
           ForkResult f;
           {
             auto img = pool.take();
             try {
               f = fork_thread(*img, id, c.checkpoint, c.thread_id);
             } catch (const a4ps::Error& e) {
               throw HttpError(409, "rejected", e.what());
             }
           }
           send_json(res, 200, thread_detail(f.thread));
         }));

  // --- runs ---
  s.Post(R"(/threads/([^/]+)/runs)", guard([this](const Request& req, Response& res) {
           auto r = start_run(req, thread_id(req));
           send_json(res, 200, run_json(runner->snapshot(r), false));
         }));
  s.Post(R"(/threads/([^/]+)/runs/wait)", guard([this](const Request& req, Response& res) {
           auto r = start_run(req, thread_id(req));
           runner->wait(r, Clock::now() + std::chrono::seconds(o.max_wait_s));
           send_json(res, 200, run_json(runner->snapshot(r), true));
         }));
  s.Post(R"(/threads/([^/]+)/runs/stream)", guard([this](const Request& req, Response& res) {
           std::string id = thread_id(req);
           auto r = start_run(req, id);
           res.set_header("Content-Location", "/threads/" + id + "/runs/" + r->id);
           stream(res, id, 0, r);
         }));
  s.Get(R"(/threads/([^/]+)/runs)", guard([this](const Request& req, Response& res) {
          std::string id = thread_id(req);
          int limit = parse_int_param(req.get_param_value("limit"), "limit", 1, 10000, 1000);
          // The image's records (every run, across restarts), each replaced by the runner's
          // own view while it still has the run (fresher: written to the image after).
          std::vector<RunRecord> records;
          {
            auto img = pool.take();
            records = thread_runs(*img, id, limit);
          }
          std::map<std::string, std::shared_ptr<Run>> live;
          for (auto& r : runner->runs_of(id)) live[r->id] = r;
          json out = json::array();
          for (auto& rec : records) {
            auto it = live.find(rec.id);
            out.push_back(run_json(it != live.end() ? runner->snapshot(it->second) : run_from_record(rec), false));
            if (it != live.end()) live.erase(it);
          }
          for (auto& r : runner->runs_of(id))  // not recorded (the image refused the write): still shown
            if (live.count(r->id)) out.push_back(run_json(runner->snapshot(r), false));
          send_json(res, 200, out);
        }));
  auto find_run = [this](const Request& req) {
    std::string id = thread_id(req), run_id = req.matches[2];
    check_id(run_id, "run id");
    auto r = runner->find(run_id);
    if (!r || r->thread != id) throw HttpError(404, "not_found", "no run '" + run_id + "' on thread '" + id + "'");
    return r;
  };
  s.Get(R"(/threads/([^/]+)/runs/([^/]+))", guard([this](const Request& req, Response& res) {
          std::string id = thread_id(req), run_id = req.matches[2];
          check_id(run_id, "run id");
          if (auto r = runner->find(run_id); r && r->thread == id) return send_json(res, 200, run_json(runner->snapshot(r), true));
          std::optional<RunRecord> rec;  // a run of an earlier start, or one the runner forgot
          {
            auto img = pool.take();
            rec = a4ps::find_run(*img, run_id);
          }
          if (!rec || rec->thread != id) throw HttpError(404, "not_found", "no run '" + run_id + "' on thread '" + id + "'");
          send_json(res, 200, run_json(run_from_record(*rec), true));
        }));
  // Joins a run's stream: its steps from its start (or after Last-Event-ID), then "end".
  s.Get(R"(/threads/([^/]+)/runs/([^/]+)/stream)", guard([this](const Request& req, Response& res) {
          std::string id = thread_id(req), run_id = req.matches[2];
          check_id(run_id, "run id");
          int64_t after = req.has_header("Last-Event-ID") ? parse_event_id(req.get_header_value("Last-Event-ID")) : -1;
          if (auto r = runner->find(run_id); r && r->thread == id) return stream(res, id, 0, r, after);
          std::optional<RunRecord> rec;  // ended in an earlier start: nothing more will come
          {
            auto img = pool.take();
            rec = a4ps::find_run(*img, run_id);
          }
          if (!rec || rec->thread != id) throw HttpError(404, "not_found", "no run '" + run_id + "' on thread '" + id + "'");
          res.set_header("Cache-Control", "no-store");
          res.set_content(sse(0, "metadata", json{{"run_id", rec->id}, {"thread_id", rec->thread}}.dump()) +
                              sse(0, "end", run_json(run_from_record(*rec), true).dump()),
                          "text/event-stream");
        }));
  s.Post(R"(/threads/([^/]+)/runs/([^/]+)/cancel)", guard([this, find_run](const Request& req, Response& res) {
           auto r = find_run(req);
           parse_body(req.body);
           if (!runner->cancel(r))
             throw HttpError(409, "run_ended", "run '" + r->id + "' has ended (" + run_state_name(runner->snapshot(r).state) + ")");
           if (req.get_param_value("wait") == "true") runner->wait(r, Clock::now() + std::chrono::seconds(o.max_wait_s));
           send_json(res, 200, run_json(runner->snapshot(r), false));
         }));
  s.Get(R"(/threads/([^/]+)/stream)", guard([this](const Request& req, Response& res) {
          std::string id = thread_id(req);
          thread_detail(id);
          // Replays what came after the last event the client saw; a new client starts now.
          int64_t cursor;
          if (req.has_header("Last-Event-ID")) cursor = parse_event_id(req.get_header_value("Last-Event-ID"));
          else if (req.has_param("after")) cursor = parse_event_id(req.get_param_value("after"));
          else {
            auto img = pool.take();
            cursor = last_thread_event(*img, id);
          }
          stream(res, id, cursor, nullptr);
        }));

  // --- approvals ---
  s.Get("/approvals", guard([this](const Request& req, Response& res) {
          std::string status = req.has_param("status") ? req.get_param_value("status") : "pending";
          if (status == "all") status = "";
          if (!status.empty() && status != "pending" && status != "approved" && status != "rejected" && status != "applied")
            throw HttpError(400, "bad_request", "'status' must be pending, approved, rejected, applied or all");
          auto img = pool.take();
          json out = json::array();
          for (auto& p : list_proposals(*img, status)) out.push_back(proposal_json(p));
          send_json(res, 200, out);
        }));
  auto show = [this](int64_t id) {
    auto img = pool.take();
    try {
      return show_proposal(*img, id);
    } catch (const a4ps::Error& e) {
      throw HttpError(404, "not_found", e.what());
    }
  };
  s.Get(R"(/approvals/([^/]+))", guard([show](const Request& req, Response& res) {
          ProposalDetail d = show(parse_proposal_id(req.matches[1]));
          json j = proposal_json(d.info);
          j["summary"] = d.summary;
          j["before"] = d.before;
          j["after"] = d.after;
          j["diff"] = d.diff;
          j["why"] = d.why;
          j["tests"] = d.tests;
          j["forge_attempts"] = d.forge_attempts;
          j["codex_problems"] = d.codex_problems;
          j["drops_builtin_rules"] = d.drops_builtin_rules;
          if (d.info.kind == "adapter.activate")
            j["adapter"] = {{"persona", d.persona}, {"base_sha256", d.base_sha256}, {"blob_sha256", d.blob_sha256},
                            {"metrics", parsed(d.metrics_json)}};
          send_json(res, 200, j);
        }));
  s.Post(R"(/approvals/([^/]+)/(approve|reject))", guard([this, show](const Request& req, Response& res) {
           int64_t id = parse_proposal_id(req.matches[1]);
           bool approve = req.matches[2] == "approve";
           Decision d = parse_decision(parse_body(req.body));
           ProposalDetail p = show(id);
           if (p.info.status != "pending")
             throw HttpError(409, "decided", "proposal " + std::to_string(id) + " is " + p.info.status + " already");
           std::string reviewer;
           {
             auto img = pool.take();
             try {  // the same governance path as `a4ps approvals approve|reject`
               reviewer = decide_proposal(*img, id, approve, d.reason, "human:" + (d.reviewer.empty() ? "api" : d.reviewer));
             } catch (const a4ps::Error& e) {
               throw HttpError(409, "rejected", e.what());
             }
           }
           json j = proposal_json(show(id).info);
           j["reviewer"] = reviewer;
           send_json(res, 200, j);
         }));

  add_mcp_routes(s, *mcp, [this] { return runner->stopping(); });
}

Service::Service(ServeOptions o) : impl_(std::make_unique<Impl>(std::move(o))) {
  auto& s = *impl_;
  try {
    s.listen = parse_listen(s.o.listen);
  } catch (const HttpError& e) {
    throw a4ps::Error(e.what());
  }
  if (!is_loopback(s.listen.host) && s.o.token.empty())
    throw a4ps::Error("listening on " + s.listen.host + " (not loopback) needs a bearer token: pass --token-file FILE");
  // Opens (and so checks) the image before anything listens.
  s.runner = std::make_unique<Runner>(RunnerOptions{.image = s.o.image, .model = s.o.model, .sandbox = s.o.sandbox,
                                                    .workers = s.o.workers, .max_queue = s.o.max_queue,
                                                    .step_limit = s.o.step_limit, .max_tokens = s.o.max_tokens,
                                                    .max_kernels = s.o.max_kernels,
                                                    .kernel_idle = std::chrono::milliseconds(s.o.kernel_idle_ms)});
  s.console = std::make_unique<Console>(ConsoleOptions{
      .token = s.o.token, .image = [&s] {
        std::shared_ptr<ImagePool::Lease> l(new ImagePool::Lease(s.pool.take()));
        return std::shared_ptr<Image>(l, l->img.get());
      }});
  s.mcp = std::make_unique<McpServer>(McpOptions{.image = s.o.image, .sandbox = s.o.sandbox, .tool_wall_ms = s.o.tool_wall_ms, .max_message = s.o.max_body});
  s.http.new_task_queue = [n = s.o.http_threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  s.http.set_payload_max_length(s.o.max_body);
  s.http.set_read_timeout(s.o.read_timeout_s, 0);
  s.http.set_write_timeout(s.o.write_timeout_s, 0);
  s.http.set_keep_alive_timeout(5);
  s.routes();
}

Service::~Service() {
  stop();
}

int Service::bind() {
  auto& s = *impl_;
  if (s.listen.port == 0) s.port = s.http.bind_to_any_port(s.listen.host);
  else s.port = s.http.bind_to_port(s.listen.host, s.listen.port) ? s.listen.port : -1;
  if (s.port <= 0)
    throw a4ps::Error("cannot listen on " + s.o.listen + " (in use, or not an address of this machine); pick another --listen");
  s.http.widen_backlog();
  if (s.o.log) s.o.log("serving " + s.o.image + " on http://" + s.listen.host + ":" + std::to_string(s.port));
  return s.port;
}

void Service::serve() {
  auto& s = *impl_;
  if (s.o.live && !s.stopped && !s.live.joinable()) s.live = std::thread([&s] { s.live_loop(); });
  s.http.listen_after_bind();
}

void Service::stop() {
  auto& s = *impl_;
  if (s.stopped.exchange(true)) return;
  if (s.o.log) s.o.log("stopping: no new runs; running ones stop before their next step (their threads resume)");
  s.runner->stop();  // streams see stopping() and end
  {
    std::lock_guard lk(s.live_mu);  // the live loop sees `stopped` before its next step
  }
  s.live_cv.notify_all();
  if (s.live.joinable() && s.live.get_id() != std::this_thread::get_id()) s.live.join();
  s.http.stop();
  if (s.o.log) s.o.log("stopped");
}

}  // namespace a4ps::server
