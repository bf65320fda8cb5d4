// The POSIX Env: each call does what it says against the real system.
#include "util/env.h"

#include <gtest/gtest.h>

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
