// The builder as a library: what a layer's hash sees (and what it does not), a failed step
// leaving nothing half-written, and write_imagefile reading back exactly through awkward
// values.
#include "imagefile/build.h"

#include <gtest/gtest.h>

#include <fstream>

#include "image/diff.h"
#include "image/image.h"
#include "memory/memory.h"
#include "testutil.h"
#include "vars_env.h"

namespace a4ps::imagefile {
namespace {

using test::TempDir;

std::vector<std::string> memory_sources_of(const fs::path& img) {
  std::vector<std::string> out;
  auto im = image::Image::open(img, {.read_only = true});
  for (auto& s : memory::sources(im)) out.push_back(s.source);
  return out;
}

struct Fixture {
  TempDir d;
  fs::path cache = d / "cache";
  BuildResult build(const std::string& recipe, const std::string& out = "out.a4ps") {
    std::ofstream(d / "Imagefile", std::ios::trunc) << recipe;
    return imagefile::build({.imagefile = d / "Imagefile", .output = d / out, .cache_dir = cache, .reviewer = "tester"});
  }
  static std::vector<bool> cached(const BuildResult& r) {
    std::vector<bool> out;
    for (auto& s : r.steps) out.push_back(s.cached);
    return out;
  }
};

// The layer cache's place comes from the Env the build is given.
TEST(ImagefileBuild, TheCacheDirectoryIsReadThroughTheEnv) {
  test::VarsEnv cache({{"A4PS_CACHE", "/srv/a4ps-cache"}, {"HOME", "/home/x"}});
  EXPECT_EQ(cache_dir(&cache), fs::path("/srv/a4ps-cache/build"));
  test::VarsEnv home({{"HOME", "/home/x"}});
  EXPECT_EQ(cache_dir(&home), fs::path("/home/x/.cache/a4ps/build"));
  test::VarsEnv none({});
  EXPECT_EQ(cache_dir(&none), fs::path("/tmp/.cache/a4ps/build"));
}

TEST(ImagefileBuild, LayersIgnoreLayoutButSeeInstructionsAndFileContents) {
  Fixture f;
  std::ofstream(f.d / "a.md") << "The owl hunts at night.\n";
  auto first = f.build("FROM scratch\nMEMORY a.md\nLABEL x y\n");
  EXPECT_EQ(Fixture::cached(first), (std::vector<bool>{false, false, false}));
  // Comments, blank lines, spacing and instruction case change nothing.
  auto same = f.build("# the same recipe\nfrom   scratch\n\nmemory   a.md\nLABEL x y\n");
  EXPECT_EQ(Fixture::cached(same), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(same.layer, first.layer);
  // A changed value rebuilds that layer and those after it.
  EXPECT_EQ(Fixture::cached(f.build("FROM scratch\nMEMORY a.md\nLABEL x z\n")), (std::vector<bool>{true, true, false}));
  // So does a changed file, even under the same name.
  std::ofstream(f.d / "a.md", std::ios::app) << "It sleeps by day.\n";
  auto changed = f.build("FROM scratch\nMEMORY a.md\nLABEL x y\n");
  EXPECT_EQ(Fixture::cached(changed), (std::vector<bool>{true, false, false}));
  EXPECT_NE(changed.layer, first.layer);
  auto img = image::Image::open(f.d / "out.a4ps", {.read_only = true});
  EXPECT_EQ(img.info().counts.memories, 1);
  EXPECT_EQ(img.setting("label.x"), "y");
  EXPECT_TRUE(img.check().ok);
}

TEST(ImagefileBuild, AFailedStepLeavesNoFileAndTheLayersBeforeItStayUsable) {
  Fixture f;
  std::string err;
  try {
    f.build("FROM scratch\nLABEL a b\nPERSONA \"\"\"\nname = \"X\"\n\"\"\"\n");
  } catch (const ParseError& e) {
    err = e.what();
    EXPECT_EQ(e.pos.line, 3);
  }
  EXPECT_NE(err.find("Imagefile:3:1: error: PERSONA failed: the proposed persona: a persona needs 'role'"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(f.d / "out.a4ps"));
  int layers = 0;
  for (auto& e : fs::directory_iterator(f.cache / "layers")) {
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
    layers += e.path().extension() == ".a4ps";
  }
  EXPECT_EQ(layers, 2);
  auto fixed = f.build("FROM scratch\nLABEL a b\nPERSONA \"\"\"\nname = \"X\"\nrole = \"r\"\nsystem = \"s\"\n\"\"\"\n");
  EXPECT_EQ(Fixture::cached(fixed), (std::vector<bool>{true, true, false}));
  // The persona is a proposal the builder approved, in the image's own log.
  auto img = image::Image::open(f.d / "out.a4ps", {.read_only = true});
  auto ps = img.proposals();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].reviewer, "tester");
  EXPECT_EQ(ps[0].reason, "built from Imagefile " + fixed.imagefile_sha256);
}

TEST(ImagefileBuild, MemoryTakesAFolderOrAGlobAndFromTakesAnotherImage) {
  Fixture f;
  fs::create_directories(f.d / "notes" / "deep");
  std::ofstream(f.d / "notes" / "a.md") << "alpha\n";
  std::ofstream(f.d / "notes" / "b.txt") << "beta\n";
  std::ofstream(f.d / "notes" / "deep" / "c.md") << "gamma\n";
  std::ofstream(f.d / "notes" / ".hidden") << "not me\n";
  f.build("FROM scratch\nMEMORY notes/*.md\n", "glob.a4ps");
  f.build("FROM scratch\nMEMORY notes\n", "dir.a4ps");
  auto sources = [&](const std::string& img) {
    std::vector<std::string> out;
    for (auto& s : memory_sources_of(f.d / img)) out.push_back(s);
    return out;
  };
  EXPECT_EQ(sources("glob.a4ps"), (std::vector<std::string>{"notes/a.md"}));
  EXPECT_EQ(sources("dir.a4ps"), (std::vector<std::string>{"notes/a.md", "notes/b.txt", "notes/deep/c.md"}));
  std::string err;
  try {
    f.build("FROM scratch\nMEMORY notes/*.pdf\n", "none.a4ps");
  } catch (const ParseError& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("Imagefile:2:8: error: no file matches 'notes/*.pdf'"), std::string::npos) << err;
  // FROM an image file: the new image starts as a copy of it.
  f.build("FROM dir.a4ps\nLABEL on top\n", "child.a4ps");
  EXPECT_EQ(sources("child.a4ps").size(), 3u);
  EXPECT_EQ(image::Image::open(f.d / "child.a4ps", {.read_only = true}).setting("label.on"), "top");
  // A change to that image (here while it is open, so still in its WAL) rebuilds from FROM.
  {
    auto parent = image::Image::open(f.d / "dir.a4ps");
    parent.set_setting("mood", "curious");
    auto again = f.build("FROM dir.a4ps\nLABEL on top\n", "child2.a4ps");
    EXPECT_EQ(Fixture::cached(again), (std::vector<bool>{false, false}));
    EXPECT_EQ(image::Image::open(f.d / "child2.a4ps", {.read_only = true}).setting("mood"), "curious");
  }
  EXPECT_EQ(Fixture::cached(f.build("FROM dir.a4ps\nLABEL on top\n", "child3.a4ps")), (std::vector<bool>{true, true}));
  // SETTING may not write what an instruction of its own owns.
  try {
    f.build("FROM scratch\nSETTING system hi\n", "bad.a4ps");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("Imagefile:2:9: error: setting 'system' belongs to its own instruction; expected SYSTEM"),
              std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(f.d / "bad.a4ps"));
}

TEST(ImagefileBuild, PruneWaitsForNoBuildAndKeepsWhatTagsReach) {
  Fixture f;
  std::ofstream(f.d / "Imagefile") << "FROM scratch\nLABEL a b\n";
  build({.imagefile = f.d / "Imagefile", .tag = "t", .cache_dir = f.cache});
  f.build("FROM scratch\nLABEL a c\n");  // an untagged layer
  // While a build is running (here: paused at its first step), prune refuses.
  std::string during;
  std::ofstream(f.d / "Other") << "FROM scratch\nLABEL x y\n";
  build({.imagefile = f.d / "Other", .output = f.d / "o.a4ps", .cache_dir = f.cache, .on_start = [&](const Step& s) {
           if (s.index == 1) during = test::error_of([&] { prune(f.cache); });
         }});
  EXPECT_NE(during.find("a build is using the cache"), std::string::npos) << during;
  auto r = prune(f.cache);
  EXPECT_EQ(r.removed, 2);  // LABEL a c, LABEL x y
  EXPECT_EQ(r.kept, 2);
  EXPECT_TRUE(fs::exists(tag_path("t", f.cache)));
}

TEST(ImagefileBuild, FromANameThatIsNoFileIsAnOllamaModelAsInOllama) {
  Fixture f;
  for (std::string name : {"llama3.2", "llama3.2:1b", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "ollama:qwen2.5"}) {
    f.build("FROM " + name + "\n", "o.a4ps");
    EXPECT_EQ(image::Image::open(f.d / "o.a4ps", {.read_only = true}).setting("model"),
              name.rfind("ollama:", 0) == 0 ? name : "ollama:" + name);
  }
  for (std::string path : {"./m.gguf", "models/m.gguf", "/nowhere/m", "img.a4ps"}) {
    try {
      f.build("FROM " + path + "\n", "p.a4ps");
      ADD_FAILURE() << path;
    } catch (const ParseError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + path + "' does not exist"), std::string::npos) << e.what();
    }
  }
}

