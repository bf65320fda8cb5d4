#include "sandbox/containment.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "util/util.h"

namespace a4ps::sandbox {

// Generated from tests/containment/*.py by CMake (containment_cases.cpp).
extern const std::vector<std::pair<std::string, std::string>> kContainmentSources;

namespace {

std::string header_field(const std::string& src, const std::string& key) {
  std::istringstream in(src);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# " + key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 3);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
  }
  return "";
}

std::vector<std::string> split_runs(const std::string& src) {
  std::vector<std::string> runs(1);
  std::istringstream in(src);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# --- run ---", 0) == 0) runs.emplace_back();
    else runs.back() += line + "\n";
  }
  return runs;
}

Limits limits_for(const std::string& spec) {
  Limits l{.wall_ms = 15000};
  std::istringstream in(spec);
  for (std::string kv; in >> kv;) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string k = kv.substr(0, eq);
    long long v = std::atoll(kv.c_str() + eq + 1);
    if (k == "wall_ms") l.wall_ms = static_cast<int>(v);
    else if (k == "processes") l.processes = static_cast<int>(v);
    else if (k == "memory_bytes") l.memory_bytes = static_cast<uint64_t>(v);
  }
  return l;
}

std::string py_str(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') o.push_back('\\');
    o.push_back(c);
  }
  return o + "'";
}

std::string host_kernel() {
  utsname u{};
  uname(&u);
  return u.release;
}

// The host side of the attacks: things a contained sandbox must not reach.
struct Fixtures {
  std::string canary = random_id(), marker = "a4ps-marker-" + random_id().substr(0, 16);
  fs::path dir, secret, tmp_file, sock_path;
  std::string abstract_name = "a4ps-canary-" + random_id().substr(0, 12);
  int tcp = -1, udp = -1, unix_fd = -1, abstract_fd = -1, tcp_port = 0, udp_port = 0;

  Fixtures() {
    char tmpl[] = "/tmp/a4ps-containment-XXXXXX";
    if (!mkdtemp(tmpl)) throw Error("cannot make a folder for the containment suite in /tmp");
    dir = tmpl;
    chmod(dir.c_str(), 0755);
    secret = dir / "secret.txt";
    std::ofstream(secret) << "host secret " << canary << "\n";
    chmod(secret.c_str(), 0644);
    tmp_file = fs::path("/tmp") / ("a4ps-canary-" + canary.substr(0, 12));
    std::ofstream(tmp_file) << canary << "\n";
    chmod(tmp_file.c_str(), 0644);
    setenv("A4PS_CANARY_SECRET", canary.c_str(), 1);  // in the host's environment, to be looked for
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tcp < 0 || bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(tcp, 8) != 0)
      throw Error("cannot listen on loopback for the containment suite");
    getsockname(tcp, reinterpret_cast<sockaddr*>(&a), &len);
    tcp_port = ntohs(a.sin_port);
    a.sin_port = 0;
    udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (udp < 0 || bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw Error("cannot bind a UDP socket on loopback for the containment suite");
    len = sizeof a;
    getsockname(udp, reinterpret_cast<sockaddr*>(&a), &len);
    udp_port = ntohs(a.sin_port);
    sock_path = dir / "host.sock";
    sockaddr_un u{};
    u.sun_family = AF_UNIX;
    std::snprintf(u.sun_path, sizeof u.sun_path, "%s", sock_path.c_str());
    unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (unix_fd < 0 || bind(unix_fd, reinterpret_cast<sockaddr*>(&u), sizeof u) != 0 || listen(unix_fd, 8) != 0)
      throw Error("cannot listen on a unix socket for the containment suite");
    chmod(sock_path.c_str(), 0777);
    sockaddr_un ab{};
    ab.sun_family = AF_UNIX;
    std::memcpy(ab.sun_path + 1, abstract_name.data(), abstract_name.size());
    abstract_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (abstract_fd < 0 ||
        bind(abstract_fd, reinterpret_cast<sockaddr*>(&ab), offsetof(sockaddr_un, sun_path) + 1 + abstract_name.size()) != 0 ||
        listen(abstract_fd, 8) != 0)
      throw Error("cannot listen on an abstract unix socket for the containment suite");
  }
  ~Fixtures() {
    for (int fd : {tcp, udp, unix_fd, abstract_fd})
      if (fd >= 0) close(fd);
    unsetenv("A4PS_CANARY_SECRET");
    std::error_code ec;
    fs::remove(tmp_file, ec);
    fs::remove_all(dir, ec);
  }

  std::string preamble(Provider p) const {
    return "CANARY = " + py_str(canary) + "\nMARKER = " + py_str(marker) + "\nHOST_PID = " + std::to_string(getpid()) +
           "\nHOST_SECRET_FILE = " + py_str(secret.string()) + "\nHOST_TMP_FILE = " + py_str(tmp_file.string()) +
           "\nHOST_SOCKET = " + py_str(sock_path.string()) + "\nABSTRACT_SOCKET = " + py_str(abstract_name) +
           "\nTCP_PORT = " + std::to_string(tcp_port) + "\nUDP_PORT = " + std::to_string(udp_port) +
           "\nTMP_LIMIT = " + std::to_string(Limits{}.tmp_bytes) + "\nPROVIDER = " + py_str(provider_name(p)) +
           "\nHOST_KERNEL = " + py_str(host_kernel()) + "\nNone";
  }

  bool udp_received() const {
    char buf[512];
    bool got = false;
    while (recv(udp, buf, sizeof buf, MSG_DONTWAIT) > 0) got = true;
    return got;
  }
};

