// libFuzzer target: the service's request parsers (server/request.h, and the /v1 door's in
// server/openai_request.h). Whatever bytes a client sends, each parser returns a typed
// request or throws HttpError / ApiError with a 4xx status and a one-line message; nothing
// else escapes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "openai_request.h"
#include "request.h"

using namespace a4ps::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0] % 12;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (which) {
      case 0: parse_create_run(parse_body(text)); break;
      case 1: parse_search_threads(parse_body(text)); break;
      case 2: parse_create_thread(parse_body(text)); break;
      case 3: parse_copy_thread(parse_body(text)); break;
      case 4: parse_decision(parse_body(text)); break;
      case 5: parse_event_id(text); break;
      case 6: parse_proposal_id(text); break;
      case 7: check_id(text, "thread id"); break;
      case 8: {
        parse_listen(text);
        (void)bearer_token(text);
        (void)token_equals(text, "0123456789abcdef");
        break;
      }
      case 9: parse_chat_completion(parse_openai_body(text)); break;
      case 10: parse_embeddings(parse_openai_body(text)); break;
      case 11: {
        size_t n = complete_utf8(text);  // a stream's split point: within the text, never mid-character
        if (n > text.size()) __builtin_trap();
        (void)dump(json(text.substr(0, n)));
        persona_of_model(text);
        break;
      }
    }
  } catch (const HttpError& e) {
    std::string m = e.what();
    if (e.status() < 400 || e.status() > 499 || m.empty() || m.find('\n') != std::string::npos) __builtin_trap();
  } catch (const ApiError& e) {
    std::string m = e.what();
    if (e.status() < 400 || e.status() > 499 || m.empty() || m.find('\n') != std::string::npos) __builtin_trap();
  } catch (...) {
    __builtin_trap();  // a parser let another exception out
  }
  return 0;
}
