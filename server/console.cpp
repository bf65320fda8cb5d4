#include "console.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "console_files.h"
#include "request.h"

namespace a4ps::server {

using json = nlohmann::json;

namespace {

const char kCookie[] = "a4ps_console";
const char kHeader[] = "X-A4PS-Console";

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  size_t got = 0;
  while (fd >= 0 && got < bytes) {
    ssize_t n = ::read(fd, raw.data() + got, bytes - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (fd >= 0) ::close(fd);
  if (got < bytes) throw std::runtime_error("cannot read /dev/urandom for the console's session secret");
  std::string hex;
  char b[3];
  for (unsigned char c : raw) std::snprintf(b, sizeof b, "%02x", c), hex += b;
  return hex;
}

// The value of one cookie in a Cookie header ("" when absent).
std::string cookie(const httplib::Request& req, const std::string& name) {
  std::string h = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < h.size()) {
    size_t end = h.find(';', pos);
    if (end == std::string::npos) end = h.size();
    std::string part = h.substr(pos, end - pos);
    size_t s = part.find_first_not_of(' ');
    if (s != std::string::npos) part = part.substr(s);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

bool changes_state(const httplib::Request& req) {
  return req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS";
}

bool console_path(const std::string& p) { return p == "/" || p.rfind("/console/", 0) == 0 || p == "/console"; }

const char* content_type(const std::string& path) {
  auto ends = [&](const char* e) { return path.size() >= strlen(e) && path.compare(path.size() - strlen(e), strlen(e), e) == 0; };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

// Where a file is served: the page at /, the rest under /console/.
std::string served_at(const ConsoleFile& f) {
  return std::string(f.path) == "/index.html" ? "/" : "/console" + std::string(f.path);
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& detail) {
  res.status = status;
  res.set_content(json{{"error", code}, {"detail", detail}}.dump(), "application/json");
}

}  // namespace

Console::Console(ConsoleOptions o) : o_(std::move(o)) {}

bool Console::has_session(const httplib::Request& req) const {
  std::string c = cookie(req, kCookie);
  if (c.size() != 64) return false;
  std::lock_guard lk(mu_);
  bool found = false;
  for (auto& s : sessions_) found = token_equals(c, s) || found;  // each compared in full
  return found;
}

void Console::check(const httplib::Request& req) const {
  if (changes_state(req)) {
    // A cross-site <form> can POST these three types without asking the server first. Only
    // a browser's requests are held to it (they carry one of these headers; curl -d does not).
    bool browser = req.has_header("Origin") || req.has_header("Cookie") || req.has_header("Sec-Fetch-Site");
    std::string type = browser ? req.get_header_value("Content-Type") : "";
    type = type.substr(0, type.find(';'));
    for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (type == "application/x-www-form-urlencoded" || type == "multipart/form-data" || type == "text/plain")
      throw HttpError(415, "unsupported_media_type", "send JSON (Content-Type: application/json); form posts are refused");
    if (has_session(req) && !req.has_header(kHeader) && req.path != "/console/login")
      throw HttpError(403, "csrf", std::string("a request signed in by the console's cookie must carry the ") + kHeader +
                                       " header; send it, or use Authorization: Bearer TOKEN");
  }
}

bool Console::admits(const httplib::Request& req) const {
  if (req.path == "/console/login" || req.path == "/console/session") return true;
  if (req.method == "GET" || req.method == "HEAD")
    for (auto& f : console_files())
      if (req.path == served_at(f)) return true;
  return has_session(req);
}

void Console::secure_headers(const httplib::Request& req, httplib::Response& res) {
  res.set_header("X-Content-Type-Options", "nosniff");
  if (!console_path(req.path)) return;
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                 "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

void Console::add_routes(httplib::Server& s) {
  for (const auto& f : console_files()) {
    const ConsoleFile* file = &f;
    s.Get(served_at(f), [file](const httplib::Request& req, httplib::Response& res) {
      res.set_header("ETag", file->etag);
      // The page must be asked for anew (it names the other files); the rest revalidate.
      res.set_header("Cache-Control", "no-cache");
      if (req.get_header_value("If-None-Match") == file->etag) {
        res.status = 304;
        return;
      }
      res.set_content(file->data, file->size, content_type(file->path));
    });
  }
  // The console's state for its first paint: whether it must ask for the token.
  s.Get("/console/session", [this](const httplib::Request& req, httplib::Response& res) {
    bool need = !o_.token.empty();
    res.set_header("Cache-Control", "no-store");
    res.set_content(json{{"login_required", need}, {"logged_in", !need || has_session(req)}}.dump(), "application/json");
  });
  s.Post("/console/login", [this](const httplib::Request& req, httplib::Response& res) {
    json b = json::parse(req.body, nullptr, false);
    std::string presented = b.is_object() && b.value("token", json()).is_string() ? b["token"].get<std::string>() : "";
    if (o_.token.empty())
      return res.set_content(json{{"logged_in", true}}.dump(), "application/json");
    if (presented.empty() || !token_equals(presented, o_.token))
      return send_error(res, 401, "unauthorized", "that is not this server's token (the file given to --token-file)");
    std::string session = random_hex(32);
    {
      std::lock_guard lk(mu_);
      sessions_.push_back(session);
      if (sessions_.size() > 1000) sessions_.pop_front();
    }
    res.set_header("Set-Cookie", std::string(kCookie) + "=" + session + "; Path=/; HttpOnly; SameSite=Strict");
    res.set_content(json{{"logged_in", true}}.dump(), "application/json");
  });
  s.Post("/console/logout", [this](const httplib::Request& req, httplib::Response& res) {
    std::string c = cookie(req, kCookie);
    {
      std::lock_guard lk(mu_);
      std::erase(sessions_, c);
    }
    res.set_header("Set-Cookie", std::string(kCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    res.set_content(json{{"logged_in", false}}.dump(), "application/json");
  });
  add_console_api(s, o_);
}

}  // namespace a4ps::server
