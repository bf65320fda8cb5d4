// The public whole-image operations and Imagefile builds on real files: create, info,
// backup, fork, check, diff, export/import, build (cached), show as an Imagefile, prune.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "a4ps/build.h"
#include "a4ps/image.h"
#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

TEST(ImageFilesApi, CreateInfoSaveForkAndCheck) {
  test::TempDir d;
  std::string a = (d / "a.a4ps").string();
  {
    Image img = create_image(a, {.name = "demo", .full_sync = false});
    img.set_setting("model", "ollama:llama3.2");  // the handle writes, guarded
    ImageInfo i = img.info();
    EXPECT_EQ(i.name, "demo");
    EXPECT_GT(i.schema_version, 0);
    EXPECT_GT(i.file_bytes, 0u);
    EXPECT_EQ(i.head_seq, i.events);
    EXPECT_EQ(i.head_hash.size(), 64u);
    EXPECT_EQ(i.parent_id, "");
    EXPECT_FALSE(i.created_at.empty());
  }
  EXPECT_NE(test::error_of([&] { create_image(a); }).find("already exists"), std::string::npos);
  Image img = Image::open(a, {.create_if_missing = false, .read_only = true});
  save_image_as(img, (d / "copy.a4ps").string());
  Image copy = Image::open((d / "copy.a4ps").string(), {.read_only = true});
  EXPECT_EQ(copy.info().id, img.info().id);  // a backup is the same image
  EXPECT_EQ(copy.setting("model"), "ollama:llama3.2");
  EXPECT_NE(test::error_of([&] { save_image_as(img, (d / "copy.a4ps").string()); }).find("already exists"), std::string::npos);

  ImageInfo f = fork_image(a, (d / "fork.a4ps").string(), "forked");
  EXPECT_EQ(f.name, "forked");
  EXPECT_EQ(f.parent_id, img.info().id);
  EXPECT_NE(f.id, img.info().id);

  CheckResult c = check_image(img);
  EXPECT_TRUE(c.ok);
  EXPECT_TRUE(c.problems.empty());
  EXPECT_EQ(c.events_verified, img.info().events);
}

TEST(ImageFilesApi, ACorruptedImageFailsItsCheck) {
  test::TempDir d;
  std::string a = (d / "a.a4ps").string();
  create_image(a).set_setting("model", "x");
  {
    // Alter a logged event outside A4PS: the hash chain no longer holds.
    std::string bytes = read_file(a);
    auto at = bytes.find("setting.changed");
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at, 7, "SETTING");
    write_file(a, bytes);
  }
  std::string msg;
  try {
    CheckResult c = check_image(Image::open(a, {.read_only = true}));
    EXPECT_FALSE(c.ok);
    ASSERT_FALSE(c.problems.empty());
    msg = c.problems[0];
  } catch (const Error& e) {
    msg = e.what();  // or the open itself refuses it
  }
  EXPECT_FALSE(msg.empty());
}

TEST(ImageFilesApi, DiffExportAndImport) {
  test::TempDir d;
  std::string a = (d / "a.a4ps").string(), b = (d / "b.a4ps").string();
  create_image(a);
  fork_image(a, b);
  EXPECT_TRUE(diff_images(Image::open(a, {.read_only = true}), Image::open(b, {.read_only = true})).empty);
  Image::open(b, {.create_if_missing = false}).set_setting("model", "ollama:qwen");
  ImageDiff df = diff_images(Image::open(a, {.read_only = true}), Image::open(b, {.read_only = true}));
  EXPECT_FALSE(df.empty);
  EXPECT_NE(df.text.find("model"), std::string::npos) << df.text;
  EXPECT_FALSE(json::parse(df.json)["settings"].empty()) << df.json;

  std::string tar = (d / "b.a4ps.tar").string();
  ExportResult ex = export_image(Image::open(b, {.read_only = true}), tar);
  EXPECT_GT(ex.archive_bytes, 0u);
  EXPECT_EQ(ex.image_sha256.size(), 64u);
  EXPECT_TRUE(json::parse(ex.manifest_json).is_object());
  ImportResult im = import_image(tar, (d / "c.a4ps").string());
  EXPECT_EQ(im.base_model, "");
  EXPECT_EQ(Image::open((d / "c.a4ps").string(), {.read_only = true}).setting("model"), "ollama:qwen");
  EXPECT_NE(test::error_of([&] { import_image(tar, (d / "c.a4ps").string()); }).find("exists"), std::string::npos);
  EXPECT_TRUE(import_image(tar, (d / "c.a4ps").string(), true).path.size() > 0);  // overwrite
  // Bad input: not an archive; nothing appears at the destination.
  write_file(d / "junk.tar", "not a tar file");
  EXPECT_NE(test::error_of([&] { import_image((d / "junk.tar").string(), (d / "d.a4ps").string()); }), "");
  EXPECT_FALSE(fs::exists(d / "d.a4ps"));
}

