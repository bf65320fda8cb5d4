// The MCP door's core: JSON-RPC messages and tool arguments checked before anything runs,
// then McpServer answering on a real image whose tools the forge wrote (scripted model)
// and a human approved, run in bubblewrap. The transports are tested with the official
// SDK client (tests/mcp-client/mcp_client_test.mjs).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "a4ps/image.h"
#include "a4ps/tools.h"
#include "mcp.h"
#include "mcp_message.h"
#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;
using namespace a4ps::server;
using test::a4ps;
using test::q;
namespace fs = std::filesystem;

int code_of(const std::string& text) {
  try {
    parse_mcp_message(text, 1000);
  } catch (const McpError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    return e.code();
  }
  return 0;
}

TEST(McpMessage, BadMessagesGetJsonRpcErrorCodes) {
  EXPECT_EQ(code_of("{nope"), kParseError);
  EXPECT_EQ(code_of(""), kParseError);
  EXPECT_EQ(code_of("[]"), kInvalidRequest);  // no batches in MCP
  EXPECT_EQ(code_of("42"), kInvalidRequest);
  EXPECT_EQ(code_of(R"({"id": 1, "method": "ping"})"), kInvalidRequest);  // no jsonrpc
  EXPECT_EQ(code_of(R"({"jsonrpc": "2.0", "id": 1.5, "method": "ping"})"), kInvalidRequest);
  EXPECT_EQ(code_of(R"({"jsonrpc": "2.0", "id": 1, "method": ""})"), kInvalidRequest);
  EXPECT_EQ(code_of(R"({"jsonrpc": "2.0", "id": 1})"), kInvalidRequest);
  EXPECT_EQ(code_of(R"({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]})"), kInvalidParams);
  EXPECT_EQ(code_of(R"({"jsonrpc": "2.0", "id": 1, "method": "ping", "pad": ")" + std::string(1000, 'x') + "\"}"),
            kInvalidRequest);  // too large
  EXPECT_EQ(code_of(R"({"jsonrpc": "2.0", "id": "a", "method": "ping"})"), 0);
  auto n = parse_mcp_message(R"({"jsonrpc": "2.0", "method": "notifications/initialized"})");
  EXPECT_EQ(n.kind, McpMessage::Notification);
  auto r = parse_mcp_message(R"({"jsonrpc": "2.0", "id": 3, "result": {}})");
  EXPECT_EQ(r.kind, McpMessage::Response);
}

TEST(McpMessage, VersionIsTheClientsWhenSupported) {
  EXPECT_EQ(negotiate_mcp_version({{"protocolVersion", "2025-06-18"}}), "2025-06-18");
  EXPECT_EQ(negotiate_mcp_version({{"protocolVersion", "2099-01-01"}}), "2025-11-25");
  EXPECT_EQ(negotiate_mcp_version({{"protocolVersion", 7}}), "2025-11-25");
}

TEST(McpMessage, ArgumentsAreCheckedAgainstTheSchema) {
  json s = json::parse(R"({"type": "object", "properties": {"n": {"type": "integer"},
      "xs": {"type": "array", "items": {"type": "number"}}, "o": {"type": ["string", "null"]},
      "mode": {"enum": ["a", "b"]}}, "required": ["n"], "additionalProperties": false})");
  EXPECT_EQ(check_tool_arguments(s, {{"n", 1}}), "");
  EXPECT_EQ(check_tool_arguments(s, {{"n", 2.0}}), "");  // a whole number is an integer
  EXPECT_EQ(check_tool_arguments(s, {{"n", 1}, {"xs", {1, 2.5}}, {"o", nullptr}, {"mode", "b"}}), "");
  EXPECT_EQ(check_tool_arguments(s, json::object()), "missing the argument 'n'");
  EXPECT_EQ(check_tool_arguments(s, {{"n", "1"}}), "the argument 'n' must be integer, not a string");
  EXPECT_EQ(check_tool_arguments(s, {{"n", 1.5}}), "the argument 'n' must be integer, not a number");
  EXPECT_EQ(check_tool_arguments(s, {{"n", 1}, {"xs", {1, "x"}}}), "the argument 'xs'[1] must be number, not a string");
  EXPECT_EQ(check_tool_arguments(s, {{"n", 1}, {"o", 3}}), "the argument 'o' must be string or null, not an integer");
  EXPECT_EQ(check_tool_arguments(s, {{"n", 1}, {"mode", "c"}}), "the argument 'mode' must be one of [\"a\",\"b\"]");
  EXPECT_EQ(check_tool_arguments(s, {{"n", 1}, {"z", 1}}), "the tool takes no argument 'z' (it takes: mode, n, o, xs)");
  EXPECT_EQ(check_tool_arguments(s, json::array()), "the arguments must be an object of parameter names to values");
  EXPECT_THROW(parse_tool_call({{"name", 3}}), McpError);
  EXPECT_THROW(parse_tool_call({{"name", "x"}, {"arguments", "a=1"}}), McpError);
}

