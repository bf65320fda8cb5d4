// Threads: the conversations in the image, searchable, and a new task.
import { enc, get, post } from "./api.js";
import { action, h, mount, when } from "./dom.js";

const PAGE = 100;

export async function page(main) {
  const q = h("input", { type: "search", id: "thread-search", placeholder: "id or title", "aria-label": "Search threads" });
  const status = h("select", { id: "thread-status", "aria-label": "Status" },
    ["", "running", "interrupted", "done", "error"].map(v => h("option", { value: v, text: v || "any status" })));
  const table = h("table", { id: "thread-list" });
  const more = h("p");
  let offset = 0;

  async function load(reset) {
    if (reset) offset = 0, table.replaceChildren(h("tr", {}, ["thread", "title", "status", "tasks", "steps", "updated"].map(t => h("th", { text: t }))));
    const rows = await post("/threads/search", { text: q.value, status: status.value, limit: PAGE, offset });
    for (const t of rows)
      table.append(h("tr", {}, h("td", {}, h("a", { href: `#/threads/${enc(t.thread_id)}`, text: t.thread_id })),
        h("td", { text: t.title }), h("td", { class: "status", text: t.status }), h("td", { text: t.tasks }),
        h("td", { text: t.checkpoints }), h("td", { text: when(t.updated_at) })));
    offset += rows.length;
    more.replaceChildren(rows.length === PAGE ? action("More", () => load(false)) : "");
  }
  let timer;
  q.addEventListener("input", () => (clearTimeout(timer), (timer = setTimeout(() => load(true), 200))));
  status.addEventListener("change", () => load(true));

  const task = h("textarea", { id: "new-task", placeholder: "What should the agent do?" });
  const start = action("Start", async () => {
    if (!task.value.trim()) throw new Error("write the task first");
    const t = await post("/threads", {});
    await post(`/threads/${enc(t.thread_id)}/runs`, { input: { task: task.value }, if_not_exists: "create" });
    location.hash = `#/threads/${enc(t.thread_id)}`;
  }, { class: "primary", id: "start-task" });

  mount(main, h("h1", { text: "Threads", tabindex: "-1" }),
    h("section", { class: "card" }, h("h2", { text: "New task" }), h("label", { for: "new-task", text: "Task" }), task, h("p", {}, start)),
    h("p", {}, q, " ", status), table, more);
  await load(true);
}