TEST(ImageFilesApi, BuildIsCachedShowsAsAnImagefileAndPrunes) {
  test::TempDir d;
  std::string cache = (d / "cache").string();
  fs::create_directories(d / "src");
  write_file(d / "src" / "notes.md", "Owls hunt at night.\n");
  write_file(d / "src" / "Imagefile", "FROM scratch\nSETTING model ollama:llama3.2\nMEMORY notes.md\n");
  std::vector<std::string> started, finished;
  BuildOptions o{.imagefile = (d / "src" / "Imagefile").string(), .output = (d / "out.a4ps").string(), .tag = "owls",
                 .cache_dir = cache};
  o.on_start = [&](const BuildStep& s) { started.push_back(s.text); };
  o.on_step = [&](const BuildStep& s) { finished.push_back(s.text); };
  BuildResult r = build_image(o);
  ASSERT_EQ(r.steps.size(), 3u);
  EXPECT_EQ(r.cached, 0);
  EXPECT_EQ(started.size(), 3u);
  EXPECT_EQ(finished, started);
  EXPECT_EQ(r.steps[0].text, "FROM scratch");
  Image out = Image::open((d / "out.a4ps").string(), {.read_only = true});
  EXPECT_EQ(out.setting("model"), "ollama:llama3.2");
  EXPECT_EQ(out.info().memories, 1);

  BuildResult again = build_image(o);  // every layer from the cache
  EXPECT_EQ(again.cached, 3);
  EXPECT_EQ(again.layer, r.layer);

  std::string tagged = tagged_image("owls", cache);
  EXPECT_TRUE(fs::exists(tagged));
  std::string f = write_imagefile((d / "out.a4ps").string(), (d / "shown").string());
  std::string text = read_file(f);
  EXPECT_NE(text.find("FROM ollama:llama3.2"), std::string::npos) << text;  // the model setting, as a Modelfile says it
  EXPECT_NE(text.find("MEMORY files/memories/00001.txt source=notes.md"), std::string::npos) << text;

  PruneResult p = prune_build_cache(cache);
  EXPECT_EQ(p.removed, 0);  // the tag reaches every layer
  EXPECT_EQ(p.kept, 3);

  // Bad input: a located, one-line BuildError, and no output.
  write_file(d / "src" / "Bad", "FROM scratch\nSETTING\n");
  try {
    build_image({.imagefile = (d / "src" / "Bad").string(), .output = (d / "bad.a4ps").string(), .cache_dir = cache});
    ADD_FAILURE() << "a bad recipe built";
  } catch (const BuildError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("Bad:2:"), std::string::npos) << m;
    EXPECT_NE(m.find("error:"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(d / "bad.a4ps"));
  EXPECT_NE(test::error_of([&] { build_image({.imagefile = o.imagefile, .cache_dir = cache}); }).find("output file or a tag"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { tagged_image("nosuchtag", cache); }).find("no built image tagged 'nosuchtag'"), std::string::npos);
}

}  // namespace
}  // namespace a4ps
