// The console: a4ps serve's web page for a human in the loop (web/, embedded), its login,
// and the JSON it needs beyond the Agent Protocol routes (console_api.cpp).
//
// Security, in one place:
// - Same origin as the API; the files carry a strict Content-Security-Policy (no inline
//   script or style, nothing from another origin) and are rendered with textContent only.
// - Off loopback (a server with a token) a person logs in with the server's token once; the
//   console then holds a session cookie (HttpOnly, SameSite=Strict) instead of the token.
// - CSRF: a request authenticated by that cookie that changes something must carry the
//   X-A4PS-Console header, which a cross-site form or image cannot send; and no browser's
//   request (one with Origin, Cookie or Sec-Fetch-Site) may send a form's content types (a
//   "simple" cross-site POST) to any route, token or not. Same-origin is checked before.
#pragma once
#include <httplib.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "a4ps/image.h"

namespace a4ps::server {

struct ConsoleOptions {
  std::string token;  // the server's bearer token ("" none: loopback without login)
  std::function<std::shared_ptr<Image>()> image;  // an image handle for one request
};

class Console {
 public:
  explicit Console(ConsoleOptions o);
  // Before the bearer check: throws HttpError for a form-typed state-changing request and
  // for a cookie-authenticated one without the console's header.
  void check(const httplib::Request& req) const;
  // Whether the request needs no bearer token: the console's own files and login, or a
  // valid session cookie.
  bool admits(const httplib::Request& req) const;
  // The page, its files, login/logout and /console/api/*.
  void add_routes(httplib::Server& s);
  // Headers every response gets (CSP and friends on the console's own paths).
  static void secure_headers(const httplib::Request& req, httplib::Response& res);

 private:
  bool has_session(const httplib::Request& req) const;
  ConsoleOptions o_;
  // Sessions: a random cookie value per login, forgotten at logout (and the oldest beyond
  // a bound); none survives a restart.
  mutable std::mutex mu_;
  std::deque<std::string> sessions_;
};

// /console/api/*: thin JSON over the public API.
void add_console_api(httplib::Server& s, const ConsoleOptions& o);

}  // namespace a4ps::server
