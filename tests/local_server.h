// A loopback HTTP server for tests: add routes to `srv`, then start().
#pragma once
#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

namespace a4ps::test {

struct LocalServer {
  httplib::Server srv;
  std::thread th;
  int port = 0;
  void start() {
    port = srv.bind_to_any_port("127.0.0.1");
    th = std::thread([this] { srv.listen_after_bind(); });
    while (!srv.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LocalServer() {
    srv.stop();
    if (th.joinable()) th.join();
  }
  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port) + path; }
};

}  // namespace a4ps::test
