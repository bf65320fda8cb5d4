// The request parsers on their own: every malformed or mistyped input is an HttpError
// with a 4xx status, never another exception.
#include "request.h"

#include <gtest/gtest.h>

using namespace a4ps::server;

namespace {

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const HttpError& e) {
    return e.status();
  }
  return 0;
}

TEST(Request, BodiesMustBeJsonObjects) {
  EXPECT_TRUE(parse_body("").is_object());
  EXPECT_TRUE(parse_body(" \n").is_object());
  EXPECT_EQ(parse_body(R"({"a":1})")["a"], 1);
  for (const char* b : {"{", "[]", "1", "\"x\"", "null", "{\"a\":}", "\xff\xfe"})
    EXPECT_EQ(status_of([&] { parse_body(b); }), 400) << b;
}

TEST(Request, RunsTakeATaskOrAResume) {
  EXPECT_EQ(parse_create_run(json{{"input", "hi"}}).task, "hi");
  EXPECT_EQ(parse_create_run(json{{"input", {{"task", "t"}}}}).task, "t");
  EXPECT_EQ(parse_create_run(json{{"input", {{"messages", {{{"role", "system"}, {"content", "s"}}, {{"role", "user"}, {"content", "u"}}}}}}}).task, "u");
  auto r = parse_create_run(json{{"command", {{"resume", true}}}, {"multitask_strategy", "enqueue"}});
  EXPECT_TRUE(r.resume);
  EXPECT_TRUE(r.enqueue);
  EXPECT_TRUE(parse_create_run(json{{"input", "x"}, {"if_not_exists", "create"}}).create);
  for (json b : {json::object(), json{{"input", 1}}, json{{"input", {{"task", 1}}}}, json{{"input", ""}},
                 json{{"input", "a"}, {"command", {{"resume", true}}}}, json{{"command", {{"resume", false}}}},
                 json{{"command", 1}}, json{{"input", {{"messages", "m"}}}}, json{{"input", {{"messages", {1}}}}},
                 json{{"input", "a"}, {"multitask_strategy", 3}}, json{{"input", "a"}, {"multitask_strategy", "interrupt"}},
                 json{{"command", {{"resume", true}}}, {"if_not_exists", "create"}}, json{{"input", std::string(70000, 'a')}}})
    EXPECT_EQ(status_of([&] { parse_create_run(b); }), 400) << b.dump();
}

TEST(Request, IdsAndNumbers) {
  EXPECT_EQ(status_of([] { check_id("a-b_c.d:1", "thread id"); }), 0);
  for (std::string id : std::vector<std::string>{"", "a/b", "a b", "..%2f", std::string(129, 'a'), std::string("a\0b", 3)})
    EXPECT_EQ(status_of([&] { check_id(id, "thread id"); }), 400) << id;
  EXPECT_EQ(parse_event_id(""), 0);
  EXPECT_EQ(parse_event_id("17"), 17);
  for (const char* s : {"-1", "x", "1e3", "99999999999999999999", " 1"}) EXPECT_EQ(status_of([&] { parse_event_id(s); }), 400) << s;
  EXPECT_EQ(parse_proposal_id("12"), 12);
  for (const char* s : {"0", "-1", "abc", ""}) EXPECT_EQ(status_of([&] { parse_proposal_id(s); }), 404) << s;
  EXPECT_EQ(parse_int_param("", "limit", 1, 10, 5), 5);
  EXPECT_EQ(status_of([] { parse_int_param("11", "limit", 1, 10, 5); }), 400);
  EXPECT_EQ(parse_search_threads(json{{"limit", 3}}).limit, 3);
  EXPECT_EQ(status_of([] { parse_search_threads(json{{"status", "weird"}}); }), 400);
  EXPECT_EQ(status_of([] { parse_search_threads(json{{"offset", -1}}); }), 400);
  EXPECT_EQ(status_of([] { parse_decision(json{{"reason", " "}}); }), 400);
  EXPECT_EQ(parse_decision(json{{"reason", "ok"}, {"reviewer", "me"}}).reviewer, "me");
}

TEST(Request, ListenAddressesAndTokens) {
  EXPECT_EQ(parse_listen("127.0.0.1:8420").port, 8420);
  EXPECT_EQ(parse_listen(":9").host, "127.0.0.1");
  EXPECT_EQ(parse_listen("[::1]:80").host, "::1");
  EXPECT_EQ(parse_listen("0").port, 0);
  for (const char* s : {"x:y", "1.2.3.4:70000", "[::1", "host:", ""}) EXPECT_EQ(status_of([&] { parse_listen(s); }), 400) << s;
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_FALSE(is_loopback("0.0.0.0"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
  // Names that only look like loopback addresses resolve anywhere (DNS rebinding).
  EXPECT_FALSE(is_loopback("127.0.0.1.evil.example"));
  EXPECT_FALSE(is_loopback("127.evil.example"));
  EXPECT_FALSE(is_loopback("localhost.evil.example"));
  EXPECT_TRUE(is_loopback("127.1.2.3"));
  EXPECT_TRUE(is_loopback("0:0:0:0:0:0:0:1"));
  EXPECT_TRUE(token_equals("secret-token", "secret-token"));
  EXPECT_FALSE(token_equals("secret-tokeX", "secret-token"));
  EXPECT_FALSE(token_equals("secret", "secret-token"));
  EXPECT_FALSE(token_equals("secret-token-and-more", "secret-token"));
  EXPECT_FALSE(token_equals("", ""));  // no token is never a match
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer abc "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_EQ(bearer_token("Bear"), "");
}

}  // namespace
