// The POSIX Env: each call does what it says against the real system.
#include "util/env.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <set>

#include "testutil.h"

namespace a4ps {
namespace {

TEST(PosixEnv, WritesAtomicallyAndReadsBack) {
  test::TempDir d;
  Env* env = Env::Default();
  env->write_file_atomic(d / "f", "one");
  env->write_file_atomic(d / "f", "two");
  EXPECT_EQ(env->read_file(d / "f"), "two");
  EXPECT_FALSE(std::filesystem::exists(d / "f.tmp"));
  env->rename_file(d / "f", d / "g");
  EXPECT_EQ(read_file(d / "g"), "two");
  env->remove_file(d / "g");
  env->remove_file(d / "g");  // absent is fine
  EXPECT_FALSE(std::filesystem::exists(d / "g"));
  env->create_dirs(d / "a" / "b");
  EXPECT_TRUE(std::filesystem::is_directory(d / "a" / "b"));
}

TEST(PosixEnv, AFailedWriteIsOneLineNamingTheFile) {
  test::TempDir d;
  std::string err = test::error_of([&] { Env::Default()->write_file_atomic(d / "no" / "f", "x"); });
  EXPECT_EQ(err, "cannot write " + (d / "no" / "f").string() + ": no such file or directory; check the path");
  EXPECT_EQ(file_error("write", "/x", ENOSPC), "cannot write /x: the disk is full; free some space and try again");
}

TEST(PosixEnv, ClockIdsAndEnvironment) {
  EXPECT_TRUE(std::regex_match(now_utc(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"))) << now_utc();
  EXPECT_EQ(format_utc(1767225600123), "2026-01-01T00:00:00.123Z");
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.insert(random_id());
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_TRUE(std::regex_match(*ids.begin(), std::regex("[0-9a-f]{32}")));
  setenv("A4PS_ENV_TEST", "yes", 1);
  EXPECT_EQ(Env::Default()->getenv("A4PS_ENV_TEST"), "yes");
  unsetenv("A4PS_ENV_TEST");
  EXPECT_EQ(Env::Default()->getenv("A4PS_ENV_TEST"), std::nullopt);
}

TEST(PosixEnv, SpawnsWithExactlyTheGivenEnvironment) {
  Env* env = Env::Default();
  pid_t pid = env->spawn({"/bin/sh", "-c", "test \"$X\" = y && test -z \"$HOME\" && exit 3"}, {"X=y"});
  EXPECT_EQ(env->wait(pid), 3);
  pid = env->spawn({"/bin/sh", "-c", "kill -9 $$"}, {});
  EXPECT_EQ(env->wait(pid), 128 + 9);
  EXPECT_NE(test::error_of([&] { env->spawn({"/no/such/program"}, {}); }), "");
}

// start_process: the child gets exactly the descriptors named (a pipe as its stdout, one
// more as fd 3), nothing else of this process, and the hook runs in it before exec.
TEST(PosixEnv, StartsAProcessWithItsDescriptorsAndAHookBeforeExec) {
  Env* env = Env::Default();
  int out[2], extra[2];
  ASSERT_EQ(pipe(out), 0);
  ASSERT_EQ(pipe(extra), 0);
  int stray = open("/dev/null", O_RDONLY);  // not named: must not reach the child
  ASSERT_GE(stray, 0);
  ProcessSpec ps{.argv = {"sh", "-c", "pwd; echo \"$X\"; ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; cat <&3"},
                 .env = {"X=given", "PATH=/usr/bin:/bin"},
                 .fds = {{1, out[1]}, {3, extra[0]}},
                 .before_exec = [] {
                   if (chdir("/tmp") != 0) _exit(99);
                 }};
  pid_t pid = env->start_process(ps);
  close(out[1]);
  close(extra[0]);
  ASSERT_EQ(write(extra[1], "three\n", 6), 6);
  close(extra[1]);
  close(stray);
  std::string got;
  char buf[256];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(out[0]);
  EXPECT_EQ(env->wait(pid), 0);
  // /tmp from the hook, only the given variable, fds 0-3 (+ the one ls reads its listing with), fd 3 readable.
  EXPECT_EQ(got.substr(0, got.find('\n')), "/tmp");
  EXPECT_NE(got.find("\ngiven\n"), std::string::npos) << got;
  std::string fds = got.substr(got.find("given\n") + 6);
  fds = fds.substr(0, fds.find('\n'));
  EXPECT_EQ(fds.rfind("0 1 2 3 ", 0), 0u) << fds;
  EXPECT_LE(std::count(fds.begin(), fds.end(), ' '), 5) << "a descriptor of this process leaked: " << fds;
  EXPECT_NE(got.find("\nthree\n"), std::string::npos) << got;

  // An exec that fails: status 126 and one line on the child's fd 2.
  int err[2];
  ASSERT_EQ(pipe(err), 0);
  pid = env->start_process({.argv = {"/no/such/program"}, .env = {}, .fds = {{2, err[1]}}});
  close(err[1]);
  std::string msg;
  for (ssize_t n; (n = read(err[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<size_t>(n));
  close(err[0]);
  EXPECT_EQ(env->wait(pid), 126);
  EXPECT_EQ(msg, "a4ps: cannot run /no/such/program: No such file or directory\n");
}

}  // namespace
}  // namespace a4ps

namespace a4ps {
namespace {
TEST(Base64, DecodesWhatPythonEncodesAndRefusesTheRest) {
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("YQ=="), "a");
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_EQ(base64_decode("YWJj"), "abc");
  EXPECT_EQ(base64_decode("AAEC/w=="), std::string("\x00\x01\x02\xff", 4));
  EXPECT_THROW(base64_decode("YQ="), Error);
  EXPECT_THROW(base64_decode("Y!=="), Error);
}
}  // namespace
}  // namespace a4ps
