// A real `a4ps serve` process on 127.0.0.1 and an ephemeral port, for the service's tests.
#pragma once
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <spawn.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "testutil.h"

namespace a4ps::test {

using json = nlohmann::json;

// A scripted (fake) model: one reply per line, taken in order per persona, restarting for
// every run (the server gives each run its own session).
inline std::string write_script(const fs::path& file, const std::vector<json>& lines) {
  std::ofstream o(file);
  for (auto& l : lines) o << l.dump() << "\n";
  return "scripted:" + file.string();
}
inline json route(const std::string& turn, const std::string& next, const std::string& brief = "go") {
  return {{"persona", "ALFRED"}, {"match", "routing turn " + turn + " "}, {"text", json{{"next", next}, {"brief", brief}}.dump()}};
}
inline json say(const std::string& persona, const std::string& text, const std::string& match = "") {
  json j = {{"persona", persona}, {"text", text}};
  if (!match.empty()) j["match"] = match;
  return j;
}
inline json critique(const std::string& verdict, const std::string& reasons) {
  return {{"persona", "ROBIN"}, {"text", json{{"verdict", verdict}, {"reasons", reasons}}.dump()}};
}

struct Server {
  pid_t pid = -1;
  int err_fd = -1;
  int port = 0;
  std::string log;  // what it wrote on stderr so far

  // Starts `a4ps serve IMAGE --listen 127.0.0.1:0 ARGS...` and waits for its port.
  Server(const fs::path& image, std::vector<std::string> args) {
    std::vector<std::string> argv = {A4PS_BIN, "serve", image.string(), "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<char*> av;
    for (auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    if (posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    err_fd = fds[0];
    if (pid < 0) throw std::runtime_error("cannot start a4ps serve");
    std::regex re(R"(on http://127\.0\.0\.1:(\d+))");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      if (std::regex_search(log, m, re)) {
        port = std::stoi(m[1]);
        return;
      }
      if (!read_some(200) && exited()) break;
    }
    throw std::runtime_error("a4ps serve did not start: " + log);
  }
  ~Server() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (err_fd >= 0) close(err_fd);
  }
  // Reads what it wrote on stderr, waiting at most ms; false when nothing came.
  bool read_some(int ms) {
    pollfd p{err_fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return false;
    char b[4096];
    ssize_t n = ::read(err_fd, b, sizeof b);
    if (n <= 0) return false;
    log.append(b, static_cast<size_t>(n));
    return true;
  }
  bool exited() {
    int st;
    return waitpid(pid, &st, WNOHANG) == pid ? (pid = -1, true) : false;
  }
  // SIGTERM, then its exit status (-1 when it had not exited within `seconds`).
  int terminate(int seconds = 30) {
    kill(pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        while (read_some(0)) {
        }
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      read_some(50);
    }
    return -1;
  }
  httplib::Client client(int read_timeout_s = 60) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(read_timeout_s, 0);
    c.set_connection_timeout(5, 0);
    return c;
  }
};

// A response's body as JSON (null when it is not JSON).
inline json body(const httplib::Result& r) {
  if (!r) return nullptr;
  return json::parse(r->body, nullptr, false);
}

struct SseEvent {
  std::string id, event, data;
};

// Reads a Server-Sent Events stream until `stop` says so for an event (or the stream ends
// or the timeout passes). Returns the events in order.
inline std::vector<SseEvent> read_sse(httplib::Client& c, const std::string& method, const std::string& path,
                                      const std::string& body_text, const httplib::Headers& headers,
                                      const std::function<bool(const SseEvent&)>& stop, int* status = nullptr) {
  std::vector<SseEvent> out;
  std::string buf;
  SseEvent cur;
  bool stopped = false;
  auto receiver = [&](const char* data, size_t n) {
    buf.append(data, n);
    size_t pos;
    while ((pos = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, pos);
      buf.erase(0, pos + 1);
      if (line.empty()) {
        if (!cur.event.empty() || !cur.data.empty()) {
          out.push_back(cur);
          if (stop(cur)) stopped = true;
        }
        cur = {};
        if (stopped) return false;
      } else if (line.rfind("id: ", 0) == 0) cur.id = line.substr(4);
      else if (line.rfind("event: ", 0) == 0) cur.event = line.substr(7);
      else if (line.rfind("data: ", 0) == 0) cur.data += line.substr(6);
    }
    return true;
  };
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = headers;
  if (method != "GET") {
    req.body = body_text;
    req.set_header("Content-Type", "application/json");
  }
  req.response_handler = [&](const httplib::Response& res) {
    if (status) *status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) { return receiver(data, n); };
  c.send(req);
  return out;
}

}  // namespace a4ps::test
