// a4ps image init | info | save-as | fork | diff | export | import | check
#include <sstream>

#include "cli.h"
#include "image/archive.h"
#include "image/diff.h"
#include "image/image.h"
#include "imagefile/build.h"
#include "util/util.h"

namespace a4ps::cli {
namespace {

using image::Image;
using nlohmann::json;
namespace fs = std::filesystem;

image::Sync parse_sync(const std::string& s) {
  return s == "normal" ? image::Sync::Normal : image::Sync::Full;
}

json info_json(const image::Info& i) {
  const auto& c = i.counts;
  return {{"path", i.path}, {"id", i.id}, {"name", i.name}, {"created_at", i.created_at},
          {"parent_id", i.parent_id}, {"schema_version", i.schema_version}, {"journal_mode", i.journal_mode},
          {"file_bytes", i.file_bytes},
          {"base_model", {{"path", i.base_model_path}, {"sha256", i.base_model_sha256}}},
          {"events", {{"count", c.events}, {"head_seq", i.head_seq}, {"head_hash", i.head_hash}}},
          {"counts", {{"personas", c.personas}, {"tools", c.tools}, {"codex", c.codex}, {"adapters", c.adapters},
                      {"memories", c.memories}, {"threads", c.threads}, {"checkpoints", c.checkpoints},
                      {"proposals", c.proposals}, {"proposals_pending", c.proposals_pending}}}};
}

std::string info_text(const image::Info& i) {
  const auto& c = i.counts;
  std::ostringstream o;
  o << "image       " << i.path << "  (\"" << i.name << "\", id " << i.id << ")\n";
  if (!i.parent_id.empty()) o << "forked from " << i.parent_id << "\n";
  o << "created     " << i.created_at << "\n";
  o << "schema      " << i.schema_version << ", journal " << i.journal_mode << ", " << human_bytes(i.file_bytes) << "\n";
  o << "base model  ";
  if (i.base_model_path.empty()) o << "(none set)\n";
  else o << i.base_model_path << "  sha256 " << short_hash(i.base_model_sha256) << "\n";
  o << "contents    " << c.personas << " personas, " << c.tools << " tools, " << c.codex << " codex documents, "
    << c.adapters << " adapters\n";
  o << "            " << c.memories << " memories, " << c.threads << " threads, " << c.checkpoints
    << " checkpoints, " << c.proposals << " proposals (" << c.proposals_pending << " pending)\n";
  o << "event log   " << c.events << " events, head #" << i.head_seq << " " << short_hash(i.head_hash) << "\n";
  return o.str();
}

}  // namespace

void add_image_commands(CLI::App& app, Globals& g) {
  auto* img = sub(&app, "image", "create, inspect, copy, compare and verify image files");
  img->require_subcommand(1);

  {
    auto* c = sub(img, "init", "create a new image file");
    static std::string path, name, base, sync = "full";
    static bool force = false;
    c->add_option("path", path, "new image file (*.a4ps)")->required();
    c->add_option("--name", name, "image name (default: the file name)");
    c->add_option("--base-model", base, "GGUF base model, recorded by path + sha256 (not copied)");
    c->add_option("--sync", sync, "commit durability: full (survives power loss) or normal (survives crashes)")
        ->check(CLI::IsMember({"full", "normal"}));
    c->add_flag("--force", force, "replace an existing file");
    c->callback([&g] {
      Image im = Image::create(path, {.name = name, .base_model = base, .overwrite = force, .sync = parse_sync(sync)});
      auto i = im.info();
      emit(g, info_json(i), "created " + path + "\n" + info_text(i));
    });
  }
  {
    auto* c = sub(img, "set", "change a setting of an image (model: the model spec its personas run on)");
    static std::string path, key, value;
    c->add_option("image", path, "image file")->required();
    c->add_option("key", key, "setting")->required()->check(CLI::IsMember({"model"}));
    c->add_option("value", value, "new value (omit to clear it)");
    c->callback([&g] {
      auto im = open_guarded(path);
      im.set_setting(key, value);
      emit(g, {{"key", key}, {"value", value}}, value.empty() ? key + " cleared\n" : key + " = " + value + "\n");
    });
  }
  {
    auto* c = sub(img, "info", "show what an image holds");
    static std::string path;
    c->add_option("path", path, "image file")->required();
    c->callback([&g] {
      auto i = Image::open(path, {.read_only = true}).info();
      emit(g, info_json(i), info_text(i));
    });
  }
  {
    auto* c = sub(img, "save-as", "online backup to a new file (safe while the image is in use)");
    static std::string src, dest;
    c->add_option("image", src, "image file")->required();
    c->add_option("dest", dest, "new file")->required();
    c->callback([&g] {
      Image::open(src, {.read_only = true}).save_as(dest);
      auto i = Image::open(dest, {.read_only = true}).info();
      emit(g, info_json(i), "saved " + src + " as " + dest + "\n");
    });
  }
  {
    auto* c = sub(img, "fork", "copy an image under a new identity, recording its parent");
    static std::string src, dest, name;
    c->add_option("image", src, "image file")->required();
    c->add_option("dest", dest, "new file")->required();
    c->add_option("--name", name, "name of the fork (default: the file name)");
    c->callback([&g] {
      auto i = image::fork(src, dest, name).info();
      emit(g, info_json(i), "forked " + src + " into " + dest + " (id " + i.id + ")\n");
    });
  }
  {
    auto* c = sub(img, "diff", "compare personas, tools, codex documents and adapters of two images");
    static std::string a, b;
    static bool exit_code = false;
    c->add_option("a", a, "first image")->required();
    c->add_option("b", b, "second image")->required();
    c->add_flag("--exit-code", exit_code, "exit with 1 when the images differ");
    c->callback([&g] {
      auto r = image::diff(Image::open(a, {.read_only = true}), Image::open(b, {.read_only = true}));
      emit(g, r.to_json(), r.to_text());
      if (exit_code && !r.empty()) std::exit(1);
    });
  }
  {
    auto* c = sub(img, "export", "write one portable file (manifest + image snapshot)");
    static std::string src, dest;
    c->add_option("image", src, "image file")->required();
    c->add_option("archive", dest, "archive to write (e.g. agent.a4ps.tar)")->required();
    c->callback([&g] {
      auto r = image::export_image(Image::open(src, {.read_only = true}), dest);
      json j = {{"path", r.path}, {"archive_bytes", r.archive_bytes}, {"manifest", r.manifest}};
      emit(g, j, "exported " + src + " to " + dest + " (" + human_bytes(r.archive_bytes) + ", image sha256 " +
                     short_hash(r.image_sha256) + ")\n");
    });
  }
  {
    auto* c = sub(img, "import", "unpack an exported archive, verifying checksums and the event chain");
    static std::string src, dest;
    static bool force = false;
    c->add_option("archive", src, "archive written by `a4ps image export`")->required();
    c->add_option("dest", dest, "image file to create")->required();
    c->add_flag("--force", force, "replace an existing file");
    c->callback([&g] {
      auto r = image::import_image(src, dest, force);
      json j = {{"path", r.path}, {"manifest", r.manifest}, {"base_model_present", r.base_model_present}};
      std::string text = "imported " + src + " into " + dest + " (checksums and event chain verified)\n";
      std::string base = r.manifest["base_model"].value("path", "");
      if (!base.empty() && !r.base_model_present)
        text += "note: its base model " + base + " is not on this machine; copy the GGUF there\n";
      emit(g, j, text);
    });
  }
  {
    auto* c = sub(img, "show", "write what an image is as a recipe: --imagefile writes an Imagefile that rebuilds it");
    static std::string src, dir;
    static bool imagefile = false;
    c->add_option("image", src, "image file (or a build tag)")->required();
    c->add_flag("--imagefile", imagefile, "write DIR/Imagefile and the files it names")->required();
    c->add_option("-o,--output", dir, "folder to write (default: IMAGE.imagefile/)");
    c->callback([&g] {
      std::error_code ec;
      fs::path p = src;
      if (!fs::exists(p, ec) && src.find('/') == std::string::npos) p = imagefile::tag_path(src);
      if (dir.empty()) dir = fs::path(src).filename().string() + ".imagefile";
      fs::path f = imagefile::write_imagefile(Image::open(p, {.read_only = true}), dir);
      emit(g, {{"imagefile", f.string()}}, "wrote " + f.string() + "; rebuild with: a4ps build -f " + f.string() + " -o IMAGE.a4ps\n");
    });
  }
  {
    auto* c = sub(img, "check", "verify the file (integrity_check) and the whole event chain");
    static std::string path;
    c->add_option("path", path, "image file")->required();
    c->callback([&g] {
      auto r = Image::open(path, {.read_only = true}).check();
      json j = {{"ok", r.ok}, {"problems", r.problems}, {"events_verified", r.events_verified},
                {"blobs_verified", r.blobs_verified}};
      std::string text = r.ok ? "ok: " + path + " (integrity ok, " + std::to_string(r.events_verified) +
                                    " events chained, " + std::to_string(r.blobs_verified) + " blobs verified)\n"
                              : "";
      for (auto& p : r.problems) text += "problem: " + p + "\n";
      emit(g, j, text);
      if (!r.ok)
        throw Error(path + " failed its check (corrupted or altered): " + r.problems.front() + "; restore it from a backup or export");
    });
  }
}

}  // namespace a4ps::cli
