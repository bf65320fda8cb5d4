// `model pull` against a local HTTP server: resume, redirects, sha256, errors.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "llm/llm.h"
#include "local_server.h"
#include "testutil.h"

namespace a4ps::llm {
namespace {

using test::error_of;

struct ModelServer : test::LocalServer {
  std::string bytes, last_range;
  ModelServer() : bytes(read_file(test::model("synthetic-llama-tiny.gguf"))) {
    srv.Get("/m/tiny.gguf", [this](const httplib::Request& req, httplib::Response& res) {
      last_range = req.get_header_value("Range");
      res.set_content(bytes, "application/octet-stream");  // the server answers ranges itself
    });
    srv.Get("/moved", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/m/tiny.gguf"); });
    start();
  }
};

TEST(Pull, DownloadsFollowsRedirectsAndVerifies) {
  ModelServer s;
  test::TempDir d;
  const std::string sum = sha256_hex(s.bytes);
  uint64_t last_done = 0;
  auto r = pull_model(s.url("/moved"), {.sha256 = sum, .dir = d.path, .name = "tiny.gguf",
                                        .progress = [&](uint64_t done, uint64_t) { last_done = done; }});
  EXPECT_EQ(r.path, d / "tiny.gguf");
  EXPECT_EQ(r.sha256, sum);
  EXPECT_EQ(r.bytes, s.bytes.size());
  EXPECT_EQ(last_done, s.bytes.size());
  EXPECT_EQ(read_model_info(r.path).architecture, "llama");
  EXPECT_FALSE(fs::exists(d / "tiny.gguf.part"));
}

TEST(Pull, ResumesAPartialDownload) {
  ModelServer s;
  test::TempDir d;
  const size_t third = s.bytes.size() / 3;
  std::ofstream(d / "tiny.gguf.part", std::ios::binary) << s.bytes.substr(0, third);
  auto r = pull_model(s.url("/m/tiny.gguf"), {.sha256 = sha256_hex(s.bytes), .dir = d.path});
  EXPECT_EQ(r.resumed_from, third);
  EXPECT_EQ(s.last_range, "bytes=" + std::to_string(third) + "-");
  EXPECT_EQ(read_file(r.path), s.bytes);
}

TEST(Pull, AWrongChecksumLeavesNothingBehind) {
  ModelServer s;
  test::TempDir d;
  std::string e = error_of([&] { pull_model(s.url("/m/tiny.gguf"), {.sha256 = std::string(64, 'a'), .dir = d.path}); });
  EXPECT_NE(e.find("expected aaaa"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_empty(d.path));
}

TEST(Pull, ServerAndAddressErrorsAreOneClearLine) {
  ModelServer s;
  test::TempDir d;
  EXPECT_NE(error_of([&] { pull_model(s.url("/nope.gguf"), {.dir = d.path}); }).find("the server answered HTTP 404"),
            std::string::npos);
  EXPECT_NE(error_of([&] { pull_model("http://127.0.0.1:1/x.gguf", {.dir = d.path}); }).find("check the address"),
            std::string::npos);
  EXPECT_NE(error_of([&] { pull_model("ftp://x/y.gguf", {.dir = d.path}); }).find("give an http(s):// URL"),
            std::string::npos);
  EXPECT_NE(error_of([&] { pull_model("hf-repo/only-owner", {.dir = d.path}); }).find("should look like"),
            std::string::npos);
}

TEST(Pull, TheCliPullsAndLists) {
  ModelServer s;
  test::TempDir d;
  auto r = test::a4ps("--json model pull " + s.url("/m/tiny.gguf") + " --dir " + test::q(d.path) + " --sha256 " +
                      sha256_hex(s.bytes));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["verified"], true);
  r = test::a4ps("model ls --dir " + test::q(d.path));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("tiny.gguf  llama"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(synthetic)"), std::string::npos);
  r = test::a4ps("model pull http://127.0.0.1:1/x.gguf --dir " + test::q(d.path));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// The adapter files under the models directory are a cache: files unused for the idle time
// go when another is written; the one just written, recent ones and other files stay.
TEST(AdapterFiles, UnusedForAMonthArePruned) {
  test::TempDir d;
  const auto now = fs::file_time_type::clock::now();
  auto file = [&](const std::string& name, std::chrono::hours age) {
    fs::path f = d / name;
    std::ofstream(f) << "gguf";
    fs::last_write_time(f, now - age);
    return f;
  };
  fs::path old = file("old.gguf", std::chrono::hours(24 * 40)), recent = file("recent.gguf", std::chrono::hours(24 * 3));
  fs::path kept = file("just-written.gguf", std::chrono::hours(24 * 90)), other = file("notes.txt", std::chrono::hours(24 * 90));
  prune_adapter_files(d.path, kAdapterFileIdle, kept);
  EXPECT_FALSE(fs::exists(old));
  EXPECT_TRUE(fs::exists(recent));
  EXPECT_TRUE(fs::exists(kept));
  EXPECT_TRUE(fs::exists(other));
  prune_adapter_files(d / "missing", kAdapterFileIdle, kept);  // no directory: nothing to do
}

TEST(AdapterFiles, WrittenOnceFromTheBytesThenReused) {
  test::TempDir d;
  setenv("A4PS_MODELS", d.path.c_str(), 1);
  int reads = 0;
  auto bytes = [&] {
    ++reads;
    return std::string("gguf bytes");
  };
  fs::path f = adapter_file("abc123", bytes);
  EXPECT_EQ(f, d / "adapters" / "abc123.gguf");
  EXPECT_EQ(read_file(f), "gguf bytes");
  EXPECT_EQ(adapter_file("abc123", bytes), f);
  EXPECT_EQ(reads, 1);  // the image's blob is read only when the file is missing
  unsetenv("A4PS_MODELS");
}

}  // namespace
}  // namespace a4ps::llm
