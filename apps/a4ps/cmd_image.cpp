// a4ps image init | info | save-as | fork | diff | export | import | check
#include <sstream>

#include "a4ps/build.h"
#include "a4ps/image.h"
#include "a4ps/text.h"
#include "cli.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Image open_read_only(const std::string& path) { return Image::open(path, {.create_if_missing = false, .read_only = true}); }

json info_json(const ImageInfo& i) {
  const ImageInfo& c = i;
  return {{"path", i.path}, {"id", i.id}, {"name", i.name}, {"created_at", i.created_at},
          {"parent_id", i.parent_id}, {"schema_version", i.schema_version}, {"journal_mode", i.journal_mode},
          {"file_bytes", i.file_bytes},
          {"base_model", {{"path", i.base_model}, {"sha256", i.base_model_sha256}}},
          {"events", {{"count", c.events}, {"head_seq", i.head_seq}, {"head_hash", i.head_hash}}},
          {"counts", {{"personas", c.personas}, {"tools", c.tools}, {"codex", c.codex}, {"adapters", c.adapters},
                      {"memories", c.memories}, {"threads", c.threads}, {"checkpoints", c.checkpoints},
                      {"proposals", c.proposals}, {"proposals_pending", c.proposals_pending}}}};
}

std::string info_text(const ImageInfo& i) {
  const ImageInfo& c = i;
  std::ostringstream o;
  o << "image       " << i.path << "  (\"" << i.name << "\", id " << i.id << ")\n";
  if (!i.parent_id.empty()) o << "forked from " << i.parent_id << "\n";
  o << "created     " << i.created_at << "\n";
  o << "schema      " << i.schema_version << ", journal " << i.journal_mode << ", " << format_bytes(i.file_bytes) << "\n";
  o << "base model  ";
  if (i.base_model.empty()) o << "(none set)\n";
  else o << i.base_model << "  sha256 " << short_hash(i.base_model_sha256) << "\n";
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
      Image im = create_image(path, {.name = name, .base_model = base, .overwrite = force, .full_sync = sync != "normal"});
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
      auto im = Image::open(path, {.create_if_missing = false});
      im.set_setting(key, value);
      emit(g, {{"key", key}, {"value", value}}, value.empty() ? key + " cleared\n" : key + " = " + value + "\n");
    });
  }
  {
    auto* c = sub(img, "info", "show what an image holds");
    static std::string path;
    c->add_option("path", path, "image file")->required();
    c->callback([&g] {
      auto i = open_read_only(path).info();
      emit(g, info_json(i), info_text(i));
    });
  }
  {
    auto* c = sub(img, "save-as", "online backup to a new file (safe while the image is in use)");
    static std::string src, dest;
    c->add_option("image", src, "image file")->required();
    c->add_option("dest", dest, "new file")->required();
    c->callback([&g] {
      save_image_as(open_read_only(src), dest);
      auto i = open_read_only(dest).info();
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
      auto i = fork_image(src, dest, name);
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
      auto r = diff_images(open_read_only(a), open_read_only(b));
      emit(g, json::parse(r.json), r.text);
      if (exit_code && !r.empty) std::exit(1);
    });
  }
  {
    auto* c = sub(img, "export", "write one portable file (manifest + image snapshot)");
    static std::string src, dest;
    c->add_option("image", src, "image file")->required();
    c->add_option("archive", dest, "archive to write (e.g. agent.a4ps.tar)")->required();
    c->callback([&g] {
      auto r = export_image(open_read_only(src), dest);
      json j = {{"path", r.path}, {"archive_bytes", r.archive_bytes}, {"manifest", json::parse(r.manifest_json)}};
      emit(g, j, "exported " + src + " to " + dest + " (" + format_bytes(r.archive_bytes) + ", image sha256 " +
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
      auto r = import_image(src, dest, force);
      json j = {{"path", r.path}, {"manifest", json::parse(r.manifest_json)}, {"base_model_present", r.base_model_present}};
      std::string text = "imported " + src + " into " + dest + " (checksums and event chain verified)\n";
      if (!r.base_model.empty() && !r.base_model_present)
        text += "note: its base model " + r.base_model + " is not on this machine; copy the GGUF there\n";
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
      if (dir.empty()) dir = fs::path(src).filename().string() + ".imagefile";
      std::string f = write_imagefile(src, dir);
      emit(g, {{"imagefile", f}}, "wrote " + f + "; rebuild with: a4ps build -f " + f + " -o IMAGE.a4ps\n");
    });
  }
  {
    auto* c = sub(img, "check", "verify the file (integrity_check) and the whole event chain");
    static std::string path;
    c->add_option("path", path, "image file")->required();
    c->callback([&g] {
      auto r = check_image(open_read_only(path));
      json j = {{"ok", r.ok}, {"problems", r.problems}, {"events_verified", r.events_verified},
                {"blobs_verified", r.blobs_verified}, {"codex_states_verified", r.codex_states_verified}};
      std::string states = r.codex_states_verified ? ", saved codex state verified" : "";
      std::string text = r.ok ? "ok: " + path + " (integrity ok, " + std::to_string(r.events_verified) +
                                    " events chained, " + std::to_string(r.blobs_verified) + " blobs verified" + states + ")\n"
                              : "";
      for (auto& p : r.problems) text += "problem: " + p + "\n";
      emit(g, j, text);
      if (!r.ok)
        throw Error(path + " failed its check (corrupted or altered): " + r.problems.front() + "; restore it from a backup or export");
    });
  }
}

}  // namespace a4ps::cli
