// The sandbox, run against each provider that works here: what agent code can and
// cannot do. Network tests only ever aim at loopback.
#include "sandbox/sandbox.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>

#include "testutil.h"
#include "vars_env.h"

namespace a4ps::sandbox {
namespace {

class Sandbox : public ::testing::TestWithParam<Provider> {
 protected:
  void SetUp() override {
    static const auto checks = doctor();
    for (auto& c : checks)
      if (c.provider == GetParam() && !c.works) GTEST_SKIP() << provider_name(GetParam()) << " does not work here: " << c.detail;
  }
  std::unique_ptr<Kernel> start(Limits l = {.wall_ms = 15000}) {
    fs::permissions(ws.path, fs::perms::others_exec, fs::perm_options::add);  // reachable by the sandbox user
    return Kernel::start({.provider = GetParam(), .limits = l, .workspace = ws.path / "work"});
  }
  test::TempDir ws;
};

TEST_P(Sandbox, RunsPythonKeepsStateAndReportsErrors) {
  auto k = start();
  Result a = k->run("x = 40\nprint('hello')\nx + 2");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.value, "42");
  EXPECT_EQ(a.stdout_text, "hello\n");
  Result b = k->run("def f():\n    return undefined_name\nf()");
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.error_type, "NameError");
  EXPECT_NE(b.traceback.find("File \"<agent>\", line 2, in f"), std::string::npos) << b.traceback;
  EXPECT_EQ(k->run("x").value, "40");  // the kernel persists between runs
}

TEST_P(Sandbox, TheWorkspaceIsTheOnlyWritablePlace) {
  auto k = start();
  Result w = k->run("open('/work/out.txt', 'w').write('from inside')");
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_EQ(read_file(ws.path / "work" / "out.txt"), "from inside");
  for (const char* path : {"/usr/evil", "/evil", "/a4ps/evil"}) {
    Result r = k->run(std::string("open('") + path + "', 'w').write('x')");
    EXPECT_FALSE(r.ok) << path;
    EXPECT_TRUE(r.error_type == "OSError" || r.error_type == "PermissionError" || r.error_type == "FileNotFoundError")
        << path << ": " << r.error_type;
  }
  EXPECT_FALSE(fs::exists("/usr/evil"));
}

TEST_P(Sandbox, HostFilesAreNotVisible) {
  const std::string secret = (ws.path / "secret.txt").string();
  std::ofstream(secret) << "host secret";
  auto k = start();
  for (std::string path : {secret, std::string("/etc/shadow"), std::string("/root/.bashrc")}) {
    Result r = k->run("open('" + path + "').read()");
    EXPECT_FALSE(r.ok) << path << " was readable: " << r.value;
  }
}

TEST_P(Sandbox, NoNetworkNotEvenLoopbackToTheHost) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  listen(s, 4);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  auto k = start();
  Result r = k->run("import socket\nsocket.create_connection(('127.0.0.1', " + std::to_string(ntohs(a.sin_port)) +
                    "), timeout=2)");
  EXPECT_FALSE(r.ok) << "connected to the host's loopback";
  close(s);
}

TEST_P(Sandbox, NoRouteOutAndNoHostSecrets) {
  // An outside address is shown unreachable without sending anything: the sandbox has
  // no network interface but loopback, and no route at all.
  setenv("A4PS_HOST_SECRET", "do-not-leak", 1);
  auto k = start();
  Result ifs = k->run("import socket\nsorted(n for _, n in socket.if_nameindex())");
  EXPECT_TRUE(!ifs.ok || ifs.value == "['lo']" || ifs.value == "[]") << ifs.value;  // bwrap's seccomp denies netlink
  Result route = k->run("open('/proc/net/route').read().count('\\n') <= 1");
  EXPECT_TRUE(!route.ok || route.value == "True") << route.value;
  Result env = k->run("import os\n'A4PS_HOST_SECRET' in os.environ");
  EXPECT_EQ(env.value, "False");
  // The image file and other host files are not there.
  std::ofstream(ws.path / "agent.a4ps") << "SQLite format 3";
  EXPECT_FALSE(k->run("open('" + (ws.path / "agent.a4ps").string() + "', 'rb').read()").ok);
  unsetenv("A4PS_HOST_SECRET");
}

