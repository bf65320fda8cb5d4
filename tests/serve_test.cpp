// `a4ps serve` end to end: a real server process on loopback and an ephemeral port, real
// HTTP clients, a real image and sandbox, and the scripted (fake) model.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <set>

#include "serve_util.h"

namespace a4ps::test {
namespace {

const char kJson[] = "application/json";

struct Serve : ::testing::Test {
  TempDir d;
  fs::path img = d / "agent.a4ps";
  std::string quick, slow, forging;

  void SetUp() override {
    fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);  // bwrap's nobody user
    ASSERT_EQ(a4ps("image init " + q(img)).code, 0);
    quick = write_script(d / "quick.jsonl", {route("1", "ANSWER"), say("ALFRED", "Forty-two.", "Write the answer")});
    slow = write_script(d / "slow.jsonl", {route("1", "BRICK", "rest a while"),
                                           say("BRICK", "```python\nimport time\ntime.sleep(1.5)\nprint('rested')\n```"),
                                           critique("accept", "fine"), route("2", "ANSWER"),
                                           say("ALFRED", "Rested.", "Write the answer")});
    forging = write_script(d / "forge.jsonl",
                           {route("1", "BRICK", "convert 100 C"),
                            say("BRICK", "I will use a converter.\n```python\nprint(celsius_to_fahrenheit(100))\n```"),
                            say("BRICK", "```python\ndef celsius_to_fahrenheit(arg1):\n    return arg1 * 9 / 5 + 32\n```",
                                "def celsius_to_fahrenheit"),
                            critique("accept", "right"), route("2", "ANSWER"), say("ALFRED", "100 C is 212 F.", "212")});
  }

  static json post(httplib::Client& c, const std::string& path, const json& b, int expect = 200) {
    auto r = c.Post(path.c_str(), b.dump(), kJson);
    EXPECT_TRUE(r) << path;
    if (!r) return nullptr;
    EXPECT_EQ(r->status, expect) << path << ": " << r->body;
    return body(r);
  }
  static json get(httplib::Client& c, const std::string& path, int expect = 200) {
    auto r = c.Get(path.c_str());
    EXPECT_TRUE(r) << path;
    if (!r) return nullptr;
    EXPECT_EQ(r->status, expect) << path << ": " << r->body;
    return body(r);
  }
  static json task(const std::string& t) { return {{"input", {{"task", t}}}}; }

