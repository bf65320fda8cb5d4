// The other pages: tools, memory, learning, codex, the image, goals.
import { enc, get, post } from "./api.js";
import { action, diffView, h, lineChart, mount, toast, when } from "./dom.js";

const table = (head, rows) => h("table", {}, h("tr", {}, head.map(t => h("th", { text: t }))), rows);
const proposed = id => toast(`proposal #${id} filed: decide it in the inbox`);

export async function tools(main) {
  const all = await get("/console/api/tools");
  const byName = new Map();
  for (const t of all) (byName.get(t.name) || byName.set(t.name, []).get(t.name)).push(t);
  const view = h("div", { id: "tool-view" });
  async function show(name, v) {
    const versions = byName.get(name);
    const t = versions.find(x => x.version === v);
    const prev = versions.filter(x => x.version < v && !x.removed).pop();
    const diff = prev ? (await get(`/console/api/tools/${enc(name)}/diff?a=${prev.version}&b=${v}`)).diff : "";
    const newest = versions[versions.length - 1].version;
    view.replaceChildren(h("section", { class: "card" },
      h("h2", { text: `${name} v${v}${t.removed ? " (removed)" : ""}` }),
      h("p", { class: "muted", text: `landed ${when(t.created_at)}` }),
      h("pre", { class: "source", text: t.source }),
      prev ? [h("h3", { text: `Diff from v${prev.version}` }), diffView(diff)] : "",
      v !== newest && !t.removed ? h("p", {}, action(`Propose rolling back to v${v}`, async () => {
        proposed((await post(`/console/api/tools/${enc(name)}/rollback`, { to_version: v })).proposal);
        dispatchEvent(new Event("a4ps:changed"));
      })) : ""));
  }
  mount(main, h("h1", { text: "Tools", tabindex: "-1" }),
    byName.size ? table(["tool", "versions"], [...byName].map(([name, vs]) => h("tr", {}, h("td", { text: name }),
      h("td", {}, vs.map(t => [action(`v${t.version}${t.removed ? " (removed)" : ""}`, () => show(name, t.version)), " "])))))
      : h("p", { class: "muted", text: "No tools yet: the agent forges them when its code calls a function nobody wrote." }),
    view);
}

export async function memory(main) {
  const q = h("input", { type: "search", id: "memory-query", "aria-label": "Search memory" });
  const hits = h("div", { id: "memory-hits" });
  const sources = h("div");
  async function load() {
    const m = await get(`/console/api/memory${q.value ? "?q=" + enc(q.value) : ""}`);
    sources.replaceChildren(m.sources.length ? table(["source", "passages", "bytes", "embedded", "added"],
      m.sources.map(s => h("tr", {}, h("td", { text: s.source }), h("td", { text: s.chunks }), h("td", { text: s.bytes }),
        h("td", { text: s.embedded }), h("td", { text: when(s.added_at) })))) : h("p", { class: "muted", text: "Nothing remembered yet." }));
    hits.replaceChildren(...(m.hits || []).map(x => h("div", { class: "card" }, h("strong", { text: x.source }), " ",
      h("span", { class: "muted", text: x.score.toFixed(3) }), h("div", { class: "text", text: x.text }))));
    if (m.hits && !m.hits.length) hits.append(h("p", { class: "muted", text: "No memory matches." }));
  }
  const form = h("form", {});
  form.addEventListener("submit", e => (e.preventDefault(), load().catch(err => toast(err.message))));
  form.append(q, " ", h("button", { type: "submit", text: "Search" }));
  const src = h("input", { id: "memory-source", placeholder: "e.g. notes.md" });
  const text = h("textarea", { id: "memory-text" });
  const file = h("input", { type: "file", id: "memory-file", accept: ".txt,.md,text/*" });
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    text.value = await f.text();
    if (!src.value) src.value = f.name;
  });
  mount(main, h("h1", { text: "Memory", tabindex: "-1" }), form, hits,
    h("section", { class: "card" }, h("h2", { text: "Remember" }),
      h("label", { for: "memory-source", text: "Source" }), src,
      h("label", { for: "memory-text", text: "Text" }), text,
      h("label", { for: "memory-file", text: "…or a text file" }), file,
      h("p", {}, action("Add", async () => {
        const r = await post("/console/api/memory", { source: src.value, text: text.value });
        toast(`remembered in ${r.chunks} passage(s)`);
        text.value = "";
        await load();
      }, { class: "primary", id: "memory-add" }))),
    h("h2", { text: "Sources" }), sources);
  await load();
}

