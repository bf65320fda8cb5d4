// The containment suite (tests/containment/*.py) against every provider that works on
// this machine: each attack must be contained. CI runs this as root and, through
// tests/unprivileged.sh, as an unprivileged user.
#include "sandbox/containment.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "testutil.h"

namespace a4ps::sandbox {
namespace {

bool works(Provider p) {
  static const auto checks = doctor();
  for (auto& c : checks)
    if (c.provider == p) return c.works;
  return false;
}

class Containment : public ::testing::TestWithParam<Provider> {
 protected:
  void SetUp() override {
    if (!works(GetParam())) GTEST_SKIP() << provider_name(GetParam()) << " does not work here (see a4ps doctor)";
  }
};

TEST_P(Containment, EveryAttackIsContained) {
  auto results = run_containment(GetParam(), "", [](const ContainmentResult& r) {
    std::printf("  %-10s %-18s %-70s %6.0f ms  %s\n", verdict_name(r.verdict), r.name.c_str(), r.title.c_str(), r.ms,
                r.detail.c_str());
    std::fflush(stdout);
  });
  ASSERT_EQ(results.size(), containment_cases().size());
  for (auto& r : results)
    EXPECT_TRUE(r.verdict == Verdict::Contained || r.verdict == Verdict::NotApplicable)
        << r.name << " (" << r.title << "): " << verdict_name(r.verdict) << ": " << r.detail;
}

INSTANTIATE_TEST_SUITE_P(Providers, Containment, ::testing::Values(Provider::GVisor, Provider::Bwrap),
                         [](const auto& info) { return std::string(provider_name(info.param)); });

TEST(ContainmentSuite, CoversEveryClassOfAttack) {
  std::set<std::string> classes;
  for (auto& c : containment_cases()) {
    EXPECT_FALSE(c.title.empty()) << c.name << " has no title";
    classes.insert(c.klass);
  }
  for (const char* k : {"host environment", "processes", "syscalls", "network", "files", "resources"})
    EXPECT_TRUE(classes.count(k)) << "no case of class " << k;
  EXPECT_GE(containment_cases().size(), 18u);
}

TEST(ContainmentSuite, NeverRunsWithoutASandbox) {
  EXPECT_NE(test::error_of([] { run_containment(Provider::None); }).find("would hit this machine"), std::string::npos);
}

// A case that does get out must be reported as escaped: the judge is tested against the
// unsandboxed kernel, with a harmless case (reading the host's environment).
TEST(ContainmentSuite, AnEscapeIsReportedAsEscaped) {
  test::TempDir d;
  setenv("A4PS_CANARY_PROBE", "visible-outside", 1);
  auto k = Kernel::start({.provider = Provider::None, .workspace = d / "w", .allow_unsafe = true});
  Result r = k->run("import os\n'ESCAPED: ' + os.environ.get('PATH', '') if os.environ.get('HOME') else 'CONTAINED'");
  unsetenv("A4PS_CANARY_PROBE");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value.rfind("'ESCAPED", 0), 0u) << r.value;
}

// 50 runs that time out or are killed leave nothing of gVisor behind: no runsc process,
// no sandbox process, no state or bundle folder. Bundles go to a TMPDIR of the test's
// own, so that other sandboxes running on the machine do not count.
TEST(GVisorCleanliness, FiftyKilledRunsLeaveNothingBehind) {
  if (!works(Provider::GVisor)) GTEST_SKIP() << "gVisor does not work here";
  test::TempDir d, tmp;
  fs::permissions(tmp.path, fs::perms::others_exec | fs::perms::others_read, fs::perm_options::add);
  const char* old = std::getenv("TMPDIR");
  std::string saved = old ? old : "";
  setenv("TMPDIR", tmp.path.c_str(), 1);
  for (int i = 0; i < 50; ++i) {
    // Even runs time out (a cold start under load may take the whole 400 ms: still a
    // timed-out run); odd ones answer, and their kernel is torn down straight after.
    auto k = Kernel::start({.provider = Provider::GVisor, .limits = {.wall_ms = i % 2 ? 20000 : 400}, .workspace = d / "w"});
    if (i % 2 == 0) {
      Result r = k->run("import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'while True: pass'])\nwhile True: pass");
      EXPECT_TRUE(r.timed_out) << r.error;
    } else {
      EXPECT_TRUE(k->run("1").ok);
    }  // and the kernel is destroyed while it runs
  }
  if (old) setenv("TMPDIR", saved.c_str(), 1);
  else unsetenv("TMPDIR");
  EXPECT_TRUE(fs::is_empty(tmp.path)) << "bundles or state folders were left in " << tmp.path;
  int left = 0;
  for (int i = 0; i < 40 && (left = static_cast<int>(host_processes_with(tmp.path.string()).size())) > 0; ++i) usleep(50000);
  EXPECT_EQ(left, 0) << "runsc processes outlived their kernels";
}

}  // namespace
}  // namespace a4ps::sandbox
