// a4ps serve: the image as an HTTP service (threads, runs, approvals, event streams) until
// SIGTERM or Ctrl-C, which stop it cleanly: no new work, running runs stop before their
// next step (checkpointed, resumable), then it exits.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <a4ps_serve.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "a4ps/error.h"
#include "cli.h"

namespace a4ps::cli {

namespace {

std::string read_token(const std::string& path) {
  // A token others on the machine can read is no secret: refuse it, as ssh does a key.
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0)
    throw a4ps::Error("cannot read the token file " + path + "; check the path and its permissions");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    throw a4ps::Error("the token file " + path + " is readable or writable by others; make it private with chmod 600 " + path);
  std::ifstream in(path);
  if (!in) throw a4ps::Error("cannot read the token file " + path + "; check the path and its permissions");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.find_first_not_of(" \t\r\n") == std::string::npos)
    throw a4ps::Error("the token file " + path + " is empty; put a long random token in it");
  if (t.size() < 16) throw a4ps::Error("the token in " + path + " is shorter than 16 characters; use a long random one");
  return t;
}

}  // namespace

void add_serve_command(CLI::App& app, Globals&) {
  static server::ServeOptions o;
  static std::string token_file;
  auto* c = sub(&app, "serve", "serve an image over HTTP: threads, runs, approvals, event streams");
  c->add_option("image", o.image, "the image (*.a4ps)")->required();
  c->add_option("--listen", o.listen, "HOST:PORT to listen on (default 127.0.0.1:8420; not loopback needs --token-file)");
  c->add_option("--token-file", token_file, "file holding the bearer token clients must send");
  c->add_option("-m,--model", o.model, "model for every run: GGUF path, ollama:NAME, openai:URL#MODEL or scripted:FILE");
  c->add_option("--sandbox", o.sandbox, "gvisor or bwrap (default: the strongest that works)");
  c->add_option("--max-tokens", o.max_tokens, "cap on every persona turn (default: each persona's own)")->check(CLI::Range(0, 1 << 20));
  c->add_option("--workers", o.workers, "runs at once (default 4)")->check(CLI::Range(1, 256));
  c->add_option("--max-body", o.max_body, "largest request body in bytes (default 1 MiB)")->check(CLI::Range(1024, 1 << 30));
  c->add_option("--request-timeout", o.request_deadline_ms, "milliseconds a client has to send a request whole (default 15000)")
      ->check(CLI::Range(100, 600000));
  c->add_option("--kernel-idle", o.kernel_idle_ms, "milliseconds a thread's sandbox kernel is kept idle between its runs (default 600000)")
      ->check(CLI::Range(10, 86400000));
  c->add_option("--max-kernels", o.max_kernels, "idle threads' sandbox kernels kept at once (default 16)")->check(CLI::Range(0, 4096));
  c->add_option("--tool-timeout", o.tool_wall_ms, "milliseconds an MCP tool call may run (default 10000)")
      ->check(CLI::Range(100, 3600000));
  c->add_option("--allow-origin", o.allow_origins, "a browser origin allowed cross-origin (CORS is closed by default)");
  c->add_flag("--live", o.live, "live mode: pursue the image's own goals while no run is active (a4ps goals)");
  c->add_option("--live-pause", o.live_pause_s, "seconds between live rounds (default 60)")->check(CLI::Range(1, 86400));
  c->callback([] {
    if (!token_file.empty()) o.token = read_token(token_file);
    o.log = [](const std::string& line) { std::cerr << "a4ps serve: " << line << "\n" << std::flush; };
    // SIGTERM and SIGINT are taken by one thread (blocked everywhere else), which stops the service.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a client that goes away is a failed write, not a dead server
    server::Service svc(o);
    svc.bind();
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&set, &sig);
      svc.stop();
    });
    svc.serve();
    svc.stop();
    pthread_kill(waiter.native_handle(), SIGUSR1);  // ends the waiter when serve() ended on its own
    waiter.join();
  });
}

}  // namespace a4ps::cli
