#include "guarded_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace a4ps::server {

namespace {

thread_local int current_socket = -1;  // the connection this httplib worker is serving

// httplib's Stream over a connected socket: reads wait at most read_timeout for data,
// writes at most write_timeout for room.
class SocketStream final : public httplib::Stream {
 public:
  SocketStream(int sock, int read_ms, int write_ms) : sock_(sock), read_ms_(read_ms), write_ms_(write_ms) {}
  bool is_readable() const override { return wait(POLLIN, read_ms_); }
  bool is_writable() const override {
    if (!wait(POLLOUT, write_ms_)) return false;
    char c;  // a peer that closed reads as 0 bytes: stop streaming to it
    ssize_t n = ::recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK));
  }
  ssize_t read(char* ptr, size_t size) override {
    if (!wait(POLLIN, read_ms_)) return -1;
    ssize_t n;
    do n = ::recv(sock_, ptr, size, 0);
    while (n < 0 && errno == EINTR);
    return n;
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!wait(POLLOUT, write_ms_)) return -1;
    ssize_t n;
    do n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { addr(::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { addr(::getsockname, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  bool wait(short events, int ms) const {
    pollfd p{sock_, events, 0};
    int r;
    do r = ::poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r > 0 && (p.revents & events) && !(p.revents & POLLNVAL);
  }
  void addr(int (*get)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ip.clear();
    port = 0;
    if (get(sock_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return;
    char host[64] = {0}, serv[16] = {0};
    if (getnameinfo(reinterpret_cast<sockaddr*>(&a), len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }
  int sock_, read_ms_, write_ms_;
};

const char kTimeout[] =
    "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 94\r\n\r\n"
    "{\"error\":\"request_timeout\",\"detail\":\"the request was not sent in time; send it whole, faster\"}";

}  // namespace

GuardedServer::GuardedServer(std::chrono::milliseconds d) : deadline_(d), watchdog_([this] { watch(); }) {}

GuardedServer::~GuardedServer() {
  {
    std::lock_guard lk(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
}

void GuardedServer::widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }

void GuardedServer::request_read() {
  std::lock_guard lk(mu_);
  armed_.erase(current_socket);
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  SocketStream strm(sock, static_cast<int>(read_timeout_sec_ * 1000 + read_timeout_usec_ / 1000),
                    static_cast<int>(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000));
  current_socket = sock;
  bool ok = false;
  for (size_t left = keep_alive_max_count_; left > 0 && is_running(); --left) {
    // Between requests of a kept-alive connection: wait for the next one, briefly.
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(keep_alive_timeout_sec_ * 1000)) <= 0) break;
    {
      std::lock_guard lk(mu_);
      armed_[sock] = std::chrono::steady_clock::now() + deadline_;
    }
    cv_.notify_all();
    bool closed = false;
    ok = process_request(strm, left == 1, closed, [](httplib::Request&) {});
    {
      std::lock_guard lk(mu_);
      armed_.erase(sock);
    }
    if (!ok || closed) break;
  }
  current_socket = -1;
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

void GuardedServer::watch() {
  std::unique_lock lk(mu_);
  while (!quit_) {
    auto now = std::chrono::steady_clock::now();
    auto next = now + std::chrono::seconds(1);
    for (auto it = armed_.begin(); it != armed_.end();) {
      if (it->second <= now) {
        // Still reading at its deadline: answer it and close the connection; the worker's
        // read then fails and it lets go.
        ::send(it->first, kTimeout, sizeof kTimeout - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        ::shutdown(it->first, SHUT_RDWR);
        ++timed_out_;
        it = armed_.erase(it);
      } else {
        next = std::min(next, it->second);
        ++it;
      }
    }
    cv_.wait_until(lk, next);
  }
}

}  // namespace a4ps::server
