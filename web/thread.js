// One thread: its transcript live over Server-Sent Events, its checkpoints as a graph to
// travel in (inspect a state, fork from it, resume), and a box to ask it more.
//
// No gaps, no duplicates: the page starts from the thread's state at one checkpoint (whose
// id is the number of its event) and then follows the stream after exactly that event;
// after a reconnect the browser sends the last event id it saw and the server replays the rest.
import { enc, get, post } from "./api.js";
import { action, h, mount, s, toast, when } from "./dom.js";

const KNOWN = ["alfred", "brick", "robin", "babs"];
const personaClass = p => (KNOWN.includes(String(p).toLowerCase()) ? `p-${String(p).toLowerCase()}` : "p-other");

function turnView(thread, t, index) {
  const el = h("article", { class: `turn ${personaClass(t.persona)}`, "data-index": index },
    h("div", {}, h("span", { class: "who", text: t.persona }), " ", h("span", { class: "muted", text: t.kind })));
  if (t.route) el.append(h("div", { class: "muted", text: `→ ${t.route.next}: ${t.route.brief || ""}` }));
  if (t.critique) el.append(h("div", { class: "muted", text: `${t.critique.verdict}: ${t.critique.reasons || ""}` }));
  if (t.content && !t.route && !t.critique) el.append(h("div", { class: "text", text: t.content }));
  if (t.result) {
    const r = t.result;
    const out = [r.stdout, r.value && r.value !== "None" ? `= ${r.value}` : "", r.error ? `${r.error_type}: ${r.error}` : ""].filter(Boolean).join("\n");
    el.append(h("details", { class: "sandbox" }, h("summary", { class: r.ok ? "ok" : "bad", text: r.ok ? "sandbox: ran" : "sandbox: failed" }),
      h("pre", { text: out || "(no output)" })));
  }
  if (t.forged) el.append(h("div", { class: "muted", text: `forged ${t.forged.tool || t.forged.name || ""}${t.forged.proposal ? `, proposal #${t.forged.proposal}` : ""}` }));
  const prompt = h("div");
  el.append(h("p", {}, action("Prompt", async () => {
    if (prompt.firstChild) return prompt.replaceChildren();
    const all = await get(`/console/api/threads/${enc(thread)}/transcript?prompts=true`);
    const p = all[index]?.prompt;
    prompt.replaceChildren(h("pre", { class: "prompt", text: Array.isArray(p) ? p.map(m => `[${m.role}]\n${m.content}`).join("\n\n") : "(no prompt recorded)" }));
  }, { class: "show-prompt small", "aria-label": `Show the prompt ${t.persona} saw` })), prompt);
  return el;
}

// The checkpoints as a graph: the line to the newest along the top, other branches below.
function timeline(history, selected, onSelect) {
  const byId = new Map(history.map(c => [c.checkpoint_id, c]));
  const ordered = [...history].sort((a, b) => a.checkpoint_id.localeCompare(b.checkpoint_id));
  const main = new Set();
  for (let c = history[0]; c; c = byId.get(c.parent_checkpoint_id)) main.add(c.checkpoint_id);
  const lanes = new Map();
  let nextLane = 1;
  const pos = new Map();
  ordered.forEach((c, i) => {
    let lane = 0;
    if (!main.has(c.checkpoint_id)) {
      const parent = pos.get(c.parent_checkpoint_id);
      lane = parent && parent.lane > 0 && !lanes.get(c.parent_checkpoint_id) ? parent.lane : nextLane++;
      if (parent) lanes.set(c.parent_checkpoint_id, true);
    }
    pos.set(c.checkpoint_id, { x: 20 + i * 34, y: 20 + lane * 34, lane });
  });
  const width = 40 + ordered.length * 34, height = 40 + (nextLane - 1) * 34 + 20;
  const svg = s("svg", { class: "timeline", width, height, role: "group", "aria-label": "Checkpoints" });
  for (const c of ordered) {
    const a = pos.get(c.parent_checkpoint_id), b = pos.get(c.checkpoint_id);
    if (a) svg.append(s("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y }));
  }
  for (const c of ordered) {
    const p = pos.get(c.checkpoint_id);
    const label = `step ${c.step} ${c.source}${c.node ? " " + c.node : ""}`;
    const dot = s("circle", { cx: p.x, cy: p.y, r: 8, tabindex: 0, role: "button", "aria-label": label,
                              "data-checkpoint": c.checkpoint_id, class: c.checkpoint_id === selected ? "selected" : null },
      s("title", { text: `${label} ${when(c.created_at)}` }));
    dot.addEventListener("click", () => onSelect(c));
    dot.addEventListener("keydown", e => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), onSelect(c)));
    svg.append(dot, s("text", { x: p.x - 4, y: p.y + 22, text: c.step }));
  }
  return svg;
}

export async function page(main, id) {
  const detail = await get(`/threads/${enc(id)}`);
  const transcript = h("div", { id: "transcript", "aria-live": "polite" });
  const status = h("span", { class: "status", id: "thread-status" });
  const answer = h("div", { id: "answer" });
  const timelineBox = h("div", { id: "timeline" });
  const inspect = h("div", { id: "checkpoint" });
  const resume = action("Resume", async () => {
    await post(`/threads/${enc(id)}/runs`, { command: { resume: true } });
    later(0);
  }, { id: "resume" });
  let turns = 0;
  let source = null;

  const showStatus = t => {
    status.textContent = t.busy ? "running" : t.status;
    status.dataset.status = status.textContent;
    // A thread can go on when it waits, failed, or was forked from the middle of a run.
    resume.hidden = t.busy || !(t.status === "interrupted" || t.status === "error" || (t.status === "idle" && t.next?.length));
    const a = t.values?.answer;
    answer.replaceChildren(a && !t.busy && t.status === "done" ? h("div", { class: "card" }, h("strong", { text: "Answer: " }), h("span", { class: "text", text: a })) : "");
    const w = t.waiting_for || [];
    if (t.status === "interrupted" && w.length)
      answer.append(h("p", {}, "Waits for you: ", w.map(p => h("a", { href: `#/inbox/${p}`, text: `proposal #${p} ` }))));
  };
  const add = t => transcript.append(turnView(id, t, turns++));
  for (const t of detail.values?.transcript || []) add(t);
  showStatus(detail);

  // The thread's status and checkpoints, again after each burst of events and, while a
  // run holds the thread, until it lets go (its last step lands just before it ends).
  let alive = true, timer = null;
  async function refresh() {
    const t = await get(`/threads/${enc(id)}`);
    if (!alive) return;
    showStatus(t);
    if (t.busy) later(500);
    // A thread made a moment ago has no checkpoint yet: the server knows no history for it.
    drawTimeline(t.checkpoints ? await get(`/threads/${enc(id)}/history?values=false&limit=1000`) : []);
  }
  function later(ms = 150) {
    clearTimeout(timer);
    timer = setTimeout(() => alive && refresh().catch(err => toast(err.message)), ms);
  }
  let selected = "";
  function drawTimeline(history) {
    timelineBox.replaceChildren(history.length ? timeline(history, selected, select) : h("p", { class: "muted", text: "No checkpoints yet." }));
  }
  async function select(c) {
    selected = c.checkpoint_id;
    const st = await get(`/threads/${enc(id)}/state?checkpoint=${enc(c.checkpoint_id)}`);
    for (const d of timelineBox.querySelectorAll("circle")) d.classList.toggle("selected", d.dataset.checkpoint === selected);
    inspect.replaceChildren(h("section", { class: "card" },
      h("h2", { text: `Checkpoint at step ${st.step} (${st.source}${st.node ? ", " + st.node : ""})` }),
      h("p", { class: "muted", text: `${(st.values?.transcript || []).length} turns; next: ${(st.next || []).join(", ") || "nothing (the run was over)"}` }),
      h("p", {}, action("Fork from here", async () => {
        const f = await post(`/threads/${enc(id)}/copy`, { checkpoint: st.checkpoint_id });
        toast(`forked to ${f.thread_id}`);
        location.hash = `#/threads/${enc(f.thread_id)}`;
      }, { id: "fork" })),
      h("details", {}, h("summary", { text: "State" }), h("pre", { text: JSON.stringify(st.values, null, 2) }))));
  }

  const cursor = parseInt(detail.checkpoint_id || "0", 10) || 0;
  source = new EventSource(`/threads/${enc(id)}/stream?after=${cursor}`);
  source.addEventListener("updates", ev => {
    const e = JSON.parse(ev.data);
    for (const w of Object.values(e.writes || {})) for (const t of w?.transcript || []) add(t);
    transcript.dataset.lastEvent = ev.lastEventId;
    later();
  });

  const ask = h("textarea", { id: "ask", placeholder: "Ask this thread something new" });
  mount(main, h("p", {}, h("a", { href: "#/threads", text: "← Threads" })),
    h("h1", { text: `Thread ${id}`, tabindex: "-1" }),
    h("p", {}, detail.title ? h("span", { text: detail.title + " — " }) : "", status, " ", resume),
    answer,
    h("h2", { text: "Checkpoints" }), timelineBox, inspect,
    h("h2", { text: "Transcript" }), transcript,
    h("section", { class: "card" }, h("label", { for: "ask", text: "Ask" }), ask, h("p", {}, action("Send", async () => {
      if (!ask.value.trim()) throw new Error("write something first");
      await post(`/threads/${enc(id)}/runs`, { input: { task: ask.value }, if_not_exists: "create" });
      ask.value = "";
      later(0);
    }, { class: "primary", id: "send" }))));
  await refresh().catch(err => toast(err.message));
  return () => {
    alive = false;
    clearTimeout(timer);
    source.close();
  };
}