  // Waits (bounded) until the thread's run has begun in the image.
  static void wait_running(httplib::Client& c, const std::string& thread) {
    for (int i = 0; i < 200; ++i) {
      json t = body(c.Get(("/threads/" + thread).c_str()));
      if (t.is_object() && t.value("status", "") == "running") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "thread " << thread << " never started running";
  }

  void expect_image_ok() {
    auto r = a4ps("image check " + q(img));
    EXPECT_EQ(r.code, 0) << r.out << r.err;
  }
};

TEST_F(Serve, HealthAndMetrics) {
  Server s(img, {"-m", quick});
  auto c = s.client();
  json h = get(c, "/health");
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["image"], img.string());
  post(c, "/threads/m1/runs/wait", {{"input", "hi"}, {"if_not_exists", "create"}});
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  EXPECT_NE(m->body.find("a4ps_runs{status=\"success\"} 1\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("a4ps_turns_total 2\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("# TYPE a4ps_approvals_pending gauge\na4ps_approvals_pending 0\n"), std::string::npos) << m->body;
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

// A kernel per active thread: a thread's Python globals carry over to its next run, no other
// thread sees them, and a kernel idle past --kernel-idle is closed (its globals gone).
TEST_F(Serve, AThreadKeepsItsSandboxKernelUntilIdle) {
  std::string counting = write_script(
      d / "count.jsonl", {route("1", "BRICK", "count"),
                          say("BRICK", "```python\ntry:\n    counter += 1\nexcept NameError:\n    counter = 1\nprint('counter', counter)\n```"),
                          critique("accept", "fine"), route("2", "ANSWER"), say("ALFRED", "Counted.", "Write the answer")});
  Server s(img, {"-m", counting, "--kernel-idle", "1500"});
  auto c = s.client();
  auto count_of = [&](const std::string& thread) {
    json r = post(c, "/threads/" + thread + "/runs/wait", {{"input", "count"}, {"if_not_exists", "create"}});
    EXPECT_EQ(r["status"], "success") << r.dump(2);
    for (auto& t : r["output"]["transcript"])
      if (t.value("persona", "") == "BRICK") {
        std::string out = t.dump();  // what it printed: "counter N" (the code says "counter +=" / "= 1")
        std::smatch m;
        if (std::regex_search(out, m, std::regex(R"(counter (\d+))"))) return std::stoi(m[1]);
      }
    ADD_FAILURE() << "no counter printed: " << r.dump(2);
    return 0;
  };
  auto metrics = [&] { return c.Get("/metrics")->body; };
  EXPECT_EQ(count_of("k1"), 1);
  EXPECT_EQ(count_of("k1"), 2);  // the same kernel: the global survived between runs
  EXPECT_EQ(count_of("k2"), 1);  // another thread, another kernel
  std::string m = metrics();
  EXPECT_NE(m.find("a4ps_sandbox_kernel_reuses_total 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("a4ps_sandbox_kernels_idle 2\n"), std::string::npos) << m;
  // Every code run timed: a histogram whose +Inf bucket equals its count.
  EXPECT_NE(m.find("# TYPE a4ps_sandbox_call_seconds histogram\n"), std::string::npos) << m;
  EXPECT_NE(m.find("a4ps_sandbox_call_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << m;
  EXPECT_NE(m.find("a4ps_sandbox_call_seconds_count 3\n"), std::string::npos) << m;
  EXPECT_EQ(m.find("a4ps_sandbox_call_seconds_sum 0\n"), std::string::npos) << m;
  // Idle past the limit: both kernels are closed, and the thread starts afresh.
  for (int i = 0; i < 100 && metrics().find("a4ps_sandbox_kernels_idle 0\n") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  m = metrics();
  EXPECT_NE(m.find("a4ps_sandbox_kernels_idle 0\n"), std::string::npos) << m;
  EXPECT_NE(m.find("a4ps_sandbox_kernels_closed_total{reason=\"idle\"} 2\n"), std::string::npos) << m;
  EXPECT_EQ(count_of("k1"), 1);
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

// Beyond --max-kernels the least recently used thread's kernel is closed first.
TEST_F(Serve, KeptKernelsAreBoundedLeastRecentlyUsedFirst) {
  std::string counting = write_script(
      d / "count.jsonl", {route("1", "BRICK", "count"),
                          say("BRICK", "```python\ntry:\n    counter += 1\nexcept NameError:\n    counter = 1\nprint('counter', counter)\n```"),
                          critique("accept", "fine"), route("2", "ANSWER"), say("ALFRED", "Counted.", "Write the answer")});
  Server s(img, {"-m", counting, "--max-kernels", "1"});
  auto c = s.client();
  auto run = [&](const std::string& thread) {
    json r = post(c, "/threads/" + thread + "/runs/wait", {{"input", "count"}, {"if_not_exists", "create"}});
    return r.dump().find("counter 2") != std::string::npos;
  };
  EXPECT_FALSE(run("a"));
  EXPECT_FALSE(run("b"));  // a's kernel is evicted to keep b's
  EXPECT_FALSE(run("a"));  // so a starts afresh
  EXPECT_TRUE(run("a"));
  std::string m = c.Get("/metrics")->body;
  EXPECT_NE(m.find("a4ps_sandbox_kernels_closed_total{reason=\"evicted\"} 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("a4ps_sandbox_kernels_idle 1\n"), std::string::npos) << m;
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

TEST_F(Serve, ThreadsRunsHistoryCopyAndSearch) {
  Server s(img, {"-m", quick});
  auto c = s.client();
  json t = post(c, "/threads", {{"thread_id", "alpha"}});
  EXPECT_EQ(t["thread_id"], "alpha");
  EXPECT_EQ(t["status"], "idle");
  post(c, "/threads", {{"thread_id", "alpha"}}, 409);  // exists
  json r = post(c, "/threads/alpha/runs/wait", task("what is 6*7?"));
  EXPECT_EQ(r["status"], "success") << r.dump(2);
  EXPECT_EQ(r["output"]["answer"], "Forty-two.");
  EXPECT_EQ(r["thread_id"], "alpha");

  json th = get(c, "/threads/alpha");
  EXPECT_EQ(th["status"], "done");
  EXPECT_EQ(th["graph"], "agent");
  EXPECT_EQ(th["values"]["answer"], "Forty-two.");
  EXPECT_FALSE(th["values"]["transcript"][0].contains("prompt"));  // prompts stay in the image

  json hist = get(c, "/threads/alpha/history");
  ASSERT_GE(hist.size(), 3u);
  EXPECT_GT(hist[0]["step"].get<int>(), hist[1]["step"].get<int>());  // newest first
  json st = get(c, "/threads/alpha/state?checkpoint=" + hist.back()["checkpoint_id"].get<std::string>());
  EXPECT_EQ(st["step"], hist.back()["step"]);

  json runs = get(c, "/threads/alpha/runs");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(get(c, "/threads/alpha/runs/" + runs[0]["run_id"].get<std::string>())["output"]["answer"], "Forty-two.");

  json copy = post(c, "/threads/alpha/copy", {{"thread_id", "beta"}});
  EXPECT_EQ(copy["thread_id"], "beta");
  EXPECT_EQ(copy["values"]["answer"], "Forty-two.");
  json second = post(c, "/threads/beta/runs/wait", task("and again?"));
  EXPECT_EQ(second["status"], "success") << second.dump(2);

  // A fork from the middle of a run is idle but has a step to go on with: it resumes.
  json mid = get(c, "/threads/alpha/history").back();  // the input: the route is next
  json fork = post(c, "/threads/alpha/copy", {{"thread_id", "mid"}, {"checkpoint", mid["checkpoint_id"]}});
  EXPECT_EQ(fork["status"], "idle");
  EXPECT_FALSE(fork["next"].empty()) << fork.dump(2);
  json resumed = post(c, "/threads/mid/runs/wait", {{"command", {{"resume", true}}}});
  EXPECT_EQ(resumed["status"], "success") << resumed.dump(2);
  EXPECT_EQ(resumed["output"]["answer"], "Forty-two.");

  json found = post(c, "/threads/search", {{"text", "alpha"}});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["thread_id"], "alpha");
  EXPECT_EQ(get(c, "/threads?status=done").size(), 3u);  // alpha, beta and mid
  EXPECT_EQ(s.terminate(), 0) << s.log;
  expect_image_ok();
}

TEST_F(Serve, StreamsCarryIdsAndReplayFromLastEventId) {
  Server s(img, {"-m", quick});
  auto c = s.client();
  // A run streamed as it happens: metadata, one event per step, end.
  int status = 0;
  auto evs = read_sse(c, "POST", "/threads/s1/runs/stream", json{{"input", "hello"}, {"if_not_exists", "create"}}.dump(), {},
                      [](const SseEvent&) { return false; }, &status);
  EXPECT_EQ(status, 200);
  ASSERT_GE(evs.size(), 4u);
  EXPECT_EQ(evs.front().event, "metadata");
  EXPECT_EQ(evs.back().event, "end");
  EXPECT_EQ(json::parse(evs.back().data)["status"], "success");
  EXPECT_EQ(json::parse(evs.back().data)["output"]["answer"], "Forty-two.");
  std::vector<int64_t> ids;
  for (auto& e : evs) {
    ASSERT_FALSE(e.id.empty()) << e.event;  // every event has an id
    if (e.event == "updates") ids.push_back(std::stoll(e.id));
  }
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], static_cast<int64_t>(i + 1));

  // The thread's stream from the start, dropped after two events, then resumed from the
  // last id seen: the rest comes exactly once, in order, read back from the image.
  size_t total = ids.size();
  auto first = read_sse(c, "GET", "/threads/s1/stream", "", {{"Last-Event-ID", "0"}},
                        [](const SseEvent&) { return true; });
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, "1");
  size_t seen = 1;
  auto rest = read_sse(c, "GET", "/threads/s1/stream", "", {{"Last-Event-ID", first[0].id}},
                       [&](const SseEvent&) { return ++seen >= total; });
  ASSERT_EQ(rest.size() + 1, total);
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].id, std::to_string(i + 2));
  EXPECT_EQ(json::parse(rest.back().data)["next"], json::array());  // the last step: the run was over

  // A reader that waits on the thread gets the next run's events live (?after= is
  // Last-Event-ID for clients that cannot set headers, such as EventSource).
  std::vector<SseEvent> live;
  std::thread reader([&] {
    auto rc = s.client();
    live = read_sse(rc, "GET", "/threads/s1/stream?after=" + std::to_string(total), "", {}, [&](const SseEvent& e) {
      return json::parse(e.data)["next"] == json::array();
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  post(c, "/threads/s1/runs/wait", task("again"));
  reader.join();
  ASSERT_FALSE(live.empty());
  EXPECT_EQ(live.front().id, std::to_string(total + 1));
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

TEST_F(Serve, BusyThreadIs409UnlessItWaitsAndCancelStopsARunThatResumes) {
  Server s(img, {"-m", slow});
  auto c = s.client();
  json r1 = post(c, "/threads/busy/runs", {{"input", "rest"}, {"if_not_exists", "create"}});
  EXPECT_TRUE(r1["status"] == "pending" || r1["status"] == "running") << r1.dump();
  json busy = post(c, "/threads/busy/runs", task("rest again"), 409);
  EXPECT_EQ(busy["error"], "busy");
  EXPECT_NE(busy["detail"].get<std::string>().find("enqueue"), std::string::npos);
  // Waiting for the first instead: it runs after it, on the same thread.
  json r2 = post(c, "/threads/busy/runs/wait", {{"input", "rest again"}, {"multitask_strategy", "enqueue"}});
  EXPECT_EQ(r2["status"], "success") << r2.dump(2);
  EXPECT_EQ(get(c, "/threads/busy/runs/" + r1["run_id"].get<std::string>())["status"], "success");

  // Cancel: the run stops before its next step; the thread keeps its steps and resumes.
  json r3 = post(c, "/threads/cx/runs", {{"input", "rest"}, {"if_not_exists", "create"}});
  wait_running(c, "cx");
  json cancelled = post(c, "/threads/cx/runs/" + r3["run_id"].get<std::string>() + "/cancel?wait=true", json::object());
  EXPECT_EQ(cancelled["status"], "cancelled") << cancelled.dump(2);
  post(c, "/threads/cx/runs/" + r3["run_id"].get<std::string>() + "/cancel", json::object(), 409);  // ended already
  EXPECT_EQ(get(c, "/threads/cx")["status"], "error");
  json resumed = post(c, "/threads/cx/runs/wait", {{"command", {{"resume", true}}}});
  EXPECT_EQ(resumed["status"], "success") << resumed.dump(2);
  EXPECT_EQ(resumed["output"]["answer"], "Rested.");
  EXPECT_EQ(s.terminate(), 0) << s.log;
  expect_image_ok();
}

TEST_F(Serve, ARunOutlivesAClientThatHangsUp) {
  Server s(img, {"-m", slow});
  auto c = s.client();
  // The client reads the stream's first event and hangs up; the run goes on without it.
  auto first = read_sse(c, "POST", "/threads/gone/runs/stream", json{{"input", "rest"}, {"if_not_exists", "create"}}.dump(), {},
                        [](const SseEvent&) { return true; });
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].event, "metadata");
  std::string run = json::parse(first[0].data)["run_id"];
  json r;
  for (int i = 0; i < 300; ++i) {
    r = get(c, "/threads/gone/runs/" + run);
    if (r["status"] != "pending" && r["status"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r["status"], "success") << r.dump(2);
  EXPECT_EQ(r["output"]["answer"], "Rested.");
  EXPECT_EQ(get(c, "/health")["status"], "ok");
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

TEST_F(Serve, AnInterruptedRunWaitsForAnApprovalOverTheApiThenResumes) {
  Server s(img, {"-m", forging});
  auto c = s.client();
  json r = post(c, "/threads/f1/runs/wait", {{"input", "what is 100 C in F?"}, {"if_not_exists", "create"}});
  ASSERT_EQ(r["status"], "interrupted") << r.dump(2);
  int64_t id = r["output"]["interrupts"][0]["payload"]["proposal"];
  EXPECT_EQ(r["waiting_for"], json::array({id}));
  EXPECT_EQ(get(c, "/threads/f1")["waiting_for"], json::array({id}));
  // A task on a thread that waits for a human is refused; so is a resume before the decision? No: it stops again.
  EXPECT_EQ(post(c, "/threads/f1/runs", task("something else"), 409)["error"], "waits_for_human");

  json list = get(c, "/approvals");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_EQ(list[0]["kind"], "tool.register");
  json shown = get(c, "/approvals/" + std::to_string(id));
  EXPECT_NE(shown["after"].get<std::string>().find("def celsius_to_fahrenheit"), std::string::npos) << shown.dump(2);
  EXPECT_FALSE(shown["diff"].get<std::string>().empty());
  EXPECT_TRUE(shown["codex_problems"].empty());
  get(c, "/approvals/999", 404);
  get(c, "/approvals/abc", 404);
  EXPECT_EQ(post(c, "/approvals/" + std::to_string(id) + "/approve", json::object(), 400)["error"], "bad_request");  // no reason

  json ok = post(c, "/approvals/" + std::to_string(id) + "/approve", {{"reason", "looks right"}, {"reviewer", "tester"}});
  EXPECT_EQ(ok["status"], "approved");
  EXPECT_EQ(ok["reviewer"], "human:tester");
  post(c, "/approvals/" + std::to_string(id) + "/reject", {{"reason", "changed my mind"}}, 409);  // decided already
  json done = post(c, "/threads/f1/runs/wait", {{"command", {{"resume", true}}}});
  ASSERT_EQ(done["status"], "success") << done.dump(2);
  EXPECT_EQ(done["output"]["answer"], "100 C is 212 F.");
  EXPECT_EQ(get(c, "/approvals?status=applied").size(), 1u);
  EXPECT_EQ(s.terminate(), 0) << s.log;
  expect_image_ok();
}

// Bad input of every kind: a JSON error with the right status, never a crash, nothing
// written to the image.
TEST_F(Serve, AttacksGetJsonErrorsAndLeaveTheImageAsItWas) {
  Server s(img, {"-m", quick, "--max-body", "4096", "--request-timeout", "1500"});
  auto c = s.client();
  auto events_before = a4ps_json("image info " + q(img))["events"];
  auto expect_error = [&](const httplib::Result& r, int status, const std::string& code) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), kJson);
    json b = body(r);
    ASSERT_TRUE(b.is_object()) << r->body;
    EXPECT_EQ(b["error"], code) << r->body;
    EXPECT_FALSE(b["detail"].get<std::string>().empty());
    EXPECT_EQ(b["detail"].get<std::string>().find('\n'), std::string::npos);  // one line
  };
  expect_error(c.Post("/threads/x/runs", "{not json", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/x/runs", "[1,2]", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/x/runs", R"({"input": 5, "if_not_exists": "create"})", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/x/runs", R"({"input": {"task": ["a"]}, "if_not_exists": "create"})", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/x/runs", R"({"input": "a", "command": {"resume": true}})", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/x/runs", R"({"input": "   ", "if_not_exists": "create"})", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/x/runs", R"({"input": "a", "multitask_strategy": "rollback"})", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/x/runs", std::string(2000, '[') + std::string(2000, ']'), kJson), 400, "bad_request");
  expect_error(c.Post("/threads/x/runs", "{\"input\": \"\xff\xfe\"}", kJson), 400, "bad_request");  // not UTF-8
  expect_error(c.Post("/threads/search", R"({"limit": "ten"})", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/search", R"({"limit": 100000})", kJson), 400, "bad_request");
  expect_error(c.Post("/threads", R"({"thread_id": "../../etc"})", kJson), 400, "bad_request");
  expect_error(c.Post("/threads/nope/runs", R"({"input": "a"})", kJson), 404, "not_found");
  expect_error(c.Get("/threads/nope"), 404, "not_found");
  expect_error(c.Get("/threads/nope/history"), 404, "not_found");
  expect_error(c.Get("/threads/nope/stream"), 404, "not_found");
  expect_error(c.Get("/threads/nope/runs/r-1"), 404, "not_found");
  expect_error(c.Post("/threads/nope/runs/r-1/cancel", "{}", kJson), 404, "not_found");
  expect_error(c.Get("/nowhere"), 404, "not_found");
  expect_error(c.Post("/approvals/1/approve", R"({"reason": "x"})", kJson), 404, "not_found");
  expect_error(c.Post("/threads", std::string(8192, ' '), kJson), 413, "payload_too_large");
  expect_error(c.Get("/threads/s1/stream", {{"Last-Event-ID", "-3"}}), 404, "not_found");  // unknown thread first
  post(c, "/threads", {{"thread_id", "known"}});
  expect_error(c.Get("/threads/known/stream", {{"Last-Event-ID", "abc"}}), 400, "bad_request");
  expect_error(c.Post("/threads/known/runs", R"({"command": {"resume": true}})", kJson), 409, "nothing_to_resume");
  // A page whose own name resolves to 127.0.0.1 (DNS rebinding) still says its name in Host.
  expect_error(c.Get("/threads", {{"Host", "evil.example:8420"}}), 403, "forbidden_host");
  EXPECT_EQ(c.Get("/health", {{"Host", "localhost:8420"}})->status, 200);
  // Cross-origin requests (a web page the user visits) are refused: CORS is closed.
  expect_error(c.Post("/threads", {{"Origin", "http://evil.example"}}, "{}", kJson), 403, "forbidden_origin");
  httplib::Request pre;
  pre.method = "OPTIONS";
  pre.path = "/threads";
  pre.headers = {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "POST"}};
  auto pr = c.send(pre);
  ASSERT_TRUE(pr);
  EXPECT_EQ(pr->status, 403);
  EXPECT_FALSE(pr->has_header("Access-Control-Allow-Origin"));

  // Slowloris: a request line and headers dribbled out never reach a handler; at the
  // deadline the client gets a JSON 408 and the connection closes.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(s.port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string slow = "POST /threads HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  auto start = std::chrono::steady_clock::now();
  std::string got;
  for (size_t i = 0; i < slow.size() + 40 && std::chrono::steady_clock::now() - start < std::chrono::seconds(10); ++i) {
    char ch = i < slow.size() ? slow[i] : 'a';
    if (send(fd, &ch, 1, MSG_NOSIGNAL) != 1) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      char b[512];
      ssize_t n;
      while ((n = recv(fd, b, sizeof b, 0)) > 0) got.append(b, static_cast<size_t>(n));
      break;
    }
  }
  close(fd);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(got.find("HTTP/1.1 408"), std::string::npos) << got;
  EXPECT_NE(got.find("\"error\":\"request_timeout\""), std::string::npos) << got;
  EXPECT_LT(took, std::chrono::seconds(5));

  // Not HTTP at all: a JSON 400.
  {
    int g = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(g, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string junk = "\x16\x03\x01 hello\r\n\r\n";
    ASSERT_EQ(send(g, junk.data(), junk.size(), MSG_NOSIGNAL), static_cast<ssize_t>(junk.size()));
    std::string reply;
    char b[512];
    ssize_t n;
    pollfd p{g, POLLIN, 0};
    while (reply.find('}') == std::string::npos && poll(&p, 1, 3000) > 0 && (n = recv(g, b, sizeof b, 0)) > 0)
      reply.append(b, static_cast<size_t>(n));
    close(g);
    EXPECT_NE(reply.find("HTTP/1.1 400"), std::string::npos) << reply;
    EXPECT_NE(reply.find("\"error\":\"bad_request\""), std::string::npos) << reply;
  }
  // The server still answers, and the image holds nothing from any of it.
  EXPECT_EQ(get(c, "/health")["status"], "ok");
  EXPECT_EQ(s.terminate(), 0) << s.log;
  EXPECT_EQ(a4ps_json("image info " + q(img))["events"], events_before);
  expect_image_ok();
}

TEST_F(Serve, ATokenGuardsEveryEndpointButHealth) {
  std::ofstream(d / "token") << "0123456789abcdef0123456789abcdef\n";
  fs::permissions(d / "token", fs::perms::owner_read | fs::perms::owner_write);
  Server s(img, {"-m", quick, "--token-file", (d / "token").string()});
  auto c = s.client();
  auto r = c.Get("/threads");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(body(r)["error"], "unauthorized");
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  r = c.Get("/threads", {{"Authorization", "Bearer 0123456789abcdef0123456789abcdeX"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = c.Get("/threads", {{"Authorization", "Bearer 0123"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = c.Get("/threads", {{"Authorization", "Bearer 0123456789abcdef0123456789abcdef"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(get(c, "/health")["status"], "ok");
  // A refused POST's body is never read: the server closes that connection, so a client
  // that keeps connections alive sends its next request on a fresh one, not after the body.
  {
    httplib::Client k("127.0.0.1", s.port);
    k.set_keep_alive(true);
    for (const char* path : {"/threads", "/v1/chat/completions", "/mcp"}) {
      auto refused = k.Post(path, std::string(2000, 'x'), kJson);
      ASSERT_TRUE(refused) << path;
      EXPECT_EQ(refused->status, 401) << path;
      auto next = k.Get("/health");
      ASSERT_TRUE(next) << path;
      EXPECT_EQ(next->status, 200) << path << ": " << next->body;
    }
    k.stop();  // no idle kept-alive connection for the server to wait on while it stops
  }
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

// The console at /: its files need no token (they hold no data) and carry a strict CSP; the
// data behind them needs the token or the console's session cookie, and that cookie
// changes nothing without the console's header; form-typed posts are refused everywhere.
TEST_F(Serve, ConsoleLogsInWithTheTokenAndRefusesForgedRequests) {
  std::ofstream(d / "token") << "0123456789abcdef0123456789abcdef\n";
  fs::permissions(d / "token", fs::perms::owner_read | fs::perms::owner_write);
  Server s(img, {"-m", quick, "--token-file", (d / "token").string()});
  auto c = s.client();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("/console/app.js"), std::string::npos);
  std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  auto js = c.Get("/console/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  auto again = c.Get("/console/app.js", {{"If-None-Match", js->get_header_value("ETag")}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_EQ(c.Get("/console/api/image")->status, 401);
  EXPECT_EQ(body(c.Get("/console/session"))["login_required"], true);

  // Login: a wrong token is refused; the right one gives a session cookie, not the token.
  auto bad = c.Post("/console/login", R"({"token": "nope"})", kJson);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_FALSE(bad->has_header("Set-Cookie"));
  auto ok = c.Post("/console/login", R"({"token": "0123456789abcdef0123456789abcdef"})", kJson);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  std::string set = ok->get_header_value("Set-Cookie");
  EXPECT_NE(set.find("HttpOnly"), std::string::npos) << set;
  EXPECT_NE(set.find("SameSite=Strict"), std::string::npos) << set;
  EXPECT_EQ(set.find("0123456789abcdef"), std::string::npos) << set;
  httplib::Headers jar = {{"Cookie", set.substr(0, set.find(';'))}};
  auto info = c.Get("/console/api/image", jar);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, 200) << info->body;
  EXPECT_EQ(body(info)["path"], img.string());
  EXPECT_EQ(c.Get("/approvals", jar)->status, 200);

  // The cookie alone changes nothing (a cross-site request could carry it); with the
  // console's header it does.
  std::string mem = R"({"source": "notes", "text": "Barn owls hunt by sound."})";
  auto forged = c.Post("/console/api/memory", jar, mem, kJson);
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  EXPECT_EQ(body(forged)["error"], "csrf");
  auto plain = c.Post("/console/api/memory", {{"Cookie", jar.begin()->second}, {"X-A4PS-Console", "1"}}, mem, "text/plain");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 415);
  auto form = c.Post("/threads", {{"Authorization", "Bearer 0123456789abcdef0123456789abcdef"}, {"Sec-Fetch-Site", "cross-site"}},
                     "a=b", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415);
  // Not from a browser (curl -d): the body is judged as JSON, as before.
  auto curl = c.Post("/threads", {{"Authorization", "Bearer 0123456789abcdef0123456789abcdef"}}, "{}",
                     "application/x-www-form-urlencoded");
  ASSERT_TRUE(curl);
  EXPECT_EQ(curl->status, 200) << curl->body;
  auto added = c.Post("/console/api/memory", {{"Cookie", jar.begin()->second}, {"X-A4PS-Console", "1"}}, mem, kJson);
  ASSERT_TRUE(added);
  EXPECT_EQ(added->status, 200) << added->body;
  json found = body(c.Get("/console/api/memory?q=owls", jar));
  ASSERT_EQ(found["hits"].size(), 1u) << found.dump();
  EXPECT_EQ(found["sources"][0]["source"], "notes");
  json events = body(c.Get("/console/api/image/events?limit=5", jar));
  ASSERT_FALSE(events.empty());
  EXPECT_GT(events[0]["seq"].get<int64_t>(), events.back()["seq"].get<int64_t>());  // newest first
  EXPECT_EQ(s.terminate(), 0) << s.log;
  expect_image_ok();
}

TEST_F(Serve, RefusesToStartWithoutATokenOffLoopbackOrOnABadImage) {
  // Checked before anything listens: no socket is opened on another address.
  auto r = a4ps("serve " + q(img) + " --listen 0.0.0.0:0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("needs a bearer token"), std::string::npos) << r.err;
  std::ofstream(d / "short") << "abc\n";
  fs::permissions(d / "short", fs::perms::owner_read | fs::perms::owner_write);
  r = a4ps("serve " + q(img) + " --token-file " + q(d / "short"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("shorter than 16"), std::string::npos) << r.err;
  // A token file others may read is no secret; an empty one is no token.
  std::ofstream(d / "shared") << "0123456789abcdef0123456789abcdef\n";
  fs::permissions(d / "shared", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  r = a4ps("serve " + q(img) + " --token-file " + q(d / "shared"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("readable or writable by others; make it private with chmod 600"), std::string::npos) << r.err;
  std::ofstream(d / "empty") << "\n";
  fs::permissions(d / "empty", fs::perms::owner_read | fs::perms::owner_write);
  r = a4ps("serve " + q(img) + " --token-file " + q(d / "empty"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is empty"), std::string::npos) << r.err;
  r = a4ps("serve " + q(d / "missing.a4ps"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no image"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(d / "missing.a4ps"));
  r = a4ps("serve " + q(img) + " --listen 127.0.0.1:99999");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--listen"), std::string::npos) << r.err;
}

// Runs on different threads share one loaded model (the ModelManager's budget), not one
// model per run or per session.
TEST_F(Serve, RunsShareOneLoadedModel) {
  Server s(img, {"-m", model("synthetic-llama-tiny.gguf").string(), "--max-tokens", "4", "--workers", "2"});
  auto c = s.client(120);
  std::vector<std::thread> ts;
  std::vector<json> out(3);
  for (int i = 0; i < 3; ++i)
    ts.emplace_back([&, i] {
      auto ci = s.client(120);
      out[i] = body(ci.Post(("/threads/m" + std::to_string(i) + "/runs/wait").c_str(),
                            json{{"input", "hello"}, {"if_not_exists", "create"}}.dump(), kJson));
    });
  for (auto& t : ts) t.join();
  for (auto& o : out) EXPECT_TRUE(o["status"] == "success" || o["status"] == "error") << o.dump();  // random weights: any answer
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("\na4ps_model_loads_total 1\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("\na4ps_models_loaded 1\n"), std::string::npos) << m->body;
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

TEST_F(Serve, SigtermStopsARunningRunThatResumesAfterARestart) {
  std::string thread_run;
  {
    Server s(img, {"-m", slow});
    auto c = s.client();
    post(c, "/threads/t1/runs", {{"input", "rest"}, {"if_not_exists", "create"}});
    wait_running(c, "t1");
    EXPECT_EQ(s.terminate(15), 0) << s.log;
    EXPECT_NE(s.log.find("stopped"), std::string::npos) << s.log;
  }
  expect_image_ok();
  Server s(img, {"-m", slow});
  auto c = s.client();
  json t = get(c, "/threads/t1");
  EXPECT_EQ(t["status"], "error");  // cut off before a step: it resumes from its newest one
  EXPECT_GE(t["checkpoints"].get<int>(), 1);
  json r = post(c, "/threads/t1/runs/wait", {{"command", {{"resume", true}}}});
  EXPECT_EQ(r["status"], "success") << r.dump(2);
  EXPECT_EQ(s.terminate(), 0) << s.log;
  expect_image_ok();
}

// A client joins a run's stream by its id: the run's steps from its start (or after the
// Last-Event-ID it saw), then "end"; a run of an earlier start gives its end at once.
TEST_F(Serve, JoinsARunsStreamByItsId) {
  std::string run_id;
  std::vector<int64_t> all;
  {
    Server s(img, {"-m", slow});
    auto c = s.client();
    run_id = post(c, "/threads/j/runs", {{"input", "rest"}, {"if_not_exists", "create"}})["run_id"];
    int status = 0;
    auto evs = read_sse(c, "GET", "/threads/j/runs/" + run_id + "/stream", "", {}, [](const SseEvent&) { return false; },
                        &status);
    EXPECT_EQ(status, 200);
    ASSERT_GE(evs.size(), 4u);
    EXPECT_EQ(evs.front().event, "metadata");
    EXPECT_EQ(json::parse(evs.front().data)["run_id"], run_id);
    EXPECT_EQ(evs.back().event, "end");
    EXPECT_EQ(json::parse(evs.back().data)["status"], "success");
    for (auto& e : evs)
      if (e.event == "updates") all.push_back(std::stoll(e.id));
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<int64_t>(i + 1));  // every step, once
    // Joined again with the last id seen mid-way: only what came after.
    auto rest = read_sse(c, "GET", "/threads/j/runs/" + run_id + "/stream", "", {{"Last-Event-ID", "2"}},
                         [](const SseEvent&) { return false; });
    ASSERT_FALSE(rest.empty());
    EXPECT_EQ(rest.back().event, "end");
    int64_t updates = 0;
    for (auto& e : rest)
      if (e.event == "updates") {
        EXPECT_GT(std::stoll(e.id), 2);
        ++updates;
      }
    EXPECT_EQ(updates, static_cast<int64_t>(all.size()) - 2);
    status = 0;
    read_sse(c, "GET", "/threads/other/runs/" + run_id + "/stream", "", {}, [](const SseEvent&) { return false; }, &status);
    EXPECT_EQ(status, 404);
    EXPECT_EQ(s.terminate(), 0) << s.log;
  }
  Server s(img, {"-m", slow});
  auto c = s.client();
  auto evs = read_sse(c, "GET", "/threads/j/runs/" + run_id + "/stream", "", {}, [](const SseEvent&) { return false; });
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].event, "end");
  EXPECT_EQ(json::parse(evs[1].data)["status"], "success");
  EXPECT_EQ(s.terminate(), 0) << s.log;
}

// Runs are records in the image: after a restart they are still listed and shown, a run cut
// off by SIGTERM shows as interrupted (and its thread resumes), and one cut off by SIGKILL
// is settled as interrupted by the next start.
TEST_F(Serve, RunsSurviveARestartAsRecords) {
  std::string done_id, stopped_id, killed_id;
  {
    Server s(img, {"-m", slow});
    auto c = s.client();
    json r = post(c, "/threads/q/runs/wait", {{"input", "rest"}, {"if_not_exists", "create"}});
    EXPECT_EQ(r["status"], "success") << r.dump(2);
    done_id = r["run_id"];
    stopped_id = post(c, "/threads/t/runs", {{"input", "rest"}, {"if_not_exists", "create"}})["run_id"];
    wait_running(c, "t");
    EXPECT_EQ(s.terminate(15), 0) << s.log;
  }
  {
    Server s(img, {"-m", slow});
    auto c = s.client();
    json runs = get(c, "/threads/q/runs");
    ASSERT_EQ(runs.size(), 1u) << runs.dump(2);
    EXPECT_EQ(runs[0]["run_id"], done_id);
    EXPECT_EQ(runs[0]["status"], "success");
    EXPECT_FALSE(runs[0].value("finished_at", "").empty()) << runs.dump(2);
    json one = get(c, "/threads/q/runs/" + done_id);
    EXPECT_EQ(one["output"]["answer"], "Rested.") << one.dump(2);
    json cut = get(c, "/threads/t/runs/" + stopped_id);
    EXPECT_EQ(cut["status"], "interrupted") << cut.dump(2);
    EXPECT_NE(cut.value("error", "").find("resume"), std::string::npos) << cut.dump(2);
    get(c, "/threads/q/runs/" + stopped_id, 404);  // a run is found on its own thread only
    json resumed = post(c, "/threads/t/runs/wait", {{"command", {{"resume", true}}}});
    EXPECT_EQ(resumed["status"], "success") << resumed.dump(2);
    EXPECT_EQ(get(c, "/threads/t/runs").size(), 2u);
    // Killed mid-run: nothing ran its shutdown, so the record still says running...
    killed_id = post(c, "/threads/k/runs", {{"input", "rest"}, {"if_not_exists", "create"}})["run_id"];
    wait_running(c, "k");
    kill(s.pid, SIGKILL);
  }
  Server s(img, {"-m", slow});
  auto c = s.client();
  json killed = get(c, "/threads/k/runs/" + killed_id);  // ...until this start settles it
  EXPECT_EQ(killed["status"], "interrupted") << killed.dump(2);
  EXPECT_FALSE(killed.value("finished_at", "").empty()) << killed.dump(2);
  EXPECT_EQ(get(c, "/threads/q/runs/" + done_id)["status"], "success");
  EXPECT_EQ(s.terminate(), 0) << s.log;
  expect_image_ok();
}

}  // namespace
}  // namespace a4ps::test