TEST(ImagefileBuild, WriteImagefileReadsBackAwkwardValuesExactly) {
  Fixture f;
  std::ofstream(f.d / "notes.md") << "one\n\n" << std::string(3000, 'x') << "\n\ntwo\n";  // several chunks
  f.build("FROM ollama:some-model\n"
          "SYSTEM \"ends with a quote \\\"\"\n"
          "TEMPLATE \"has \\\"\\\"\\\" inside\\nand lines\"\n"
          "PARAMETER stop \"<|a|>\"\nPARAMETER stop \"b c\"\nPARAMETER temperature 0.70\nPARAMETER mirostat true\n"
          "MESSAGE user \"\"\"\n  indented\n\"\"\"\n"
          "LICENSE one\nLICENSE \"\"\"\ntwo\n\"\"\"\n"
          "MEMORY notes.md source=\"my notes\"\n"
          "SETTING colour \"=red\"\nLABEL \"k.1\" \"#1\"\n");
  fs::path recipe = write_imagefile(image::Image::open(f.d / "out.a4ps", {.read_only = true}), f.d / "shown");
  imagefile::build({.imagefile = recipe, .output = f.d / "back.a4ps", .cache_dir = f.cache});
  auto a = image::Image::open(f.d / "out.a4ps", {.read_only = true}), b = image::Image::open(f.d / "back.a4ps", {.read_only = true});
  auto r = image::diff(a, b);
  EXPECT_TRUE(r.empty()) << r.to_text() << read_file(recipe);
  EXPECT_GE(a.info().counts.memories, 3);
  EXPECT_EQ(b.setting("model"), "ollama:some-model");
  EXPECT_EQ(b.setting("system"), "ends with a quote \"");
  EXPECT_EQ(nlohmann::json::parse(b.setting("parameters"))["mirostat"], true);
}

}  // namespace
}  // namespace a4ps::imagefile
