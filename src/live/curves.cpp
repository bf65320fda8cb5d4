// Competence curves as SVG (curves.h).
#include "live/curves.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace a4ps::live {
namespace {

std::string escape(const std::string& s) {
  std::string r;
  for (char c : s) r += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : c == '"' ? "&quot;" : std::string(1, c);
  return r;
}

}  // namespace

std::string curves_svg(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                       const std::string& y_label) {
  const double w = 720, h = 400, left = 64, right = 180, top = 40, bottom = 48;
  size_t n = 2;
  for (auto& s : series) n = std::max(n, s.second.size());
  auto x = [&](size_t i) { return left + (w - left - right) * static_cast<double>(i) / static_cast<double>(n - 1); };
  auto y = [&](double v) { return top + (h - top - bottom) * (1 - std::clamp(v, 0.0, 1.0)); };
  static const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << left << "\" y=\"24\" font-size=\"14\">" << escape(title) << "</text>\n";
  o << "<path d=\"M" << left << " " << top << " V" << h - bottom << " H" << w - right << "\" stroke=\"black\" fill=\"none\"/>\n";
  for (int k = 0; k <= 4; ++k) {
    double v = k / 4.0;
    o << "<text x=\"" << left - 6 << "\" y=\"" << y(v) + 4 << "\" text-anchor=\"end\">" << v << "</text>\n";
  }
  o << "<text x=\"" << left << "\" y=\"" << h - bottom + 16 << "\">0</text><text x=\"" << w - right << "\" y=\""
    << h - bottom + 16 << "\" text-anchor=\"end\">" << n - 1 << "</text>\n";
  o << "<text x=\"" << (left + w - right) / 2 << "\" y=\"" << h - 12 << "\" text-anchor=\"middle\">" << escape(x_label)
    << "</text>\n<text x=\"16\" y=\"" << (top + h - bottom) / 2 << "\" transform=\"rotate(-90 16 "
    << (top + h - bottom) / 2 << ")\" text-anchor=\"middle\">" << escape(y_label) << "</text>\n";
  for (size_t s = 0; s < series.size(); ++s) {
    const char* c = palette[s % 8];
    o << "<polyline fill=\"none\" stroke=\"" << c << "\" stroke-width=\"1.5\" points=\"";
    char b[48];
    for (size_t i = 0; i < series[s].second.size(); ++i) {
      std::snprintf(b, sizeof b, "%.1f,%.1f ", x(i), y(series[s].second[i]));
      o << b;
    }
    o << "\"/>\n<text x=\"" << w - right + 10 << "\" y=\"" << top + 16 * (s + 1) << "\" fill=\"" << c << "\">"
      << escape(series[s].first) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::vector<double> rolling_rate(const std::vector<bool>& outcomes, size_t window) {
  std::vector<double> out;
  size_t ok = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    ok += outcomes[i];
    if (i >= window) ok -= outcomes[i - window];
    out.push_back(static_cast<double>(ok) / static_cast<double>(std::min(i + 1, window)));
  }
  return out;
}

}  // namespace a4ps::live
