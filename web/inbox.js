// The inbox: proposals waiting for a human, and each one with what a reviewer needs to
// say yes or no. Deciding resumes the runs that wait on it, and shows the first of them.
import { enc, get, post } from "./api.js";
import { action, diffView, h, lineChart, mount, toast, when } from "./dom.js";

const KINDS = {
  "tool.register": "New tool",
  "tool.rollback": "Tool rollback",
  "persona.change": "Persona change",
  "codex.amend": "Codex amendment",
  "adapter.activate": "Adapter",
};

export async function list(main) {
  const [pending, decided] = await Promise.all([get("/approvals"), get("/approvals?status=all")]);
  const items = pending.map(p =>
    h("li", {}, h("a", { href: `#/inbox/${p.id}`, "data-proposal": p.id },
      h("strong", { text: `#${p.id} ${KINDS[p.kind] || p.kind}: ${p.target}` }), " ",
      h("span", { class: "muted", text: `proposed ${when(p.created_at)}` }))));
  const done = decided.filter(p => p.status !== "pending").reverse().slice(0, 20);
  mount(main,
    h("h1", { text: "Inbox", tabindex: "-1" }),
    pending.length ? h("ul", { class: "proposal-list", id: "pending" }, items)
                   : h("p", { class: "muted", id: "pending", text: "Nothing waits for you." }),
    h("h2", { text: "Decided lately" }),
    done.length ? h("table", {}, h("tr", {}, ["#", "kind", "target", "status", "reviewer", "reason"].map(t => h("th", { text: t }))),
      done.map(p => h("tr", {}, h("td", {}, h("a", { href: `#/inbox/${p.id}`, text: `#${p.id}` })), h("td", { text: p.kind }),
        h("td", { text: p.target }), h("td", { text: p.status }), h("td", { text: p.reviewer }), h("td", { text: p.reason }))))
    : h("p", { class: "muted", text: "No decisions yet." }));
  // The first paint of the inbox, for the browser test's measurement.
  // (the frame's callbacks run before it is painted; a task queued from them runs after).
  requestAnimationFrame(() => setTimeout(() => performance.mark("a4ps:inbox-painted")));
}

function section(title, ...body) {
  return h("section", { class: "card" }, h("h2", { text: title }), ...body);
}

function metricsTable(m) {
  const rows = Object.entries(m || {}).filter(([, v]) => typeof v !== "object");
  return rows.length ? h("table", {}, rows.map(([k, v]) => h("tr", {}, h("th", { text: k }), h("td", { text: String(v) }))))
                     : h("p", { class: "muted", text: "no metrics recorded" });
}


export async function proposal(main, id) {
  const p = await get(`/console/api/approvals/${enc(id)}`);
  const parts = [];
  if (p.kind === "tool.register" || p.kind === "tool.rollback") {
    parts.push(section("Source", h("pre", { class: "source", text: p.after })));
    parts.push(section(p.before ? "Diff to the current version" : "Diff (a new tool)", diffView(p.diff)));
    if (p.tests || p.forge_attempts)
      parts.push(section("Tests",
        h("p", { class: p.tests_passed ? "ok tests-result" : "bad tests-result",
                 text: p.tests_passed ? `passed in the sandbox (forge attempts: ${p.forge_attempts})` : "not passed" }),
        h("pre", { text: p.tests || "(none recorded)" })));
  } else if (p.kind === "adapter.activate") {
    const m = p.adapter.metrics || {};
    parts.push(section("Adapter", h("p", { text: `persona ${p.adapter.persona}, weights ${String(p.adapter.blob_sha256).slice(0, 12)}` }),
      metricsTable(m.metrics || m), h("h3", { text: "Training loss" }), lineChart(p.adapter.losses || [], { label: "training loss" })));
  } else {
    if (p.why) parts.push(section("Why", h("p", { class: "text", text: p.why })));
    parts.push(section("Diff", diffView(p.diff)));
    if (p.drops_builtin_rules?.length) parts.push(h("p", { class: "bad", text: `Drops built-in rules: ${p.drops_builtin_rules.join(", ")}` }));
  }
  parts.push(section("Codex check", p.codex_problems.length
    ? h("ul", { class: "bad" }, p.codex_problems.map(x => h("li", { text: x })))
    : h("p", { class: "ok codex-ok", text: p.status === "pending" || p.status === "approved" ? "Applying it breaks no rule of the codex." : "—" })));
  const waiting = p.waiting_threads || [];
  parts.push(section("Asked for by", waiting.length
    ? h("ul", {}, waiting.map(t => h("li", {}, h("a", { href: `#/threads/${enc(t.thread_id)}`, text: t.thread_id }), " ", h("span", { class: "muted", text: t.title }))))
    : h("p", { class: "muted", text: "No run waits on it." })));

  let decide = [];
  if (p.status === "pending") {
    const reason = h("textarea", { id: "reason", required: true, placeholder: "Why (kept in the audit log)" });
    const go = approve => async () => {
      if (!reason.value.trim()) {
        reason.focus();
        throw new Error("say why first: the audit log keeps the reason");
      }
      await post(`/approvals/${enc(id)}/${approve ? "approve" : "reject"}`, { reason: reason.value, reviewer: "console" });
      dispatchEvent(new Event("a4ps:changed"));
      // The runs waiting on it go on now; follow the first one live.
      for (const t of waiting) await post(`/threads/${enc(t.thread_id)}/runs`, { command: { resume: true } });
      toast(`proposal #${id} ${approve ? "approved" : "rejected"}${waiting.length ? "; the run goes on" : ""}`);
      location.hash = waiting.length ? `#/threads/${enc(waiting[0].thread_id)}` : "#/inbox";
    };
    decide = [h("section", { class: "card" }, h("h2", { text: "Decide" }), h("label", { for: "reason", text: "Reason" }), reason,
      h("p", {}, action("Approve", go(true), { class: "primary", id: "approve" }), " ",
        action("Reject", go(false), { class: "danger", id: "reject" })))];
  } else {
    decide = [h("p", { class: "status", text: `${p.status} by ${p.reviewer} ${when(p.decided_at)}: ${p.reason}` })];
  }
  mount(main, h("p", {}, h("a", { href: "#/inbox", text: "← Inbox" })),
    h("h1", { text: `#${p.id} ${KINDS[p.kind] || p.kind}: ${p.target}`, tabindex: "-1" }),
    h("p", { class: "muted", text: `${p.status}, proposed ${when(p.created_at)}` }),
    ...decide, ...parts);
}
