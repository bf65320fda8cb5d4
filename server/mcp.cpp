#include "mcp.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <istream>
#include <mutex>
#include <ostream>
#include <random>
#include <set>
#include <thread>

#include "a4ps/error.h"
#include "mcp_message.h"
#include "request.h"

#ifndef A4PS_VERSION
#define A4PS_VERSION "0"
#endif

namespace a4ps::server {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json text_block(const std::string& s) { return {{"type", "text"}, {"text", s}}; }

// A tool's outcome as MCP's CallToolResult: the value as text (a string as itself, anything
// else as JSON), what it printed after it; failures are results with isError, for the model.
json call_result(const ToolCallOutcome& r) {
  json content = json::array();
  if (r.ok) {
    json v = json::parse(r.result_json, nullptr, false);
    content.push_back(text_block(v.is_string() ? v.get<std::string>() : r.result_json));
  } else {
    content.push_back(text_block(r.error));
  }
  if (!r.printed.empty()) content.push_back(text_block("printed:\n" + r.printed));
  json out = {{"content", content}, {"isError", !r.ok}};
  return out;
}

json error_result(const std::string& why) { return {{"content", json::array({text_block(why)})}, {"isError", true}}; }

}  // namespace

std::string mcp_list_changed() { return R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})"; }

McpServer::McpServer(McpOptions o) : o_(std::move(o)) {
  host_ = std::make_unique<ToolHost>(o_.image, ToolHostOptions{.sandbox = o_.sandbox, .wall_ms = o_.tool_wall_ms});
}

McpServer::~McpServer() = default;

std::string McpServer::revision() { return host_->revision(); }

std::string McpServer::handle(const std::string& text) {
  json id = nullptr;
  try {
    McpMessage m = parse_mcp_message(text, o_.max_message);
    if (m.kind != McpMessage::Request) return "";  // notifications (initialized, cancelled) and responses: nothing to say
    id = m.id;
    json result;
    if (m.method == "initialize") {
      result = {{"protocolVersion", negotiate_mcp_version(m.params)},
                {"capabilities", {{"tools", {{"listChanged", true}}}}},
                {"serverInfo", {{"name", "a4ps"}, {"title", "A4PS image tools"}, {"version", A4PS_VERSION}}},
                {"instructions", "The tools this agent image forged and a human approved; each runs in a sandbox."}};
    } else if (m.method == "ping") {
      result = json::object();
    } else if (m.method == "tools/list") {
      if (m.params.contains("cursor") && !m.params["cursor"].is_string())
        throw McpError(kInvalidParams, "'cursor' must be a string", id);
      json tools = json::array();
      for (auto& t : host_->tools()) {
        json entry = {{"name", t.name}, {"inputSchema", json::parse(t.input_schema_json, nullptr, false)}};
        entry["description"] = t.description.empty() ? "Tool " + t.name + " (version " + std::to_string(t.version) + ")"
                                                      : t.description;
        tools.push_back(entry);
      }
      result = {{"tools", tools}};
    } else if (m.method == "tools/call") {
      ToolCallParams p = parse_tool_call(m.params);
      json schema;
      bool found = false;
      for (auto& t : host_->tools())
        if (t.name == p.name) {
          schema = json::parse(t.input_schema_json, nullptr, false);
          found = true;
        }
      if (!found) throw McpError(kInvalidParams, "unknown tool '" + printable(p.name, 100) + "'; see tools/list", id);
      if (auto why = check_tool_arguments(schema, p.arguments); !why.empty()) result = error_result(why);
      else result = call_result(host_->call(p.name, dump(p.arguments)));
    } else {
      throw McpError(kMethodNotFound, "no method '" + printable(m.method, 100) + "'; this server offers initialize, ping, "
                                      "tools/list and tools/call", id);
    }
    return dump({{"jsonrpc", "2.0"}, {"id", m.id}, {"result", result}});
  } catch (const McpError& e) {
    json r = e.response();
    if (r["id"].is_null()) r["id"] = id;
    return dump(r);
  } catch (const std::exception& e) {  // the sandbox could not start, the image went away: the client's request stands
    return dump(McpError(kInternalError, e.what(), id).response());
  }
}

