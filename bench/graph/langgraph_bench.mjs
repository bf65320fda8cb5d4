// LangGraph.js peer for the A4PS state-graph benchmark.
// Usage: node bench/graph/langgraph_bench.mjs [--steps N]
// The last stdout line is a single JSON object for the C++ driver.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Annotation, StateGraph, START, END } from "@langchain/langgraph";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";

const argIdx = process.argv.indexOf("--steps");
const STEPS = argIdx > 0 ? Number(process.argv[argIdx + 1]) : 10000;
if (!Number.isInteger(STEPS) || STEPS <= 0) throw new Error("--steps must be a positive integer");
const DURABILITY = "sync"; // write each checkpoint before the next superstep starts
const SYNC_NAMES = ["off", "normal", "full", "extra"];
const pkgVersion = (name) =>
  JSON.parse(fs.readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;

const replace = (init) => Annotation({ reducer: (_old, next) => next, default: () => init });
const State = Annotation.Root({ i: replace(0), acc: replace(1) });

function buildGraph(limit, counter) {
  return new StateGraph(State)
    .addNode("inc", (s) => (counter.n++, { i: s.i + 1 }))
    .addNode("mix", (s) => (counter.n++, { acc: (s.acc * 31 + s.i) % 1000003 }))
    .addNode("check", () => (counter.n++, {}))
    .addEdge(START, "inc")
    .addEdge("inc", "mix")
    .addEdge("mix", "check")
    .addConditionalEdges("check", (s) => (s.i * 3 >= limit ? END : "inc"), ["inc", END]);
}

async function run(dir, limit, label) {
  const saver = SqliteSaver.fromConnString(path.join(dir, `${label}.sqlite`));
  const counter = { n: 0 };
  const app = buildGraph(limit, counter).compile({ checkpointer: saver });
  const config = {
    configurable: { thread_id: label },
    recursionLimit: limit + 100,
    durability: DURABILITY,
  };
  const t0 = process.hrtime.bigint();
  const out = await app.invoke({}, config);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const db = saver.db; // better-sqlite3 handle owned by the saver
  const last = await saver.getTuple({ configurable: { thread_id: label } });
  const res = {
    steps: counter.n, // node executions
    supersteps: last.metadata.step + 1, // LangGraph steps 0..n; step 0 is the __start__ input step
    checkpoints: db.prepare("SELECT COUNT(*) AS n FROM checkpoints").get().n,
    writes: db.prepare("SELECT COUNT(*) AS n FROM writes").get().n,
    seconds,
    journal_mode: db.pragma("journal_mode", { simple: true }),
    synchronous: SYNC_NAMES[db.pragma("synchronous", { simple: true })],
    final_state: out,
  };
  db.close();
  return res;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "a4ps-langgraph-"));
try {
  await run(dir, 200, "warmup"); // not timed; JIT + module warm-up on a separate file
  const r = await run(dir, STEPS, "bench");
  console.error(`final state: ${JSON.stringify(r.final_state)}`);
  console.log(JSON.stringify({
    peer: "langgraph.js",
    version: pkgVersion("@langchain/langgraph"),
    checkpoint_sqlite_version: pkgVersion("@langchain/langgraph-checkpoint-sqlite"),
    node: process.version,
    durability: DURABILITY,
    steps: r.steps,
    supersteps: r.supersteps,
    checkpoints: r.checkpoints,
    checkpoints_per_step: +(r.checkpoints / r.steps).toFixed(4),
    write_rows: r.writes,
    seconds: +r.seconds.toFixed(4),
    steps_per_s: +(r.steps / r.seconds).toFixed(1),
    journal_mode: r.journal_mode,
    synchronous: r.synchronous,
  }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
