// Writes objects, memories and events into an image as fast as it can and prints
// "committed <key>" only after each transaction commits. The crash test kills it.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "image/image.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: image_crash_child IMAGE RUN full|normal\n");
    return 2;
  }
  using namespace a4ps::image;
  Image img = Image::open(argv[1], {.sync = std::string(argv[3]) == "normal" ? Sync::Normal : Sync::Full});
  const std::string run = argv[2];
  for (int i = 0;; ++i) {
    std::string key = run + "_" + std::to_string(i);
    {
      Image::Tx tx(img);  // an object, a memory and an extra event, atomically
      img.put(Kind::Tool, "t" + key, "def f():\n    return " + std::to_string(i) + "\n");
      img.add_memory("memory " + key, "crash-test");
      img.append_event("test.step", "child", {{"key", key}});
      tx.commit();
    }
    std::printf("committed %s\n", key.c_str());
    std::fflush(stdout);
  }
}
