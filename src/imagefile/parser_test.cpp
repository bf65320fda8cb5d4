// The Imagefile parser: Modelfile syntax as Ollama documents it, the A4PS instructions,
// exact error positions, and values that read back exactly as they were written.
#include "imagefile/parser.h"

#include <gtest/gtest.h>

#include <random>

namespace a4ps::imagefile {
namespace {

TEST(ImagefileParser, ReadsAModelfileInOllamasStyle) {
  auto ins = parse(R"(# A Modelfile as Ollama's documentation writes one
FROM llama3.2
parameter temperature 1
PARAMETER num_ctx 4096
PARAMETER stop "<|start_header_id|>"
PARAMETER stop <|eot_id|>
SYSTEM You are Mario from Super Mario Bros, acting as an assistant.
TEMPLATE """{{ if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>{{ end }}"""
MESSAGE user Is Toronto in Canada?
MESSAGE assistant yes
ADAPTER ./ollama-lora.gguf
LICENSE """
MIT
"""
REQUIRES 0.6.0
)");
  ASSERT_EQ(ins.size(), 12u);
  EXPECT_EQ(ins[0].name, "FROM");
  EXPECT_EQ(ins[0].arg(0).text, "llama3.2");
  EXPECT_EQ(ins[1].name, "PARAMETER");  // names are case-insensitive
  EXPECT_EQ(ins[3].arg(1).text, "<|start_header_id|>");
  EXPECT_TRUE(ins[3].arg(1).quoted);
  EXPECT_EQ(ins[4].arg(1).text, "<|eot_id|>");
  EXPECT_EQ(ins[5].arg(0).text, "You are Mario from Super Mario Bros, acting as an assistant.");
  EXPECT_EQ(ins[6].arg(0).text, "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}");
  EXPECT_EQ(ins[7].arg(0).text, "user");
  EXPECT_EQ(ins[7].arg(1).text, "Is Toronto in Canada?");
  EXPECT_EQ(ins[9].arg(0).text, "./ollama-lora.gguf");
  EXPECT_EQ(ins[10].arg(0).text, "MIT\n");  // the line break after """ is layout, not text
  EXPECT_EQ(ins[11].arg(0).text, "0.6.0");
  EXPECT_EQ(ins[6].pos.line, 8);
  EXPECT_EQ(ins[7].pos.line, 11);
}

TEST(ImagefileParser, ReadsTheA4psInstructionsAndTheirOptions) {
  auto ins = parse(R"(FROM ./base.gguf sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
PERSONA personas/tutor.toml
PERSONA """
name = "X"
role = "r"
system = "s"
"""
TOOL add tools/add.py TESTS tools/test_add.py
tool mul tools/mul.py
CODEX codex.toml
MEMORY "notes dir/*.md"
MEMORY one.md source="my notes"
FINETUNE TUTOR data/tutor.jsonl rank=4 steps=6 lr=0.01 targets=attn_q,attn_v
SETTING model ollama:qwen2.5
LABEL org.opencontainers.image.title "the tutor"
ADAPTER a.gguf scale=0.5 name=style
)");
  ASSERT_EQ(ins.size(), 12u);
  EXPECT_EQ(ins[0].opt("sha256").substr(0, 4), "0123");
  EXPECT_FALSE(ins[1].arg(0).quoted);
  EXPECT_TRUE(ins[2].arg(0).quoted);
  EXPECT_EQ(ins[2].arg(0).text, "name = \"X\"\nrole = \"r\"\nsystem = \"s\"\n");
  EXPECT_EQ(ins[3].args.size(), 4u);
  EXPECT_EQ(ins[4].args.size(), 2u);
  EXPECT_EQ(ins[6].arg(0).text, "notes dir/*.md");
  EXPECT_EQ(ins[7].opt("source"), "my notes");
  EXPECT_EQ(ins[8].opt("rank"), "4");
  EXPECT_EQ(ins[8].opt("targets"), "attn_q,attn_v");
  EXPECT_EQ(ins[10].arg(1).text, "the tutor");
  EXPECT_EQ(ins[11].opt("scale"), "0.5");
}

TEST(ImagefileParser, FromMayComeAnywhereButOnlyOnce) {
  EXPECT_EQ(parse("SYSTEM hi\nFROM scratch\n").size(), 2u);
}

struct Bad {
  const char* text;
  const char* where;  // "Imagefile:L:C: error: "
  const char* says;   // part of the message
};

TEST(ImagefileParser, BadInputIsOneLineWithLineColumnAndWhatWasExpected) {
  const Bad cases[] = {
      {"FROM scratch\nCOPY a b\n", "Imagefile:2:1: error: ", "unknown instruction 'COPY'; expected one of FROM"},
      {"FROM scratch\nSYSTEM \"\"\"never closed\n\n", "Imagefile:2:8: error: ", "unterminated \"\"\" block; expected a closing"},
      {"FROM scratch\nSYSTEM \"open\n", "Imagefile:2:8: error: ", "unterminated \"string\""},
      {"SYSTEM hi\n", "Imagefile:1:1: error: ", "no FROM instruction; expected FROM"},
      {"FROM a\nFROM b\n", "Imagefile:2:1: error: ", "a second FROM (the first is on line 1)"},
      {"FROM https://example.com/m.gguf\n", "Imagefile:1:6: error: ", "needs its checksum; expected FROM https://example.com/m.gguf sha256=HEX"},
      {"FROM x sha256=abc\n", "Imagefile:1:15: error: ", "expected 64 hexadecimal digits"},
      {"FROM scratch\nTOOL add\n", "Imagefile:2:6: error: ", "TOOL is missing a value; expected TOOL NAME FILE.py [TESTS FILE.py]"},
      {"FROM scratch\nTOOL add a.py CHECKS t.py\n", "Imagefile:2:15: error: ", "unexpected 'CHECKS'"},
      {"FROM scratch\nTOOL 2x a.py\n", "Imagefile:2:6: error: ", "not a Python identifier"},
      {"FROM scratch\nFINETUNE T d.jsonl rank=four\n", "Imagefile:2:25: error: ", "rank='four' is not valid; expected a whole number"},
      {"FROM scratch\nFINETUNE T d.jsonl schedule=linear\n", "Imagefile:2:29: error: ", "schedule='linear' is not valid; expected cosine or constant"},
      {"FROM scratch\nFINETUNE T d.jsonl batch=0.5\n", "Imagefile:2:26: error: ", "batch='0.5' is not valid; expected a whole number"},
      {"FROM scratch\nFINETUNE T d.jsonl depth=3\n", "Imagefile:2:20: error: ", "unknown FINETUNE option 'depth'; expected alpha="},
      {"FROM scratch\nMESSAGE robot hello\n", "Imagefile:2:9: error: ", "unknown MESSAGE role 'robot'; expected system, user or assistant"},
      {"FROM scratch\nPARAMETER temperature\n", "Imagefile:2:11: error: ", "PARAMETER is missing a value"},
      {"FROM scratch\nCODEX a.toml b.toml\n", "Imagefile:2:14: error: ", "unexpected 'b.toml'; expected CODEX FILE.toml"},
      {"FROM scratch\nSYSTEM \"a\" \"b\"\n", "Imagefile:2:8: error: ", "SYSTEM takes one value"},
      {"FROM scratch\n  \tPERSONA\n", "Imagefile:2:12: error: ", "PERSONA is missing its value"},
  };
  for (auto& c : cases) {
    std::string msg;
    try {
      parse(c.text);
    } catch (const ParseError& e) {
      msg = e.what();
    }
    EXPECT_EQ(msg.rfind(c.where, 0), 0u) << c.text << " -> " << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << c.text << " -> " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ImagefileParser, ColumnsCountCharactersNotBytes) {
  try {
    parse("FROM scratch\nSYSTEM ünïcode\nMESSAGE ünï \"x");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.pos.line, 3);
    EXPECT_EQ(e.pos.col, 13);
  }
}

TEST(ImagefileParser, CanonicalTextIgnoresLayoutButNotValues) {
  auto a = parse("FROM scratch\n# note\nSYSTEM   hello   world\n"), b = parse("from scratch\n\nsystem hello   world");
  EXPECT_EQ(a[1].canonical(), b[1].canonical());
  EXPECT_NE(a[1].canonical(), parse("FROM scratch\nSYSTEM hello world")[1].canonical());
  EXPECT_NE(parse("FROM scratch\nLABEL a bc")[1].canonical(), parse("FROM scratch\nLABEL ab c")[1].canonical());
}

TEST(ImagefileParser, QuotedValuesReadBackExactly) {
  std::vector<std::string> values = {"plain", "two words", "line\nbreak", "ends with \"", "has \"\"\" inside\n",
                                     "\nleading newline", "", "back\\slash", "tab\there", "k=v", "# not a comment"};
  std::mt19937 rng(7);
  const std::string alphabet = "ab \n\t\"\\=#é";
  for (int i = 0; i < 300; ++i) {
    std::string v;
    for (int n = rng() % 12; n > 0; --n) v += alphabet[rng() % alphabet.size()];
    values.push_back(v);
  }
  for (auto& v : values) {
    auto ins = parse("FROM scratch\nSETTING k " + quote(v) + "\nMEMORY f source=" + quote_option(v.empty() ? "x" : v) + "\n");
    EXPECT_EQ(ins[1].arg(1).text, v) << quote(v);
    EXPECT_EQ(ins[2].opt("source"), v.empty() ? "x" : v) << quote_option(v);
  }
}

}  // namespace
}  // namespace a4ps::imagefile