export async function learning(main) {
  const l = await get("/console/api/learning");
  const golden = new Map(l.golden.map(g => [g.persona, g.examples]));
  mount(main, h("h1", { text: "Learning", tabindex: "-1" }),
    h("h2", { text: "Personas and golden sets" }),
    table(["persona", "role", "golden examples", "adapter"], l.personas.map(p => h("tr", {}, h("td", { text: p.name }),
      h("td", { text: p.role }), h("td", { text: golden.get(p.name) || 0 }),
      h("td", {}, action("Propose rollback", async () => proposed((await post("/console/api/learning/rollback", { persona: p.name })).proposal)))))),
    h("h2", { text: "Training runs" }),
    l.runs.length ? l.runs.map(r => {
      const curve = r.losses?.length ? r.losses : [r.train_loss_first, r.train_loss_last];
      return h("section", { class: "card" }, h("h3", { text: `${r.persona}: ${r.sha256.slice(0, 12)}` }),
        h("p", { text: `training loss ${r.train_loss_first.toFixed(3)} → ${r.train_loss_last.toFixed(3)}` }),
        lineChart(curve.filter(Number.isFinite), { label: `loss curve of ${r.sha256.slice(0, 12)}` }),
        h("p", {}, action("Propose activating", async () => proposed((await post("/console/api/learning/activate", { persona: r.persona, run: r.sha256 })).proposal))));
    }) : h("p", { class: "muted", text: "No training runs yet (a4ps learn train)." }),
    h("h2", { text: "Adapters" }),
    l.adapters.length ? table(["proposal", "adapter", "status"], l.adapters.map(a => h("tr", {},
      h("td", {}, h("a", { href: `#/inbox/${a.proposal}`, text: `#${a.proposal}` })), h("td", { text: a.target }), h("td", { text: a.status }))))
      : h("p", { class: "muted", text: "No adapter proposed yet." }));
}

export async function codex(main) {
  const c = await get("/console/api/codex");
  mount(main, h("h1", { text: "Codex", tabindex: "-1" }),
    h("h2", { text: "Principles" }),
    h("dl", {}, c.principles.map(p => [h("dt", { text: p.name }), h("dd", { text: p.text })])),
    h("h2", { text: "Rules" }),
    table(["rule", "check", "message", ""], c.rules.map(r => h("tr", {}, h("td", { text: r.name }), h("td", {}, h("code", { text: r.check })),
      h("td", { text: r.message }), h("td", { text: r.builtin ? "built in" : "" })))),
    h("h2", { text: "Violations" }),
    c.violations.length ? table(["#", "when", "event", "actor", "why"], c.violations.slice().reverse().map(v => h("tr", {},
      h("td", { text: v.seq }), h("td", { text: when(v.ts) }), h("td", { text: v.event }), h("td", { text: v.actor }), h("td", { text: v.why }))))
      : h("p", { class: "muted", text: "The codex has refused nothing." }),
    h("details", {}, h("summary", { text: "The document" }), h("pre", { text: c.toml })));
}

export async function image(main) {
  const i = await get("/console/api/image");
  const result = h("div", { id: "check-result" });
  const log = h("tbody", { id: "event-log" });
  const more = h("p");
  async function page(before) {
    const evs = await get(`/console/api/image/events?limit=100${before ? "&before=" + before : ""}`);
    for (const e of evs) log.append(h("tr", {}, h("td", { text: e.seq }), h("td", { text: when(e.ts) }), h("td", { text: e.kind }),
      h("td", { text: e.actor }), h("td", {}, h("details", {}, h("summary", { text: "payload" }), h("pre", { text: JSON.stringify(e.payload, null, 2) })))));
    const last = evs[evs.length - 1];
    more.replaceChildren(last && last.seq > 1 ? action("Older", () => page(last.seq)) : "");
  }
  const keys = ["name", "path", "id", "created_at", "parent_id", "base_model", "schema_version", "file_bytes", "personas", "tools",
                "memories", "threads", "checkpoints", "proposals", "proposals_pending", "adapters", "events", "head_seq", "head_hash"];
  mount(main, h("h1", { text: "Image", tabindex: "-1" }),
    table(["", ""], keys.map(k => h("tr", {}, h("th", { text: k }), h("td", { text: String(i[k] ?? "") })))),
    h("p", {}, action("Check the image", async () => {
      const c = await post("/console/api/image/check", {});
      result.replaceChildren(h("p", { class: c.ok ? "ok" : "bad", text: c.ok ? `ok: ${c.events_verified} events chained, ${c.blobs_verified} blobs verified` : "problems:" }),
        c.problems.length ? h("ul", {}, c.problems.map(p => h("li", { text: p }))) : "");
    }, { id: "check" })), result,
    h("h2", { text: "Event log" }), h("table", {}, h("tr", {}, ["#", "when", "kind", "actor", ""].map(t => h("th", { text: t }))), log), more);
  await page(0);
}

