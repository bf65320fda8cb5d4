// The /v1 door: OpenAI's response shapes (plain and SSE chunks) over the runner (the
// deliberation) and the public chat API (one persona, embeddings).
#include "openai.h"

#include <atomic>
#include <chrono>

#include "a4ps/error.h"
#include "a4ps/personas.h"
#include "request.h"
#include "runner.h"

namespace a4ps::server {

namespace {

using Clock = std::chrono::steady_clock;
using httplib::Request;
using httplib::Response;

[[noreturn]] void bad(const std::string& message, const std::string& param) {
  throw ApiError(400, "invalid_request_error", message, param);
}

void send(Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(dump(j), "application/json");
}

std::string new_id(const char* prefix) {
  static std::atomic<uint64_t> n{0};
  return std::string(prefix) + std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "-" +
         std::to_string(++n);
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string base64(const std::vector<float>& v) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));  // little-endian float32, as OpenAI sends
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += k[(n >> 18) & 63];
    out += k[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? k[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? k[n & 63] : '=';
  }
  return out;
}

json usage(int prompt, int completion) {
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json chunk(const std::string& id, int64_t created, const std::string& model, const json& delta, const json& finish) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

std::string sse_data(const json& j) { return "data: " + dump(j) + "\n\n"; }

// What the deliberation's run came to, as a reply: ALFRED's answer, or why there is none.
struct Outcome {
  std::string text;
  int tokens = 0, prompt_tokens = 0;  // over every model call of the deliberation
};
Outcome outcome_of(const RunData& r) {
  if (r.state == RunState::Error || r.state == RunState::Cancelled)
    throw ApiError(500, "server_error", "the deliberation failed: " + (r.error.empty() ? std::string("cancelled") : r.error));
  json a = json::parse(r.answer_json, nullptr, false);
  Outcome o;
  if (a.is_object())
    for (auto& t : a.value("transcript", json::array()))
      if (t.is_object()) {
        if (t.contains("tokens") && t["tokens"].is_number_integer()) o.tokens += t["tokens"].get<int>();
        if (t.contains("prompt_tokens") && t["prompt_tokens"].is_number_integer())
          o.prompt_tokens += t["prompt_tokens"].get<int>();
      }
  if (r.state == RunState::Interrupted) {
    std::string ids;
    if (a.is_object())
      for (auto& i : a.value("interrupts", json::array()))
        if (i.is_object() && i.value("payload", json()).is_object() && i["payload"].contains("proposal"))
          ids += (ids.empty() ? "#" : ", #") + i["payload"]["proposal"].dump();
    o.text = "(The agent waits for a human to decide proposal " + ids + " on thread " + r.thread +
             ": decide it at /approvals/{id}, then resume the thread.)";
  } else if (a.is_object() && a.value("answer", json()).is_string()) {
    o.text = a["answer"];
  }
  return o;
}

// The deliberation's task: the last user message; on a fresh thread, earlier messages go
// before it as context (a named thread remembers its own conversation).
std::string task_of(const ChatCompletion& c) {
  size_t last = 0;
  for (size_t i = 0; i < c.messages.size(); ++i)
    if (c.messages[i].role == "user") last = i;
  std::string context;
  if (c.thread_id.empty())
    for (size_t i = 0; i < last; ++i) context += c.messages[i].role + ": " + c.messages[i].content + "\n";
  const std::string& task = c.messages[last].content;
  if (task.find_first_not_of(" \t\r\n") == std::string::npos) bad("the last user message is empty; say what to do", "messages");
  return context.empty() ? task : "The conversation so far:\n" + context + "\nNow: " + task;
}

struct Door {
  OpenAIDoor d;

  template <class F>
  auto guard(F f) {
    return [f](const Request& req, Response& res) {
      try {
        f(req, res);
      } catch (const ApiError& e) {
        send(res, e.status(), openai_error(e.status(), e.what(), e.param(), e.code()));
      } catch (const HttpError& e) {
        send(res, e.status(), openai_error(e.status(), e.what(), "", e.code()));
      } catch (const Busy& e) {
        send(res, 409, openai_error(409, e.what(), "thread_id", "busy"));
      } catch (const a4ps::Error& e) {
        send(res, 400, openai_error(400, e.what()));
      } catch (const std::bad_alloc&) {
        send(res, 503, openai_error(503, "out of memory; retry later"));
      } catch (const std::exception& e) {
        send(res, 500, openai_error(500, e.what()));
      }
    };
  }

  json model_entry(const std::string& id, const std::string& description) const {
    return {{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", "a4ps"}, {"description", description}};
  }

  json models() {
    auto img = d.image();
    json data = json::array({model_entry("a4ps", "the deliberation: ALFRED routes, the personas work, ALFRED answers")});
    for (auto& p : list_personas(*img)) data.push_back(model_entry("a4ps/" + p.name, p.role));
    return {{"object", "list"}, {"data", data}};
  }

  // The persona a model id names, as the image spells it; ApiError(404) when there is none.
  std::string persona(Image& img, const std::string& model) {
    std::string name = persona_of_model(model);
    if (name.empty()) return "";
    auto p = find_persona(img, name);
    if (!p)
      throw ApiError(404, "invalid_request_error",
                     "the model '" + printable(model, 80) + "' does not exist: this image has no persona " +
                         printable(name, 64) + " (see GET /v1/models)",
                     "model", "model_not_found");
    return p->name;
  }

  void chat(const Request& req, Response& res) {
    ChatCompletion c = parse_chat_completion(parse_openai_body(req.body));
    if (d.runner->stopping()) throw ApiError(503, "server_error", "the server is shutting down; retry against its next start");
    std::string name;
    {
      auto img = d.image();
      name = persona(*img, c.model);
    }
    if (name.empty()) return deliberate(c, res);
    if (!c.thread_id.empty()) bad("'thread_id' is for the model a4ps (a persona alone keeps no thread)", "thread_id");
    PersonaChatOptions po{.model = d.model, .max_tokens = c.max_tokens, .temperature = c.temperature, .seed = c.seed,
                          .stop = c.stop, .json_schema = c.json_schema, .on_token = {}, .models = d.models};
    if (d.max_tokens > 0) po.max_tokens = po.max_tokens > 0 ? std::min(po.max_tokens, d.max_tokens) : d.max_tokens;
    std::string id = new_id("chatcmpl-"), model = "a4ps/" + name;
    int64_t created = now_s();
    if (!c.stream) {
      PersonaReply r;
      {
        auto img = d.image();
        r = persona_chat(*img, name, c.messages, po);
      }
      send(res, 200,
           {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
            {"choices", json::array({{{"index", 0},
                                      {"message", {{"role", "assistant"}, {"content", r.text}}},
                                      {"finish_reason", r.finish_reason == "length" ? "length" : "stop"}}})},
            {"usage", usage(r.prompt_tokens, r.completion_tokens)},
            {"a4ps", {{"persona", r.persona}, {"model", r.model}, {"adapter", r.adapter}}}});
      return;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    auto messages = std::make_shared<std::vector<ChatMessage>>(std::move(c.messages));
    bool include_usage = c.include_usage;
    res.set_chunked_content_provider(
        "text/event-stream", [this, po, messages, name, id, model, created, include_usage](size_t, httplib::DataSink& sink) mutable {
          auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
          write(sse_data(chunk(id, created, model, {{"role", "assistant"}, {"content", ""}}, nullptr)));
          std::string held;  // an unfinished UTF-8 character waits for its next bytes
          po.on_token = [&](std::string_view piece) {
            held.append(piece);
            size_t n = complete_utf8(held);
            if (n == 0) return true;
            bool ok = write(sse_data(chunk(id, created, model, {{"content", held.substr(0, n)}}, nullptr)));
            held.erase(0, n);
            return ok;
          };
          try {
            auto img = d.image();
            PersonaReply r = persona_chat(*img, name, *messages, po);
            if (r.finish_reason == "cancelled") return false;  // the client left
            if (!held.empty()) write(sse_data(chunk(id, created, model, {{"content", held}}, nullptr)));
            write(sse_data(chunk(id, created, model, json::object(), r.finish_reason == "length" ? "length" : "stop")));
            if (include_usage) {
              json u = chunk(id, created, model, json::object(), nullptr);
              u["choices"] = json::array();
              u["usage"] = usage(r.prompt_tokens, r.completion_tokens);
              write(sse_data(u));
            }
          } catch (const std::exception& e) {  // headers are out: the error goes in the stream
            write(sse_data(openai_error(500, e.what())));
          }
          write("data: [DONE]\n\n");
          sink.done();
          return true;
        });
  }

  void deliberate(const ChatCompletion& c, Response& res) {
    if (!c.json_schema.empty())
      bad("'response_format' json is for the persona models (a4ps/NAME); ALFRED's answer is prose", "response_format");
    std::string thread = c.thread_id.empty() ? new_id("oai-") : c.thread_id;
    auto run = d.runner->submit(thread, task_of(c), false, false);
    std::string id = new_id("chatcmpl-");
    int64_t created = now_s();
    res.set_header("X-A4PS-Thread", thread);
    res.set_header("X-A4PS-Run", run->id);
    if (!c.stream) {
      if (!d.runner->wait(run, Clock::now() + std::chrono::seconds(d.max_wait_s)))
        throw ApiError(504, "timeout_error", "the deliberation takes longer than " + std::to_string(d.max_wait_s) +
                                                 "s; it goes on: see /threads/" + thread + "/runs/" + run->id);
      RunData r = d.runner->snapshot(run);
      Outcome o = outcome_of(r);
      send(res, 200,
           {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", "a4ps"},
            {"choices", json::array({{{"index", 0},
                                      {"message", {{"role", "assistant"}, {"content", o.text}}},
                                      {"finish_reason", "stop"}}})},
            {"usage", usage(o.prompt_tokens, o.tokens)},
            {"a4ps", {{"thread_id", thread}, {"run_id", r.id}, {"status", run_state_name(r.state)}}}});
      return;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    struct State {
      bool started = false;
      size_t sent = 0;  // bytes of the live answer already in the stream
      Clock::time_point last_write = Clock::now(), deadline;
    };
    auto st = std::make_shared<State>();
    st->deadline = Clock::now() + std::chrono::seconds(d.max_wait_s);
    bool include_usage = c.include_usage;
    res.set_chunked_content_provider(
        "text/event-stream", [this, run, thread, id, created, st, include_usage](size_t, httplib::DataSink& sink) {
          auto write = [&](const std::string& s) {
            st->last_write = Clock::now();
            return sink.write(s.data(), s.size());
          };
          if (!st->started) {
            st->started = true;
            return write(sse_data(chunk(id, created, "a4ps", {{"role", "assistant"}, {"content", ""}}, nullptr)));
          }
          uint64_t v = d.runner->version(thread);
          RunData r = d.runner->snapshot(run);
          // The answer's words as they are written; a client that left stops the run (its
          // steps stay in the thread: resume it, or ask again).
          if (r.live_answer.size() > st->sent) {
            size_t n = complete_utf8(r.live_answer.substr(st->sent));
            if (n > 0) {
              bool ok = write(sse_data(chunk(id, created, "a4ps", {{"content", r.live_answer.substr(st->sent, n)}}, nullptr)));
              st->sent += n;
              if (!ok) d.runner->cancel(run);
              return ok;
            }
          }
          if (!r.finished_state()) {
            if (Clock::now() > st->deadline || d.runner->stopping()) {
              write(sse_data(openai_error(504, "the deliberation goes on past this stream; see /threads/" + thread)));
              write("data: [DONE]\n\n");
              sink.done();
              return true;
            }
            if (Clock::now() - st->last_write > std::chrono::seconds(15) && !write(": ping\n\n")) {
              d.runner->cancel(run);
              return false;
            }
            d.runner->wait_change(thread, v, std::chrono::milliseconds(500));
            return true;
          }
          try {
            Outcome o = outcome_of(r);
            // What did not stream live: all of it, or the rest after what did (the final
            // text is the streamed one, cleaned of invalid UTF-8; a mismatch sends nothing more).
            std::string rest = st->sent == 0 ? o.text
                               : o.text.compare(0, st->sent, r.live_answer, 0, st->sent) == 0 && o.text.size() > st->sent
                                   ? o.text.substr(st->sent)
                                   : "";
            if (!rest.empty()) write(sse_data(chunk(id, created, "a4ps", {{"content", rest}}, nullptr)));
            write(sse_data(chunk(id, created, "a4ps", json::object(), "stop")));
            if (include_usage) {
              json u = chunk(id, created, "a4ps", json::object(), nullptr);
              u["choices"] = json::array();
              u["usage"] = usage(o.prompt_tokens, o.tokens);
              write(sse_data(u));
            }
          } catch (const ApiError& e) {
            write(sse_data(openai_error(e.status(), e.what())));
          }
          write("data: [DONE]\n\n");
          sink.done();
          return true;
        });
  }

  void embeddings(const Request& req, Response& res) {
    Embeddings e = parse_embeddings(parse_openai_body(req.body));
    auto img = d.image();
    std::string name = persona(*img, e.model), model = d.model;
    if (!name.empty())
      if (auto p = find_persona(*img, name); p && !p->model.empty()) model = p->model;
    json data = json::array();
    for (size_t i = 0; i < e.input.size(); ++i) {
      std::vector<float> v = embed_text(*img, e.input[i], {.model = model, .models = d.models});
      json emb = e.base64 ? json(base64(v)) : json(v);
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", emb}});
    }
    send(res, 200, {{"object", "list"}, {"data", data}, {"model", e.model}, {"usage", {{"prompt_tokens", 0}, {"total_tokens", 0}}}});
  }
};

}  // namespace

void add_openai_routes(httplib::Server& s, OpenAIDoor door) {
  auto d = std::make_shared<Door>(Door{std::move(door)});
  s.Get("/v1/models", d->guard([d](const Request&, Response& res) { send(res, 200, d->models()); }));
  s.Get(R"(/v1/models/(.+))", d->guard([d](const Request& req, Response& res) {
          std::string id = req.matches[1];
          json all = d->models();
          for (auto& m : all["data"])
            if (m["id"] == id) return send(res, 200, m);
          persona_of_model(id);  // 404 in OpenAI's words
          throw ApiError(404, "invalid_request_error", "the model '" + printable(id, 80) + "' does not exist (see GET /v1/models)",
                         "model", "model_not_found");
        }));
  s.Post("/v1/chat/completions", d->guard([d](const Request& req, Response& res) { d->chat(req, res); }));
  s.Post("/v1/embeddings", d->guard([d](const Request& req, Response& res) { d->embeddings(req, res); }));
}

}  // namespace a4ps::server
