#include "util/util.h"

#include "util/env.h"

#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace a4ps {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

Sha256& Sha256::update(const void* data, size_t n) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
  return *this;
}
Sha256& Sha256::update(std::string_view d) { return update(d.data(), d.size()); }

std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &n);
  static const char* digits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (unsigned i = 0; i < n; ++i) {
    out[2 * i] = digits[md[i] >> 4];
    out[2 * i + 1] = digits[md[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) { return Sha256().update(data).hex(); }

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string() + ": check the path and permissions");
  Sha256 h;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return h.hex();
}

// These keep their old signatures and go through the default Env.
std::string now_utc() { return now_utc(Env::Default()); }
std::string random_id() { return random_id(Env::Default()); }
std::string read_file(const std::filesystem::path& path) { return Env::Default()->read_file(path); }

std::string base64_decode(std::string_view b64) {
  if (b64.size() % 4) throw Error("bad base64: its length is not a multiple of 4");
  std::string out(b64.size() / 4 * 3, '\0');
  int n = b64.empty() ? 0
                      : EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) throw Error("bad base64");
  size_t pad = b64.ends_with("==") ? 2 : b64.ends_with("=") ? 1 : 0;  // DecodeBlock counts padding as bytes
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) { v /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  Env::Default()->write_file_atomic(path, bytes);
}

namespace {

// The length of the valid UTF-8 sequence at s[i], or 0 when none starts there (no
// overlong forms, surrogates or code points past U+10FFFF).
size_t utf8_seq(std::string_view s, size_t i) {
  auto u = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned c = u(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t cp = c & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) {
    if ((u(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (u(i + k) & 0x3F);
  }
  if (n > 1 && (cp < (n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
    return 0;
  return n;
}

}  // namespace

bool utf8_valid(std::string_view s, size_t* bad) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_seq(s, i);
    if (n == 0) {
      if (bad) *bad = i;
      return false;
    }
    i += n;
  }
  return true;
}

std::string utf8_clean(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_seq(s, i);
    if (n) out.append(s.substr(i, n)), i += n;
    else out += "\xEF\xBF\xBD", ++i;
  }
  return out;
}

std::string utf8_clip(std::string_view s, size_t max, std::string_view mark) {
  if (s.size() <= max) return std::string(s);
  size_t e = max;
  while (e > 0 && (static_cast<unsigned char>(s[e]) & 0xC0) == 0x80) --e;
  return std::string(s.substr(0, e)) + std::string(mark);
}

}  // namespace a4ps