// An image with two approved tools (written by the forge from a scripted model).
class McpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v bwrap >/dev/null") != 0) GTEST_SKIP() << "bubblewrap is not installed";
    fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);
    img = (d / "a.a4ps").string();
    ASSERT_EQ(a4ps("image init " + q(img)).code, 0);
    add_tool("scale",
             "from typing import Optional, List\n"
             "def scale(xs: List[float], k: float = 2.0, label: Optional[str] = None, *, flag: bool = False) -> dict:\n"
             "    '''Scales numbers.\n\n    More detail.'''\n"
             "    return {'ys': [x * k for x in xs], 'label': label}",
             "xs,k,label", "assert scale([1], 3)['ys'] == [3]");
    add_tool("boom", "def boom(msg):\n    raise ValueError(msg)", "msg", "assert callable(boom)");
  }
  void add_tool(const std::string& name, const std::string& source, const std::string& params, const std::string& tests) {
    static int n = 0;
    fs::path model = d / ("m" + std::to_string(++n) + ".jsonl");
    std::ofstream(model) << json{{"text", "```python\n" + source + "\n```"}}.dump() << "\n";
    std::ofstream(d / "t.py") << tests << "\n";
    auto r = a4ps("--json tool forge " + q(img) + " --name " + name + " --params " + params + " --doc x --tests " +
                  q(d / "t.py") + " --sandbox bwrap --model scripted:" + q(model));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    std::string id = json::parse(r.out)["proposal"].dump();
    ASSERT_EQ(a4ps("approvals approve " + q(img) + " " + id + " --reason ok").code, 0);
    ASSERT_EQ(a4ps("approvals apply " + q(img) + " " + id).code, 0);
  }
  json ask(McpServer& s, const json& msg) { return json::parse(s.handle(msg.dump())); }
  json call(McpServer& s, const std::string& name, const json& args) {
    return ask(s, {{"jsonrpc", "2.0"}, {"id", 9}, {"method", "tools/call"}, {"params", {{"name", name}, {"arguments", args}}}});
  }
  test::TempDir d;
  std::string img;
};

