// bench_sandbox: what a tool call costs. Cold start of a kernel (gVisor, bubblewrap) and
// warm call latency (a small tool call in a running kernel), median and p99, against
// starting a plain /usr/bin/python3 process for each call.
//
//   bench_sandbox [--cold N] [--warm N]
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"
#include "sandbox/sandbox.h"

using namespace a4ps::sandbox;
using Clock = std::chrono::steady_clock;

namespace {

using a4ps::bench::ms_since;
using a4ps::bench::stats;

const char* kCall = "def add(a, b):\n    return a + b\nadd(20, 22)";

}  // namespace

int main(int argc, char** argv) {
  int cold = 10, warm = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--cold") cold = std::atoi(argv[i + 1]);
    else if (std::string(argv[i]) == "--warm") warm = std::atoi(argv[i + 1]);
  }
  std::string tmpl = "/tmp/a4ps-bench-sandbox-XXXXXX";
  if (!mkdtemp(tmpl.data())) return 1;
  chmod(tmpl.c_str(), 0755);
  std::printf("%-34s %10s %10s\n", "case", "median", "p99");
  // The peer: a fresh python3 process per call.
  std::vector<double> plain;
  for (int i = 0; i < std::max(cold, 20); ++i) {
    auto t0 = Clock::now();
    if (std::system("/usr/bin/python3 -I -c 'def add(a, b): return a + b\nadd(20, 22)'") != 0) return 1;
    plain.push_back(ms_since(t0));
  }
  auto p = stats(plain);
  std::printf("%-34s %8.1f ms %8.1f ms\n", "plain python3 process per call", p.p50, p.p99);
  for (Provider pr : {Provider::GVisor, Provider::Bwrap}) {
    std::vector<double> c, w;
    try {
      for (int i = 0; i < cold; ++i) {
        auto t0 = Clock::now();
        auto k = Kernel::start({.provider = pr, .workspace = tmpl + "/" + provider_name(pr)});
        auto r = k->run("1");  // the first answer: the kernel is up
        if (!r.ok) throw std::runtime_error(r.error);
        c.push_back(ms_since(t0));
      }
      auto k = Kernel::start({.provider = pr, .workspace = tmpl + "/" + provider_name(pr)});
      k->run("1");
      for (int i = 0; i < warm; ++i) {
        auto t0 = Clock::now();
        auto r = k->run(kCall);
        if (!r.ok || r.value != "42") throw std::runtime_error("unexpected answer: " + r.error);
        w.push_back(ms_since(t0));
      }
    } catch (const std::exception& e) {
      std::printf("%-34s skipped: %s\n", provider_name(pr), e.what());
      continue;
    }
    auto cs = stats(c), ws = stats(w);
    std::printf("%-34s %8.1f ms %8.1f ms\n", (std::string(provider_name(pr)) + " cold start").c_str(), cs.p50, cs.p99);
    std::printf("%-34s %8.3f ms %8.3f ms   (%.0fx faster than a plain process)\n",
                (std::string(provider_name(pr)) + " warm tool call").c_str(), ws.p50, ws.p99, p.p50 / ws.p50);
  }
  std::printf("targets: warm call <= 5 ms median; gVisor cold start <= 500 ms\n");
  std::string rm = "rm -rf '" + tmpl + "'";
  return std::system(rm.c_str()) == 0 ? 0 : 1;
}