TEST_P(Sandbox, HostProcessesCannotBeSignalledOrTraced) {
  auto k = start();
  const std::string me = std::to_string(getpid());
  Result sig = k->run("import os, signal\nos.kill(" + me + ", signal.SIGTERM)");
  EXPECT_FALSE(sig.ok);
  EXPECT_TRUE(sig.error_type == "ProcessLookupError" || sig.error_type == "PermissionError") << sig.error_type;
  Result tr = k->run("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.ptrace(16, " + me + ", 0, 0)");  // PTRACE_ATTACH
  EXPECT_TRUE(!tr.ok || tr.value == "-1") << tr.value;
  EXPECT_TRUE(k->run("1").ok);  // and we are still here to see it
}

TEST_P(Sandbox, AGigabyteOfOutputIsCutAtTheLimit) {
  auto k = start({.wall_ms = 60000, .output_bytes = 4096});
  Result r = k->run("chunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    print(chunk)");
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.truncated);
  EXPECT_LE(r.stdout_text.size(), 4096u);
}

TEST_P(Sandbox, AnEndlessLoopHitsTheWallTimeAndTheKernelComesBack) {
  auto k = start({.wall_ms = 1500});
  Result r = k->run("while True: pass");
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.error.find("wall-time limit"), std::string::npos);
  Result again = k->run("1 + 1");
  EXPECT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.value, "2");
}

TEST_P(Sandbox, MemoryOutputAndFileSizeAreLimited) {
  auto k = start({.wall_ms = 15000, .memory_bytes = 512ull << 20, .output_bytes = 1000, .file_bytes = 1 << 20});
  Result m = k->run("b = bytearray(2 * 1024**3)");
  EXPECT_FALSE(m.ok);
  EXPECT_TRUE(m.error_type == "MemoryError" || m.crashed) << m.error_type << " " << m.error;
  Result o = k->run("print('x' * 100000)");
  EXPECT_TRUE(o.truncated);
  EXPECT_LE(o.stdout_text.size(), 1000u);
  Result f = k->run("open('/work/big', 'wb').write(b'0' * (4 * 1024**2))");
  EXPECT_FALSE(f.ok);
  EXPECT_LE(fs::file_size(ws.path / "work" / "big"), 1u << 20);
}

TEST_P(Sandbox, AForkBombIsContained) {
  auto k = start({.wall_ms = 5000, .processes = 16});
  Result r = k->run("import os\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            import time; time.sleep(30)\n        n += 1\nexcept OSError as e:\n    print('stopped after', n)\nn");
  EXPECT_TRUE(!r.ok || r.stdout_text.find("stopped after") != std::string::npos || r.timed_out) << r.stdout_text;
  Result again = k->run("2 + 2");  // the sandbox (restarted if need be) still works
  if (!again.ok) again = k->run("2 + 2");
  EXPECT_EQ(again.value, "4") << again.error;
}

TEST_P(Sandbox, TheWorkspaceIsSeededAndSavedWithinItsQuota) {
  fs::create_directories(ws.path / "work" / "sub");
  std::ofstream(ws.path / "work" / "sub" / "seed.txt") << "from the host";
  std::ofstream(ws.path / "work" / "gone.txt") << "delete me";
  auto k = start({.wall_ms = 15000, .workspace_bytes = 8 << 20, .workspace_files = 50});
  Result r = k->run("import os\nos.remove('/work/gone.txt')\nopen('/work/new.txt', 'w').write('made inside')\nopen('/work/sub/seed.txt').read()");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value, "'from the host'");
  EXPECT_TRUE(r.workspace_saved);
  EXPECT_EQ(read_file(ws.path / "work" / "new.txt"), "made inside");
  EXPECT_FALSE(fs::exists(ws.path / "work" / "gone.txt"));
  // Bytes: the tmpfs is full at its size, and the host folder never holds more.
  Result big = k->run("n = 0\ntry:\n    with open('/work/big', 'wb') as f:\n        while n < 64:\n            f.write(b'x' * (1 << 20)); n += 1\nexcept OSError as e:\n    print(e.errno)\nn");
  EXPECT_LT(std::stoi(big.value.empty() ? "99" : big.value), 9) << big.value << big.error;
  EXPECT_LE(fs::file_size(ws.path / "work" / "big"), 8u << 20);
  EXPECT_TRUE(k->run("import os\nos.remove('/work/big')").ok);
  EXPECT_FALSE(fs::exists(ws.path / "work" / "big"));
  // Files: past the count, nothing of the run is saved, and the agent is told.
  Result many = k->run("import os\nos.makedirs('/work/m')\nfor i in range(200):\n    open('/work/m/%d' % i, 'w').close()");
  EXPECT_FALSE(many.ok);
  EXPECT_EQ(many.error_type, "WorkspaceLimit");
  EXPECT_FALSE(many.workspace_saved);
  EXPECT_FALSE(fs::exists(ws.path / "work" / "m"));
  EXPECT_TRUE(k->run("import shutil\nshutil.rmtree('/work/m')").ok);
}

