// bench_checkpoint_growth: how an image grows with a conversation's turns, with each
// checkpoint holding only what its step changed (the default) against the whole state in
// every row (as images were written before).
//
//   bench_checkpoint_growth [--turns 1000] [--every 20] [--out DIR] [--dir TMPDIR]
//
// A conversation graph (route -> reply; the messages channel appends, the others replace)
// runs `turns` turns on one thread, three checkpoints a turn. Every `every` turns it
// records the image's bytes (WAL checkpointed into the file), the checkpoint rows' bytes,
// and the bytes per turn over the last window. Writes OUT/checkpoint_growth.csv and
// OUT/checkpoint_growth.svg (bytes per turn and image bytes against turns).
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "image/image.h"
#include "image/sqlite.h"

namespace fs = std::filesystem;
using namespace a4ps;
using graph::json;
using Clock = std::chrono::steady_clock;

namespace {

// A reply of about 400 characters, different every turn.
std::string reply_to(const std::string& question, int64_t turn) {
  std::string r = "Here is what I found about " + question + ". ";
  while (r.size() < 400) r += "Point " + std::to_string(r.size() % 97 + turn) + " follows from the notes; ";
  return r;
}

graph::StateGraph conversation() {
  graph::StateGraph g;
  g.channel("messages", graph::append(), json::array()).channel("route").channel("draft").channel("turns", graph::add(), 0);
  g.node("route", [](const json& s, graph::NodeContext&) {
    return json{{"route", s["turns"].get<int64_t>() % 3 == 0 ? "research" : "answer"}};
  });
  g.node("reply", [](const json& s, graph::NodeContext&) {
    std::string q = s["messages"].back()["content"];
    std::string text = reply_to(q, s["turns"].get<int64_t>());
    return json{{"messages", json::array({{{"role", "assistant"}, {"content", text}}})},
                {"draft", text.substr(0, 80)},
                {"turns", 1}};
  });
  g.edge(graph::START, "route").edge("route", "reply").edge("reply", graph::END);
  return g;
}

struct Sample {
  int64_t turn, image_bytes, row_bytes;
  double bytes_per_turn;
};

struct Result {
  std::vector<Sample> samples;
  double seconds = 0, read_ms = 0;
};

Result run(const fs::path& path, graph::Layout layout, int64_t turns, int64_t every) {
  auto img = image::Image::create(path, {.sync = image::Sync::Normal});
  auto cp = graph::image_checkpointer(img, graph::Durability::Normal, layout);
  auto g = conversation().compile({.checkpointer = cp.get(), .name = "chat"});
  Result r;
  int64_t last_bytes = 0;
  auto measure = [&](int64_t turn) {
    image::sql::exec(img.db(), "PRAGMA wal_checkpoint(TRUNCATE)");
    int64_t bytes = image::sql::scalar_i64(img.db(), "PRAGMA page_count") * image::sql::scalar_i64(img.db(), "PRAGMA page_size");
    int64_t rows = image::sql::scalar_i64(
        img.db(), "SELECT sum(length(state)+length(next)+length(meta)+ifnull(length(channels),0)) FROM checkpoints");
    double per = turn == 0 ? 0 : static_cast<double>(bytes - last_bytes) / static_cast<double>(every);
    r.samples.push_back({turn, bytes, rows, per});
    last_bytes = bytes;
  };
  measure(0);
  auto t0 = Clock::now();
  double paused = 0;
  for (int64_t turn = 1; turn <= turns; ++turn) {
    std::string q = "question " + std::to_string(turn) + " about the tides and the lighthouse keeper's ledger";
    g.invoke(json{{"messages", json::array({{{"role", "user"}, {"content", q}}})}}, {.thread_id = "chat"});
    if (turn % every == 0) {
      auto m0 = Clock::now();
      measure(turn);
      paused += std::chrono::duration<double>(Clock::now() - m0).count();
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count() - paused;
  auto fresh = graph::image_checkpointer(img, graph::Durability::Normal, layout);  // nothing remembered
  auto t1 = Clock::now();
  auto newest = fresh->get("chat", "");
  r.read_ms = std::chrono::duration<double>(Clock::now() - t1).count() * 1e3;
  if (!newest || newest->state["turns"] != turns) throw Error("the conversation did not read back whole");
  return r;
}

// Three charts side by side, against turns: bytes per turn and the image's bytes for both
// layouts, and bytes per turn of the delta layout alone (on its own scale, to show it flat).
std::string svg(const Result& before, const Result& after, int64_t turns) {
  const int w = 460, h = 300, left = 70, top = 40, pw = 360, ph = 200;
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << 3 * w << "' height='" << h
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n";
  auto chart = [&](int x0, const char* title, bool skip_first, bool both, auto value) {
    double ymax = 1;
    for (auto* r : {&before, &after})
      if (both || r == &after)
        for (auto& s : r->samples) ymax = std::max(ymax, value(s) * 1.25);
    o << "<text x='" << x0 + left << "' y='20' font-weight='bold'>" << title << "</text>\n";
    o << "<line x1='" << x0 + left << "' y1='" << top + ph << "' x2='" << x0 + left + pw << "' y2='" << top + ph
      << "' stroke='black'/>\n<line x1='" << x0 + left << "' y1='" << top << "' x2='" << x0 + left << "' y2='" << top + ph
      << "' stroke='black'/>\n";
    for (int k = 0; k <= 4; ++k) {
      double v = ymax * k / 4;
      int y = top + ph - static_cast<int>(ph * k / 4);
      char label[32];
      if (ymax >= 1e6) std::snprintf(label, sizeof label, "%.1f MB", v / 1e6);
      else std::snprintf(label, sizeof label, "%.0f", v);
      o << "<text x='" << x0 + left - 6 << "' y='" << y + 4 << "' text-anchor='end'>" << label << "</text>\n";
      o << "<text x='" << x0 + left + pw * k / 4 << "' y='" << top + ph + 16 << "' text-anchor='middle'>" << turns * k / 4
        << "</text>\n";
    }
    o << "<text x='" << x0 + left + pw / 2 << "' y='" << top + ph + 34 << "' text-anchor='middle'>turns</text>\n";
    auto line = [&](const Result& r, const char* colour) {
      o << "<polyline fill='none' stroke='" << colour << "' stroke-width='2' points='";
      for (auto& s : r.samples) {
        if (s.turn == 0 && skip_first) continue;  // no window before the first turn
        double x = x0 + left + pw * static_cast<double>(s.turn) / static_cast<double>(turns);
        double y = top + ph - ph * value(s) / ymax;
        o << x << "," << y << " ";
      }
      o << "'/>\n";
    };
    if (both) line(before, "#c0392b");
    line(after, "#2471a3");
  };
  chart(0, "bytes per turn (image growth)", true, true, [](const Sample& s) { return s.bytes_per_turn; });
  chart(w, "image bytes", false, true, [](const Sample& s) { return static_cast<double>(s.image_bytes); });
  chart(2 * w, "bytes per turn, now alone", true, false, [](const Sample& s) { return s.bytes_per_turn; });
  o << "<text x='" << left << "' y='" << h - 12 << "' fill='#c0392b'>whole state per checkpoint (before)</text>\n";
  o << "<text x='" << left + 300 << "' y='" << h - 12 << "' fill='#2471a3'>changed channels only (now)</text>\n";
  o << "</svg>\n";
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t turns = 1000, every = 20;
  fs::path out = ".", base = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--turns") turns = std::atoll(argv[i + 1]);
    else if (a == "--every") every = std::atoll(argv[i + 1]);
    else if (a == "--out") out = argv[i + 1];
    else if (a == "--dir") base = argv[i + 1];
  }
  if (turns <= 0 || every <= 0 || turns % every != 0) {
    std::fprintf(stderr, "bench_checkpoint_growth: --turns must be a positive multiple of --every\n");
    return 1;
  }
  std::string tmpl = (base / "a4ps-bench-growth-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::fprintf(stderr, "bench_checkpoint_growth: cannot create a directory in %s\n", base.c_str());
    return 1;
  }
  fs::path dir = tmpl;
  int rc = 0;
  try {
    std::printf("a %lld-turn conversation, 3 checkpoints a turn (temp dir %s)\n\n", static_cast<long long>(turns), dir.c_str());
    Result before = run(dir / "whole.a4ps", graph::Layout::FullState, turns, every);
    Result after = run(dir / "delta.a4ps", graph::Layout::Delta, turns, every);
    std::ofstream csv(out / "checkpoint_growth.csv");
    csv << "layout,turn,image_bytes,checkpoint_row_bytes,bytes_per_turn\n";
    for (auto [name, r] : {std::pair{"whole_state", &before}, std::pair{"delta", &after}})
      for (auto& s : r->samples)
        csv << name << "," << s.turn << "," << s.image_bytes << "," << s.row_bytes << "," << s.bytes_per_turn << "\n";
    std::ofstream(out / "checkpoint_growth.svg") << svg(before, after, turns);
    auto at = [&](const Result& r, int64_t turn) {
      for (auto& s : r.samples)
        if (s.turn >= turn) return s;
      return r.samples.back();
    };
    std::printf("%-28s %14s %14s %14s %14s\n", "layout", "bytes/turn@100", "bytes/turn@end", "image bytes", "s for all");
    for (auto [name, r] : {std::pair{"whole state (before)", &before}, std::pair{"changed channels (now)", &after}})
      std::printf("%-28s %14.0f %14.0f %14lld %14.2f\n", name, at(*r, 100).bytes_per_turn, r->samples.back().bytes_per_turn,
                  static_cast<long long>(r->samples.back().image_bytes), r->seconds);
    std::printf("\nbytes per turn, last window against the one ending at turn 100: before %.1fx, now %.2fx\n",
                before.samples.back().bytes_per_turn / at(before, 100).bytes_per_turn,
                after.samples.back().bytes_per_turn / at(after, 100).bytes_per_turn);
    std::printf("image after %lld turns: now %.3f MB = %.1fx smaller than before (%.1f MB)\n", static_cast<long long>(turns),
                after.samples.back().image_bytes / 1e6,
                static_cast<double>(before.samples.back().image_bytes) / after.samples.back().image_bytes,
                before.samples.back().image_bytes / 1e6);
    std::printf("reading the newest state afresh: now %.2f ms, before %.2f ms\n", after.read_ms, before.read_ms);
    std::printf("wrote %s and %s\n", (out / "checkpoint_growth.csv").c_str(), (out / "checkpoint_growth.svg").c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    rc = 1;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return rc;
}
