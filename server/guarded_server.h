// cpp-httplib's server with a deadline on reading each request (line, headers and body).
//
// httplib's own read timeout applies to each read, so a client that sends one byte every
// few seconds (slowloris) would hold a connection and a worker for hours. Here every
// connection runs httplib's keep-alive loop over a socket whose request is armed with a
// deadline when it starts and disarmed when routing begins; a watchdog answers a request
// that is still being read at its deadline with a JSON 408 and closes the socket.
#pragma once
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace a4ps::server {

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(std::chrono::milliseconds request_deadline);
  ~GuardedServer() override;

  // After binding: httplib listens with a backlog of 5, so a burst of new connections
  // overflows the accept queue and clients see resets; Linux lets listen() raise it.
  void widen_backlog();
  // Call from the pre-routing handler: the request has been read in full.
  void request_read();
  int64_t requests_timed_out() const { return timed_out_; }

 private:
  bool process_and_close_socket(socket_t sock) override;
  void watch();

  std::chrono::milliseconds deadline_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, std::chrono::steady_clock::time_point> armed_;  // socket -> deadline
  bool quit_ = false;
  std::atomic<int64_t> timed_out_{0};
  std::thread watchdog_;
};

}  // namespace a4ps::server
