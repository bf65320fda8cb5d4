// simple: the smallest program that embeds A4PS. It opens (or makes) an image, asks the
// agent one question and prints each persona's turn and the answer.
//
//   simple IMAGE "QUESTION" [MODEL]
//
// MODEL is a GGUF file, ollama:NAME, openai:URL#MODEL or scripted:FILE (a fake for
// tests); without one, the image's model or A4PS_MODEL is used.
#include <cstdio>
#include <string>

#include <a4ps/a4ps.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s IMAGE \"QUESTION\" [MODEL]\n", argv[0]);
    return 2;
  }
  try {
    // 1. The image: everything the agent is, in one file (made on first use).
    a4ps::Image image = a4ps::Image::open(argv[1]);

    // 2. A session: the personas deliberating over it. Each turn is printed once done.
    a4ps::SessionOptions options;
    if (argc > 3) options.model = argv[3];
    options.on_turn = [](const a4ps::Turn& turn) { std::printf("%s\n", a4ps::render_turn(turn).c_str()); };
    a4ps::Session session(image, options);

    // 3. Ask. Every step is a checkpoint in the image under this thread.
    a4ps::Answer answer = session.ask("simple", argv[2]);

    // 4. A self-change (a tool the agent forged, say) waits for a human's yes.
    for (const a4ps::Pending& p : answer.waiting)
      std::printf("waiting for a human: proposal %lld (%s %s)\n", static_cast<long long>(p.id), p.kind.c_str(),
                  p.target.c_str());
    if (answer.status == a4ps::RunStatus::WaitingForHuman) return 3;

    std::printf("answer: %s\n", answer.text.c_str());
    return 0;
  } catch (const a4ps::Error& e) {
    std::fprintf(stderr, "simple: %s\n", e.what());
    return 1;
  }
}