TEST_P(Sandbox, RootsWorkspaceInAClosedFolderStillWorks) {
  if (geteuid() != 0) GTEST_SKIP() << "only root runs the sandbox as another user";
  test::TempDir closed;  // 0700: nobody cannot reach it; the kernel gets a staged copy
  fs::create_directories(closed.path / "w");
  std::ofstream(closed.path / "w" / "in.txt") << "seed";
  auto k = Kernel::start({.provider = GetParam(), .limits = {.wall_ms = 15000}, .workspace = closed.path / "w"});
  Result r = k->run("open('/work/out.txt', 'w').write(open('/work/in.txt').read() + '!')");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(read_file(closed.path / "w" / "out.txt"), "seed!");
}

// A clone under /root: the runtime itself is out of nobody's reach, for every provider.
TEST_P(Sandbox, RootsRuntimeInAClosedFolderIsStaged) {
  if (geteuid() != 0) GTEST_SKIP() << "only root runs the sandbox as another user";
  test::TempDir closed;  // 0700
  fs::copy(fs::path(A4PS_SOURCE_DIR) / "python", closed.path / "python", fs::copy_options::recursive);
  setenv("A4PS_PYTHON_DIR", (closed.path / "python").c_str(), 1);
  for (Provider p : {GetParam(), Provider::None}) {
    auto k = Kernel::start({.provider = p, .limits = {.wall_ms = 15000}, .workspace = ws.path / "work", .allow_unsafe = true});
    Result r = k->run("6 * 7");
    EXPECT_EQ(r.value, "42") << provider_name(p) << ": " << r.error;
  }
  unsetenv("A4PS_PYTHON_DIR");
}

INSTANTIATE_TEST_SUITE_P(Providers, Sandbox, ::testing::Values(Provider::GVisor, Provider::Bwrap),
                         [](const auto& info) { return std::string(provider_name(info.param)); });

// A build made by root, run by someone else: the runtime sits where this user cannot look.
// That is one clear line naming the fix, not a filesystem exception.
TEST(SandboxRuntime, AnUnreadableRuntimeIsOneClearError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every folder (sandbox_unprivileged runs this as nobody)";
  test::TempDir closed, ws;
  fs::create_directories(closed.path / "python");
  std::ofstream(closed.path / "python" / "a4ps_runtime.py") << "\n";
  fs::permissions(closed.path, fs::perms::none);
  test::VarsEnv env({{"A4PS_PYTHON_DIR", (closed.path / "python").string()}});
  std::string err = test::error_of([&] {
    Kernel::start({.provider = Provider::None, .workspace = ws / "w", .allow_unsafe = true, .env = &env});
  });
  fs::permissions(closed.path, fs::perms::owner_all);
  EXPECT_NE(err.find("is not readable by this user; set A4PS_PYTHON_DIR"), std::string::npos) << err;
}

TEST(SandboxNone, IsRefusedWithoutTheUnsafeFlag) {
  test::TempDir d;
  EXPECT_NE(test::error_of([&] { Kernel::start({.provider = Provider::None, .workspace = d.path}); }).find("no isolation"),
            std::string::npos);
}

// `none` isolates nothing, but gets as far as it can: an empty environment and the
// seccomp filter (no sockets but AF_UNIX, no ptrace, no new namespaces).
TEST(SandboxNone, HasNoHostEnvironmentAndTheSeccompFilter) {
  test::TempDir d;
  setenv("A4PS_HOST_SECRET", "do-not-leak", 1);
  auto k = Kernel::start({.provider = Provider::None, .workspace = d / "w", .allow_unsafe = true});
  unsetenv("A4PS_HOST_SECRET");
  Result env = k->run("import os\nsorted(os.environ)");
  ASSERT_TRUE(env.ok) << env.error;
  EXPECT_EQ(env.value.find("A4PS_HOST_SECRET"), std::string::npos) << env.value;
  Result sock = k->run("import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM)");
  EXPECT_FALSE(sock.ok);
  EXPECT_EQ(sock.error_type, "OSError") << sock.error;
  Result ns = k->run("import ctypes\nctypes.CDLL(None, use_errno=True).unshare(0x10000000)");
  EXPECT_EQ(ns.value, "-1");
  EXPECT_TRUE(k->run("import socket\nsocket.socketpair()\n1").ok);  // AF_UNIX still works
}

}  // namespace
}  // namespace a4ps::sandbox
