// The console's shell: login when the server asks for it, a hash router over the pages,
// focus moved to each page's heading so keyboard and screen-reader users follow along.
import { api, get, whenUnauthorized } from "./api.js";
import { action, h, mount, toast } from "./dom.js";
import * as inbox from "./inbox.js";
import * as threads from "./threads.js";
import * as thread from "./thread.js";
import * as pages from "./pages.js";

const main = document.getElementById("main");
let cleanup = null;

const routes = [
  [/^#\/inbox\/(\d+)$/, inbox.proposal],
  [/^#\/inbox$/, inbox.list],
  [/^#\/threads\/([^/]+)$/, thread.page],
  [/^#\/threads$/, threads.page],
  [/^#\/tools$/, pages.tools],
  [/^#\/memory$/, pages.memory],
  [/^#\/learning$/, pages.learning],
  [/^#\/codex$/, pages.codex],
  [/^#\/image$/, pages.image],
  [/^#\/goals$/, pages.goals],
];

function logoutButton() {
  if (document.getElementById("logout")) return;
  document.querySelector("header").append(action("Log out", async () => {
    await api("POST", "/console/logout", {});
    location.reload();
  }, { id: "logout", class: "small" }));
}

function login() {
  if (main.querySelector("#token")) return;  // several calls may have been refused at once
  if (cleanup) cleanup(), (cleanup = null);
  const input = h("input", { type: "password", id: "token", autocomplete: "current-password", required: true });
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card" },
    h("h1", { text: "Log in", tabindex: "-1" }),
    h("p", { text: "This server needs its token (the file given to a4ps serve --token-file)." }),
    h("label", { for: "token", text: "Token" }), input, " ",
    h("button", { type: "submit", class: "primary", text: "Log in" }), err);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      await api("POST", "/console/login", { token: input.value });
      logoutButton();
      route();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  mount(main, form);
  input.focus();
}

async function route() {
  if (cleanup) cleanup(), (cleanup = null);
  const hash = location.hash || "#/inbox";
  for (const a of document.querySelectorAll("#nav a"))
    a.classList.toggle("current", hash.startsWith(a.getAttribute("href")));
  for (const [re, render] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    try {
      cleanup = (await render(main, ...m.slice(1).map(decodeURIComponent))) || null;
    } catch (e) {
      if (e.status === 401) return login();
      mount(main, h("h1", { text: "Something went wrong", tabindex: "-1" }), h("p", { class: "error", text: e.message }));
    }
    const heading = main.querySelector("h1");
    if (heading && document.activeElement === document.body) heading.focus();
    return;
  }
  location.hash = "#/inbox";
}

// The count of pending proposals in the menu, kept fresh.
async function refreshBadge() {
  try {
    const list = await get("/approvals");
    document.getElementById("pending-count").textContent = list.length ? String(list.length) : "";
  } catch { /* the page says what is wrong */ }
}

whenUnauthorized(login);
window.addEventListener("hashchange", () => {
  route().then(() => {
    const heading = main.querySelector("h1");
    if (heading) heading.focus();
  });
});
addEventListener("a4ps:changed", refreshBadge);

// The first page right away (no round trip first to ask whether to log in: a 401 from any
// call brings the login form), then the badge.
(async () => {
  setInterval(refreshBadge, 5000);
  await route();
  refreshBadge();
  try {
    const s = await get("/console/session");
    if (s.login_required && s.logged_in) logoutButton();
  } catch (e) {
    toast(e.message);
  }
})();