// Goals: what the agent set itself in live mode (a4ps live, a4ps serve --live).
export async function goals(main) {
  const g = await get("/console/api/goals");
  const detail = h("div", { id: "goal-view" });
  const pct = x => `${Math.round(100 * x)}%`;
  async function show(id) {
    const d = await get(`/console/api/goals/${id}`);
    detail.replaceChildren(h("section", { class: "card" },
      h("h2", { text: `Goal #${d.id}: ${d.title || d.task}` }),
      h("p", { class: "muted", text: `${d.family} · ${d.status}${d.veto ? " — vetoed: " + d.veto : ""} · from ${d.source}` }),
      h("h3", { text: "Its test (run in the sandbox)" }), h("pre", { class: "source", text: d.test }),
      d.thread ? h("p", {}, "Attempts run on thread ", h("a", { href: `#/threads/${enc(d.thread)}`, text: d.thread })) : "",
      d.attempts.length ? table(["attempt", "status", "passed", "learning progress", "grace", "justice", "codex", "reward"],
        d.attempts.map(a => h("tr", {}, h("td", { text: `#${a.id} ${when(a.started_at)}` }), h("td", { text: a.status }),
          h("td", { text: a.passed ? "yes" : "no" }), ...[a.lp, a.grace, a.justice, a.codex, a.reward].map(x => h("td", { text: x.toFixed(2) })))))
        : h("p", { class: "muted", text: "Not attempted yet." }),
      d.decisions.length ? [h("h3", { text: "Decisions" }), h("ul", {}, d.decisions.map(x => h("li", { text: `${when(x.ts)} ${x.kind}: ${x.reason}` })))] : ""));
  }
  const toggle = (label, target, pause) => action(label, async () => {
    const r = await post(`/console/api/goals/${pause ? "pause" : "resume"}`, { target });
    toast(`${r.changed} goal(s) ${pause ? "paused" : "resumed"}`);
    await goals(main);
  });
  const b = g.budget, u = g.usage;
  const attempted = g.families.some(f => f.attempts > 0);
  mount(main, h("h1", { text: "Goals", tabindex: "-1" }),
    h("p", { class: "muted", id: "live-budget", text: `Today (${u.day}): ${Math.round(u.wall_s)} of ${Math.round(b.wall_s_per_day)} s, ` +
      `${u.tokens} of ${b.tokens_per_day} tokens, ${Math.round(u.sandbox_s)} of ${Math.round(b.sandbox_s_per_day)} s in the sandbox, ` +
      `${u.forges} of ${b.forges_per_day} forges.` }),
    h("h2", { text: "Families" }),
    g.families.length ? table(["family", "goals (open)", "attempts", "passed", "fast", "slow", "learning progress", ""],
      g.families.map(f => h("tr", {}, h("td", { text: f.family + (f.paused ? " (paused)" : "") }), h("td", { text: `${f.goals} (${f.open})` }),
        h("td", { text: f.attempts }), h("td", { text: f.successes }), h("td", { text: pct(f.fast) }), h("td", { text: pct(f.slow) }),
        h("td", { text: f.lp.toFixed(3) }), h("td", {}, toggle(f.paused ? "Resume" : "Pause", f.family, !f.paused)))))
      : h("p", { class: "muted", id: "goals-none", text: "No goals yet: run a4ps live, or a4ps serve --live, and the agent sets its own." }),
    attempted ? [h("h2", { text: "Competence" }), h("img", { id: "competence", src: "/console/api/goals/competence.svg", alt: "success rate per family over attempts" })] : "",
    g.goals.length ? [h("h2", { text: "Goals" }), table(["#", "goal", "family", "status", "attempts", "passed", ""],
      g.goals.map(x => h("tr", {}, h("td", { text: x.id }), h("td", {}, action(x.title || x.task, () => show(x.id))),
        h("td", { text: x.family }), h("td", { text: x.status + (x.veto ? ` — ${x.veto}` : "") }), h("td", { text: x.attempts }),
        h("td", { text: x.successes }), h("td", {}, x.status === "paused" ? toggle("Resume", String(x.id), false)
          : x.status === "open" ? toggle("Pause", String(x.id), true) : "")))), detail] : "",
    g.decisions.length ? [h("h2", { text: "Latest decisions" }), h("ul", { id: "live-decisions" },
      g.decisions.slice().reverse().map(x => h("li", { text: `${when(x.ts)} ${x.kind}${x.family ? " [" + x.family + "]" : ""}: ${x.reason}` })))] : "");
}