bool stopped_by_limit(const Result& r) {
  return r.timed_out || r.crashed || r.error_type == "MemoryError" || r.error_type == "WorkspaceLimit";
}

std::string unquote(const std::string& v) {
  if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"') && v.back() == v.front()) return v.substr(1, v.size() - 2);
  return v;
}

void workspace_size(const fs::path& ws, uint64_t& bytes, uint64_t& files) {
  bytes = files = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(ws, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) bytes += it->file_size(ec), ++files;
}

ContainmentResult run_case(const ContainmentCase& c, Provider p, const Fixtures& fx) {
  ContainmentResult out{c.name, c.title, c.klass};
  auto t0 = std::chrono::steady_clock::now();
  Limits lim = limits_for(header_field(c.source, "limits"));
  std::string host = header_field(c.source, "host");
  fs::path ws = fx.dir / ("ws-" + c.name);
  std::vector<Result> results;
  std::string detail;
  try {
    auto k = Kernel::start({.provider = p, .limits = lim, .workspace = ws, .allow_unsafe = false});
    Result pre = k->run(fx.preamble(p));
    if (!pre.ok) throw Error("the case's preamble failed: " + pre.error);
    for (auto& code : split_runs(c.source)) {
      Result r = k->run(code);
      if (!r.timed_out && !r.crashed && !r.ok && !stopped_by_limit(r) && r.error_type != "") {
        // A Python error in the case's own code: the kernel answered, the case is wrong.
        results.push_back(r);
        break;
      }
      if ((r.timed_out || r.crashed) && k->run(fx.preamble(p)).ok == false) {
        results.push_back(r);
        break;
      }
      results.push_back(r);
    }
  } catch (const std::exception& e) {
    out.verdict = Verdict::Broken;
    out.detail = e.what();
    out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }
  // Judge the runs: any ESCAPED wins; the last run says contained, n/a, or stopped.
  out.verdict = Verdict::Contained;
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    std::string v = unquote(r.value);
    if (r.ok && v.rfind("ESCAPED", 0) == 0) {
      out.verdict = Verdict::Escaped;
      out.detail = v.size() > 9 ? v.substr(9) : v;
      break;
    }
    if (i + 1 < results.size()) continue;
    if (r.ok && v == "CONTAINED") out.detail = "blocked";
    else if (r.ok && v.rfind("N/A", 0) == 0) out.verdict = Verdict::NotApplicable, out.detail = v.size() > 5 ? v.substr(5) : v;
    else if (stopped_by_limit(r))
      out.detail = r.timed_out ? "stopped at the wall-time limit" : r.crashed ? "the kernel was killed at a limit" : r.error;
    else out.verdict = Verdict::Broken, out.detail = "the case answered " + (r.ok ? r.value : r.error_type + ": " + r.error);
  }
  if (results.size() < split_runs(c.source).size() && out.verdict == Verdict::Contained) {
    const Result& r = results.back();
    out.verdict = Verdict::Broken;
    out.detail = "the kernel did not come back after run " + std::to_string(results.size()) + ": " + r.error;
  }
  // What only the host can see. The kernel is gone now (it ended with the block above).
  if (host.find("no-survivors") != std::string::npos) {
    std::vector<int> left;
    for (int i = 0; i < 40 && !(left = host_processes_with(fx.marker)).empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!left.empty()) out.verdict = Verdict::Escaped, out.detail = std::to_string(left.size()) + " processes outlived the sandbox";
  }
  if (host.find("workspace-bounded") != std::string::npos) {
    uint64_t bytes, files;
    workspace_size(ws, bytes, files);
    if (bytes > lim.workspace_bytes || files > static_cast<uint64_t>(lim.workspace_files))
      out.verdict = Verdict::Escaped, out.detail = "the host workspace grew to " + human_bytes(bytes) + " in " +
                                                   std::to_string(files) + " files";
  }
  if (host.find("udp-silent") != std::string::npos && fx.udp_received())
    out.verdict = Verdict::Escaped, out.detail = "a UDP datagram reached the host's loopback";
  if (host.find("output-bounded") != std::string::npos)
    for (auto& r : results)
      if (r.stdout_text.size() > lim.output_bytes || r.stderr_text.size() > lim.output_bytes)
        out.verdict = Verdict::Escaped, out.detail = "output past its limit reached the host";
  std::error_code ec;
  fs::remove_all(ws, ec);
  out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace

const std::vector<ContainmentCase>& containment_cases() {
  static const std::vector<ContainmentCase> cases = [] {
    std::vector<ContainmentCase> v;
    for (auto& [name, src] : kContainmentSources)
      v.push_back({name, header_field(src, "title"), header_field(src, "class"), src});
    return v;
  }();
  return cases;
}

std::vector<int> host_processes_with(const std::string& text) {
  std::vector<int> found;
  DIR* d = opendir("/proc");
  if (!d) return found;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(f)), {});
    if (cmd.find(text) != std::string::npos) found.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  return found;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Contained: return "contained";
    case Verdict::Escaped: return "escaped";
    case Verdict::NotApplicable: return "n/a";
    case Verdict::Broken: return "broken";
  }
  return "?";
}

std::vector<ContainmentResult> run_containment(Provider provider, const std::string& only,
                                               const std::function<void(const ContainmentResult&)>& progress) {
  if (provider == Provider::None)
    throw Error("the containment suite does not run without a sandbox: its attacks would hit this machine");
  Fixtures fx;
  std::vector<ContainmentResult> out;
  for (auto& c : containment_cases()) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    out.push_back(run_case(c, provider, fx));
    if (progress) progress(out.back());
  }
  return out;
}

}  // namespace a4ps::sandbox
