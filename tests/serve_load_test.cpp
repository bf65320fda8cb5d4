// `a4ps serve` under load, on loopback: 50 clients each ask 20 tasks on a thread of their
// own (1000 runs on the scripted model) while 5 readers follow five of those threads over
// SSE, dropping the connection every few events and reconnecting with Last-Event-ID.
// Every run must succeed, every reader must get every event of its thread exactly once and
// in order, and the image must pass its check afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "serve_util.h"

namespace a4ps::test {
namespace {

TEST(ServeLoad, FiftyClientsTwentyRunsEachAndReadersThatReconnect) {
  constexpr int kClients = 50, kRuns = 20, kReaders = 5;
  TempDir d;
  fs::path img = d / "load.a4ps";
  fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);
  ASSERT_EQ(a4ps("image init " + q(img)).code, 0);
  std::string script = write_script(d / "quick.jsonl", {route("1", "ANSWER"), say("ALFRED", "Done.", "Write the answer")});
  Server s(img, {"-m", script, "--workers", "4"});

  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> clients_done{false};
  std::mutex mu;
  std::string first_failure;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      auto c = s.client(300);
      std::string thread = "load-" + std::to_string(i);
      for (int k = 0; k < kRuns; ++k) {
        json b = {{"input", "task " + std::to_string(k)}};
        if (k == 0) b["if_not_exists"] = "create";
        auto r = c.Post(("/threads/" + thread + "/runs/wait").c_str(), b.dump(), "application/json");
        json j = body(r);
        if (r && r->status == 200 && j.value("status", "") == "success" && j["output"]["answer"] == "Done.") {
          ++ok;
        } else {
          ++failed;
          std::lock_guard lk(mu);
          if (first_failure.empty()) first_failure = r ? r->body : "no response: " + httplib::to_string(r.error());
        }
      }
    });

  // Readers: reconnect every few events with the last id they saw.
  std::vector<std::vector<int64_t>> seen(kReaders);
  std::vector<int> reconnects(kReaders, 0);
  std::vector<int64_t> expected_last(kReaders, -1);
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i)
    readers.emplace_back([&, i] {
      std::string thread = "load-" + std::to_string(i);
      int64_t last = 0;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(8);
      while (std::chrono::steady_clock::now() < deadline) {
        {
          std::lock_guard lk(mu);
          if (expected_last[i] >= 0 && last >= expected_last[i]) break;
        }
        auto c = s.client(2);  // an idle stream times out on the client: it reconnects
        int got = 0, drop_after = 2 + (reconnects[i] % 4);
        int status = 0;
        read_sse(c, "GET", "/threads/" + thread + "/stream", "", {{"Last-Event-ID", std::to_string(last)}},
                 [&](const SseEvent& e) {
                   if (e.event == "updates") {
                     seen[i].push_back(std::stoll(e.id));
                     last = std::stoll(e.id);
                   }
                   return ++got >= drop_after;  // drop mid-stream
                 },
                 &status);
        if (status == 404) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // its thread starts soon
        ++reconnects[i];
      }
    });

  for (auto& t : clients) t.join();
  clients_done = true;
  {
    auto c = s.client();
    std::lock_guard lk(mu);
    for (int i = 0; i < kReaders; ++i) {
      json h = body(c.Get(("/threads/load-" + std::to_string(i) + "/history?limit=1&values=false").c_str()));
      ASSERT_TRUE(h.is_array() && h.size() == 1) << h.dump();
      expected_last[i] = std::stoll(h[0]["checkpoint_id"].get<std::string>());
    }
  }
  for (auto& t : readers) t.join();

  EXPECT_EQ(ok.load(), kClients * kRuns) << "first failure: " << first_failure;
  EXPECT_EQ(failed.load(), 0);
  for (int i = 0; i < kReaders; ++i) {
    ASSERT_FALSE(seen[i].empty()) << "reader " << i;
    EXPECT_EQ(seen[i].front(), 1) << "reader " << i;
    EXPECT_EQ(seen[i].back(), expected_last[i]) << "reader " << i;
    for (size_t k = 1; k < seen[i].size(); ++k)
      ASSERT_EQ(seen[i][k], seen[i][k - 1] + 1) << "reader " << i << " at " << k;  // each once, in order
    EXPECT_GT(reconnects[i], 10) << "reader " << i;
  }
  auto m = s.client().Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("a4ps_runs{status=\"success\"} " + std::to_string(kClients * kRuns) + "\n"), std::string::npos) << m->body;
  EXPECT_EQ(s.terminate(), 0) << s.log;
  auto check = a4ps("image check " + q(img));
  EXPECT_EQ(check.code, 0) << check.out << check.err;
}

}  // namespace
}  // namespace a4ps::test