TEST_F(McpServerTest, ListsSchemasFromSignaturesAndCallsToolsInTheSandbox) {
  McpServer s({.image = img, .sandbox = "bwrap", .tool_wall_ms = 3000});
  json init = ask(s, {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                      {"params", {{"protocolVersion", "2025-11-25"}, {"capabilities", json::object()}}}});
  EXPECT_EQ(init["result"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(init["result"]["capabilities"]["tools"]["listChanged"], true);
  EXPECT_EQ(s.handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"), "");

  json list = ask(s, {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/list"}});
  ASSERT_EQ(list["result"]["tools"].size(), 2u) << list;
  json scale;
  for (auto& t : list["result"]["tools"])
    if (t["name"] == "scale") scale = t;
  EXPECT_EQ(scale["description"], "Scales numbers.");
  EXPECT_EQ(scale["inputSchema"], json::parse(R"({"type": "object", "properties": {
      "xs": {"type": "array", "items": {"type": "number"}}, "k": {"type": "number", "default": 2.0},
      "label": {"type": ["string", "null"], "default": null}, "flag": {"type": "boolean", "default": false}},
      "required": ["xs"], "additionalProperties": false})"));

  json r = call(s, "scale", {{"xs", {1, 2}}, {"k", 0.5}});
  EXPECT_EQ(r["result"]["isError"], false) << r;
  EXPECT_EQ(json::parse(r["result"]["content"][0]["text"].get<std::string>()), json::parse(R"({"ys": [0.5, 1.0], "label": null})"));
  r = call(s, "scale", {{"xs", "12"}});
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_EQ(r["result"]["content"][0]["text"], "the argument 'xs' must be array, not a string");
  r = call(s, "boom", {{"msg", "no way"}});
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_EQ(r["result"]["content"][0]["text"], "ValueError: no way");
  r = call(s, "missing", json::object());
  EXPECT_EQ(r["error"]["code"], kInvalidParams);
  EXPECT_EQ(r["id"], 9);
  r = ask(s, {{"jsonrpc", "2.0"}, {"id", 3}, {"method", "prompts/list"}});
  EXPECT_EQ(r["error"]["code"], kMethodNotFound);
  r = json::parse(s.handle("{\"jsonrpc\": \"2.0\", \"id\": 4, \"meth"));
  EXPECT_EQ(r["error"]["code"], kParseError);
  EXPECT_TRUE(r["id"].is_null());
}

// A call that runs past the tool timeout (serve's and mcp's --tool-timeout) ends as an
// isError result saying so; the next call runs in a fresh kernel.
TEST_F(McpServerTest, ACallPastTheToolTimeoutIsAnErrorResultAndTheNextOneRuns) {
  add_tool("spin", "def spin(n):\n    x = 0\n    while x < n:\n        x += 1\n    return x", "n", "assert spin(3) == 3");
  McpServer s({.image = img, .sandbox = "bwrap", .tool_wall_ms = 1500});
  json r = call(s, "spin", {{"n", 1000000000000LL}});
  EXPECT_EQ(r["result"]["isError"], true) << r;
  std::string why = r["result"]["content"][0]["text"];
  EXPECT_NE(why.find("longer than 1500 ms"), std::string::npos) << why;
  r = call(s, "spin", {{"n", 2}});
  EXPECT_EQ(r["result"]["isError"], false) << r;
}

TEST_F(McpServerTest, TheRevisionChangesWhenAToolIsApprovedOrRolledBack) {
  McpServer s({.image = img, .sandbox = "bwrap"});
  std::string before = s.revision();
  add_tool("boom", "def boom(msg):\n    raise KeyError(msg)", "msg", "assert callable(boom)");
  std::string after = s.revision();
  EXPECT_NE(before, after);
  EXPECT_EQ(call(s, "boom", {{"msg", "k"}})["result"]["content"][0]["text"], "KeyError: 'k'");  // the new version runs
  auto r = a4ps("--json tool rollback " + q(img) + " boom --to 1");
  ASSERT_EQ(r.code, 0) << r.err;
  std::string id = json::parse(r.out)["proposal"].dump();
  ASSERT_EQ(a4ps("approvals approve " + q(img) + " " + id + " --reason back").code, 0);
  ASSERT_EQ(a4ps("approvals apply " + q(img) + " " + id).code, 0);
  EXPECT_NE(s.revision(), after);
  EXPECT_EQ(call(s, "boom", {{"msg", "v"}})["result"]["content"][0]["text"], "ValueError: v");
}

// A second handle on the image in this process must not blind the first: its open once read
// the header through a descriptor of its own, whose close dropped the process's locks, and
// the CLI's last close then checkpointed and deleted the WAL and -shm under the first,
// which kept reading its old snapshot (a frozen tool list under `a4ps serve`).
TEST_F(McpServerTest, AHandleSeesOtherProcessesWritesAfterASecondOpens) {
  Image first = Image::open(img, {.create_if_missing = false, .read_only = true});
  EXPECT_EQ(list_tools(first).size(), 2u);
  add_tool("late", "def late(x):\n    return x", "x", "assert late(1) == 1");  // frames stay in the WAL: we read it
  EXPECT_EQ(list_tools(first).size(), 3u);
  Image second = Image::open(img, {.create_if_missing = false, .read_only = true});
  add_tool("later", "def later(x):\n    return x", "x", "assert later(1) == 1");
  EXPECT_EQ(list_tools(first).size(), 4u);
  EXPECT_EQ(list_tools(second).size(), 4u);
}

TEST_F(McpServerTest, StdioAnswersEachLineAndRefusesAnOversizedOne) {
  McpServer s({.image = img, .sandbox = "bwrap", .max_message = 4096});
  std::istringstream in("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n\n" + std::string(10000, 'x') +
                        "\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n[1]\n");
  std::ostringstream out;
  serve_mcp_stdio(s, in, out);
  std::istringstream lines(out.str());
  std::vector<json> got;
  for (std::string l; std::getline(lines, l);) got.push_back(json::parse(l));
  ASSERT_EQ(got.size(), 3u) << out.str();
  EXPECT_EQ(got[0], json::parse(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
  EXPECT_EQ(got[1]["error"]["code"], kInvalidRequest);
  EXPECT_NE(got[1]["error"]["message"].get<std::string>().find("the limit is 4096"), std::string::npos);
  EXPECT_EQ(got[2]["error"]["code"], kInvalidRequest);
}

}  // namespace
}  // namespace a4ps