void add_mcp_routes(httplib::Server& http, McpServer& mcp, std::function<bool()> stopping) {
  // Sessions carry no state here (the image holds it all); their ids are kept so a
  // DELETEd one is refused afterwards, as the transport asks. Bounded: oldest go first.
  struct Sessions {
    std::mutex mu;
    std::set<std::string> live;
    std::deque<std::string> order;
    bool known(const std::string& id) {
      std::lock_guard lk(mu);
      return live.count(id) > 0;
    }
    std::string open() {
      std::random_device rd;
      std::string id;
      for (int i = 0; i < 4; ++i) {
        char b[9];
        snprintf(b, sizeof b, "%08x", rd());
        id += b;
      }
      std::lock_guard lk(mu);
      live.insert(id);
      order.push_back(id);
      if (order.size() > 10000) {
        live.erase(order.front());
        order.pop_front();
      }
      return id;
    }
    bool close(const std::string& id) {
      std::lock_guard lk(mu);
      return live.erase(id) > 0;
    }
  };
  auto sessions = std::make_shared<Sessions>();
  auto rpc_error = [](httplib::Response& res, int status, int code, const std::string& why) {
    res.status = status;
    res.set_content(dump(McpError(code, why).response()), "application/json");
  };
  // Checks shared by every /mcp request; false when it answered already.
  auto admit = [sessions, rpc_error](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("MCP-Protocol-Version")) {
      std::string v = req.get_header_value("MCP-Protocol-Version");
      auto& vs = mcp_versions();
      if (std::find(vs.begin(), vs.end(), v) == vs.end()) {
        rpc_error(res, 400, kInvalidRequest, "unsupported MCP-Protocol-Version '" + printable(v, 40) + "'; this server speaks " +
                                                 vs.front() + " and earlier");
        return false;
      }
    }
    if (req.has_header("Mcp-Session-Id") && !sessions->known(req.get_header_value("Mcp-Session-Id"))) {
      rpc_error(res, 404, kInvalidRequest, "no such MCP session (ended, or the server restarted); initialize again");
      return false;
    }
    return true;
  };

  http.Post("/mcp", [&mcp, admit, sessions, rpc_error](const httplib::Request& req, httplib::Response& res) {
    if (!admit(req, res)) return;
    std::string answer = mcp.handle(req.body);
    if (answer.empty()) {
      res.status = 202;  // a notification or a response: accepted, nothing to say
      return;
    }
    json a = json::parse(answer, nullptr, false);
    bool unreadable = a.contains("error") && a["id"].is_null();  // the message itself was bad
    if (!unreadable && a.contains("result") && a["result"].contains("protocolVersion") &&
        json::parse(req.body, nullptr, false).value("method", "") == "initialize")
      res.set_header("Mcp-Session-Id", sessions->open());
    res.status = unreadable ? 400 : 200;
    res.set_content(answer, "application/json");
  });

  // Notifications for the client: tools/list_changed whenever the image's tools change.
  http.Get("/mcp", [&mcp, admit, stopping](const httplib::Request& req, httplib::Response& res) {
    if (!admit(req, res)) return;
    struct State {
      std::string revision;
      Clock::time_point last_write = Clock::now();
      int64_t sent = 0;
    };
    auto st = std::make_shared<State>(State{mcp.revision()});
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream", [&mcp, st, stopping](size_t, httplib::DataSink& sink) {
      if (!sink.is_writable()) return false;
      if (stopping()) {
        sink.done();
        return true;
      }
      std::string now;
      try {
        now = mcp.revision();
      } catch (const std::exception&) {
        now = st->revision;  // a busy image: look again next time
      }
      if (now != st->revision) {
        st->revision = now;
        std::string ev = "id: " + std::to_string(++st->sent) + "\nevent: message\ndata: " + mcp_list_changed() + "\n\n";
        st->last_write = Clock::now();
        return sink.write(ev.data(), ev.size());
      }
      if (Clock::now() - st->last_write > std::chrono::seconds(15)) {
        st->last_write = Clock::now();
        if (!sink.write(": ping\n\n", 8)) return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(mcp.options().watch_ms));
      return true;
    });
  });

  http.Delete("/mcp", [sessions, rpc_error](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_header("Mcp-Session-Id") || !sessions->close(req.get_header_value("Mcp-Session-Id")))
      return rpc_error(res, 404, kInvalidRequest, "no such MCP session; nothing to end");
    res.status = 200;
  });
}

void serve_mcp_stdio(McpServer& mcp, std::istream& in, std::ostream& out) {
  std::mutex out_mu;
  auto emit = [&](const std::string& line) {
    std::lock_guard lk(out_mu);
    out << line << '\n' << std::flush;
  };
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    std::string seen;
    try {
      seen = mcp.revision();
    } catch (const std::exception&) {
    }
    while (!done) {
      for (int waited = 0; waited < mcp.options().watch_ms && !done; waited += 50)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      try {
        std::string now = mcp.revision();
        if (now != seen) {
          seen = now;
          emit(mcp_list_changed());
        }
      } catch (const std::exception& e) {
        if (mcp.options().log) mcp.options().log(std::string("cannot read the tool list: ") + e.what());
      }
    }
  });
  // Messages are lines; one past the size limit is read to its end (never held whole) and refused.
  const size_t limit = mcp.options().max_message;
  std::string line;
  size_t length = 0;
  auto finish = [&] {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (length > limit) emit(mcp.handle(std::string(limit + 1, ' ')));  // the same refusal as any oversized message
    else if (!line.empty()) {
      std::string answer = mcp.handle(line);
      if (!answer.empty()) emit(answer);
    }
    line.clear();
    length = 0;
  };
  std::streambuf* sb = in.rdbuf();
  for (int c; (c = sb->sbumpc()) != std::char_traits<char>::eof();) {
    if (c == '\n') {
      finish();
      continue;
    }
    if (++length <= limit) line.push_back(static_cast<char>(c));
  }
  finish();
  done = true;
  watcher.join();
}

}  // namespace a4ps::server
