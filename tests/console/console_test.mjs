// The console (a4ps serve's web page) in a real browser: Debian's chromium, headless,
// driven by playwright-core. A real server, image and sandbox; the scripted (fake) model
// makes the agent forge a tool that waits in the inbox, and say things meant to attack
// the page.
//
//   node console_test.mjs A4PS_BINARY WORK_DIR ARTIFACT_DIR SYNTH_GGUF_BINARY
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, chmodSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [a4ps, work, artifacts, synth] = process.argv.slice(2);
if (!a4ps || !work || !artifacts || !synth) {
  console.error("usage: node console_test.mjs A4PS_BINARY WORK_DIR ARTIFACT_DIR SYNTH_GGUF_BINARY");
  process.exit(2);
}
const CHROMIUM = process.env.A4PS_CHROMIUM || "/usr/bin/chromium";
const started = Date.now();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(artifacts, { recursive: true });
chmodSync(work, 0o755); // the sandbox user reaches the image's workspace beside it

let passed = 0, failed = 0;
const children = [];
async function check(what, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${what} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${what}: ${e.stack || e}`);
  }
}

// ---- the scripted model (a fake: one reply per line, per persona, in order) -------------
const script = (name, lines) => {
  const f = join(work, name);
  writeFileSync(f, lines.map(l => JSON.stringify(l)).join("\n") + "\n");
  return "scripted:" + f;
};
const route = (turn, next, brief = "go") => ({ persona: "ALFRED", match: `routing turn ${turn} `, text: JSON.stringify({ next, brief }) });
const say = (persona, text, match) => (match ? { persona, text, match } : { persona, text });
const critique = (verdict, reasons) => ({ persona: "ROBIN", text: JSON.stringify({ verdict, reasons }) });

const FORGE = script("forge.jsonl", [
  route("1", "BRICK", "convert 100 C"),
  // Its code takes a while, so the page is watching when the approved run goes on.
  say("BRICK", "I will use a converter.\n```python\nimport time\ntime.sleep(1.5)\nprint(celsius_to_fahrenheit(100))\n```"),
  say("BRICK", "```python\ndef celsius_to_fahrenheit(arg1):\n    return arg1 * 9 / 5 + 32\n```", "def celsius_to_fahrenheit"),
  critique("accept", "right"), route("2", "ANSWER"), say("ALFRED", "100 C is 212 F.", "212")]);
// Slow enough to reload the page in the middle, and hostile: markup and a javascript: link.
const ATTACK = "Done. <script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> [click me](javascript:window.__pwned=3)";
const HOSTILE = script("hostile.jsonl", [
  route("1", "BRICK", "rest a while"),
  say("BRICK", "```python\nimport time\ntime.sleep(2.5)\nprint('<script>window.__pwned=4</script>')\n```"),
  critique("accept", "fine"), route("2", "ANSWER"), say("ALFRED", ATTACK, "Write the answer")]);

// ---- servers -----------------------------------------------------------------------
function serve(image, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(a4ps, ["serve", image, "--listen", "127.0.0.1:0", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    children.push(p);
    let log = "";
    const timer = setTimeout(() => reject(new Error("a4ps serve did not start: " + log)), 30000);
    p.stderr.on("data", d => {
      log += d;
      const m = log.match(/on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) clearTimeout(timer), resolve({ proc: p, base: `http://127.0.0.1:${m[1]}`, port: Number(m[1]) });
    });
    p.on("exit", code => reject(new Error(`a4ps serve exited (${code}): ${log}`)));
  });
}

async function call(base, method, path, { body, token, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined && !h["Content-Type"]) h["Content-Type"] = "application/json";
  const res = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

const imgA = join(work, "agent.a4ps"), imgB = join(work, "hostile.a4ps");
execFileSync(a4ps, ["image", "init", imgA], { stdio: "ignore" });
execFileSync(a4ps, ["image", "init", imgB], { stdio: "ignore" });
// A training run in image A (a LoRA on a tiny synthetic base: no weights are downloaded),
// for the Learning page and an adapter proposal in the inbox.
const base = join(work, "tiny.gguf"), data = join(work, "train.jsonl");
execFileSync(synth, ["--arch", "llama", "--size", "tiny", "-o", base], { stdio: "ignore" });
writeFileSync(data, Array.from({ length: 6 }, (_, i) => JSON.stringify({ messages: [
  { role: "user", content: `Question ${i}` }, { role: "assistant", content: "Blue seven river, blue seven river." }] })).join("\n") + "\n");
execFileSync(a4ps, ["learn", "train", imgA, "--persona", "BRICK", "--data", data, "--model", base, "--steps", "12",
                    "--rank", "4", "--alpha", "8", "--lr", "0.01", "--threads", "1", "--targets", "attn_q,attn_v"], { stdio: "ignore" });
const TOKEN = "console-test-token-" + Math.random().toString(36).slice(2);
const tokenFile = join(work, "token");
writeFileSync(tokenFile, TOKEN + "\n", { mode: 0o600 });

const A = await serve(imgA, ["-m", FORGE, "--token-file", tokenFile]);
const B = await serve(imgB, ["-m", HOSTILE]);
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const evil = createServer();
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

try {
  // A forged tool that waits in the inbox: the run is interrupted until a human decides.
  const first = await call(A.base, "POST", "/threads/f1/runs/wait", { token: TOKEN, body: { input: "what is 100 C in F?", if_not_exists: "create" } });
  assert.equal(first.json?.status, "interrupted", first.text);
  const proposalId = first.json.waiting_for[0];

  await check("console files: CSP on every response, no inline script or style, types, ETag", async () => {
    for (const path of ["/", "/console/app.js", "/console/style.css", "/console/session", "/console/api/image"]) {
      const r = await call(A.base, "GET", path, { token: TOKEN });
      const csp = r.headers.get("content-security-policy") || "";
      assert.match(csp, /default-src 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /style-src 'self'(;|$)/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    }
    const page = await call(A.base, "GET", "/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type"), /^text\/html/);
    assert.doesNotMatch(page.text, /<script(?![^>]*\bsrc=)[^>]*>/i, "an inline script");
    assert.doesNotMatch(page.text, /\sstyle=|<style/i, "an inline style");
    assert.match((await call(A.base, "GET", "/console/app.js")).headers.get("content-type"), /^text\/javascript/);
    const etag = page.headers.get("etag");
    assert.ok(etag);
    assert.equal((await call(A.base, "GET", "/", { headers: { "If-None-Match": etag } })).status, 304);
    // The API itself still needs the token.
    assert.equal((await call(A.base, "GET", "/approvals")).status, 401);
  });

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", e => pageErrors.push(e.message));

  await check("login with the server's token (a wrong one is refused)", async () => {
    await page.goto(A.base + "/");
    await page.waitForSelector("#token");
    await shot(page, "login");
    await page.fill("#token", "wrong");
    await page.keyboard.press("Enter");
    await page.waitForSelector("[role=alert]:has-text('not this server')");
    await page.fill("#token", TOKEN);
    await page.keyboard.press("Enter");
    await page.waitForSelector("h1:has-text('Inbox')");
    const cookies = await context.cookies();
    const c = cookies.find(x => x.name === "a4ps_console");
    assert.ok(c, JSON.stringify(cookies));
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, "Strict");
    assert.notEqual(c.value, TOKEN); // a session, not the token itself
  });

  await check("inline script is refused by the page's CSP", async () => {
    const blocked = await page.evaluate(() => new Promise(resolve => {
      let violations = 0;
      document.addEventListener("securitypolicyviolation", () => violations++);
      const s = document.createElement("script");
      s.textContent = "window.__inline = 1";
      document.body.append(s);
      setTimeout(() => resolve({ ran: window.__inline === 1, violations }), 200);
    }));
    assert.equal(blocked.ran, false);
    assert.ok(blocked.violations > 0);
  });

  // Keyboard only: Tab reaches each control, Enter uses it.
  async function tabTo(selector, max = 60) {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(sel => document.activeElement?.matches(sel), selector)) return;
    }
    throw new Error(`Tab never reached ${selector}`);
  }

  await check("keyboard only: approve the forged tool from the inbox, and the run finishes live", async () => {
    await page.waitForSelector(`a[data-proposal="${proposalId}"]`);
    await shot(page, "inbox");
    await tabTo(`a[data-proposal="${proposalId}"]`);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#approve");
    // What a reviewer needs: the source, the diff, the tests that passed, the codex, the thread.
    assert.match(await page.textContent("pre.source"), /def celsius_to_fahrenheit/);
    assert.match(await page.textContent(".diff"), /\+def celsius_to_fahrenheit/);
    assert.match(await page.textContent(".tests-result"), /passed/);
    assert.match(await page.textContent(".codex-ok"), /breaks no rule/);
    assert.ok(await page.$("a[href='#/threads/f1']"));
    await shot(page, "proposal");
    await tabTo("#reason");
    await page.keyboard.type("the converter is right");
    await tabTo("#approve");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => location.hash === "#/threads/f1");
    await page.waitForSelector("h1:has-text('Thread f1')");
    const before = await page.$$eval(".turn", t => t.length);
    assert.notEqual(await page.textContent("#thread-status"), "done");
    await page.waitForSelector("#answer:has-text('100 C is 212 F.')", { timeout: 20000 });
    await page.waitForSelector("#thread-status[data-status=done]");
    const after = await page.$$eval(".turn", t => t.length);
    assert.ok(after > before, `no turn arrived live (${before} -> ${after})`);
    assert.ok(await page.getAttribute("#transcript", "data-last-event"), "the stream delivered nothing");
    const applied = await call(A.base, "GET", "/approvals?status=applied", { token: TOKEN });
    assert.equal(applied.json.length, 1);
    await shot(page, "thread");
  });

  await check("the exact prompt a persona saw, on demand", async () => {
    await page.click(".turn[data-index='1'] .show-prompt");
    const text = await page.textContent(".turn[data-index='1'] pre.prompt");
    assert.ok(text.length > 20 && !/no prompt recorded/.test(text), text);
  });

  await check("time travel: inspect a checkpoint, fork from it, resume the fork", async () => {
    const circles = await page.$$("svg.timeline circle");
    assert.ok(circles.length >= 8, `${circles.length} checkpoints drawn`);
    // By keyboard too: Tab to the checkpoint where BRICK ran the new tool (ROBIN is next), Enter.
    await page.focus("h1");
    await tabTo("svg.timeline circle[data-checkpoint='000000000006']");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#checkpoint h2");
    const turnsThere = Number((await page.textContent("#checkpoint p.muted")).match(/(\d+) turns/)[1]);
    await tabTo("#fork");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => location.hash.startsWith("#/threads/") && location.hash !== "#/threads/f1");
    const forked = decodeURIComponent((await page.evaluate(() => location.hash)).slice("#/threads/".length));
    await page.waitForSelector(`h1:has-text('${forked}')`);
    assert.equal(await page.$$eval(".turn", t => t.length), turnsThere);
    const t = await call(A.base, "GET", `/threads/${encodeURIComponent(forked)}/history`, { token: TOKEN });
    assert.equal(t.status, 200);
    assert.equal(t.json[0].source, "fork");
    // The fork goes on from there: ROBIN, ALFRED's route and answer arrive live.
    await page.waitForSelector("#resume:not([hidden])");
    await page.click("#resume");
    await page.waitForSelector("#answer:has-text('100 C is 212 F.')", { timeout: 20000 });
    assert.equal(await page.$$eval(".turn", t => t.length), turnsThere + 3);
    await shot(page, "fork-resumed");
  });

  await check("CSRF: the cookie alone changes nothing; a cross-site form post fails", async () => {
    const cookie = (await context.cookies()).find(x => x.name === "a4ps_console");
    const jar = { Cookie: `a4ps_console=${cookie.value}` };
    const memBefore = (await call(A.base, "GET", "/console/api/memory", { token: TOKEN })).json.sources.length;
    // Cookie without the console's header: refused. With it: allowed (what the console does).
    const noHeader = await call(A.base, "POST", "/console/api/memory", { headers: jar, body: { source: "x", text: "forged" } });
    assert.equal(noHeader.status, 403, noHeader.text);
    assert.equal(noHeader.json.error, "csrf");
    const formType = await call(A.base, "POST", "/console/api/memory", { headers: { ...jar, "X-A4PS-Console": "1", "Content-Type": "text/plain" }, body: '{"source":"x","text":"forged"}' });
    assert.equal(formType.status, 415, formType.text);
    // A page on another site posts a form (text/plain smuggling JSON) at the API.
    await new Promise(r => evil.listen(0, "127.0.0.1", r));
    const evilPort = evil.address().port;
    evil.on("request", (req, res) => {
      const target = req.url === "/b" ? B.base : A.base; // B: loopback without a token (no login at all)
      res.setHeader("Content-Type", "text/html");
      res.end(`<form id=f method=POST action="${target}/console/api/memory" enctype="text/plain">` +
              `<input name='{"source":"evil","text":"pwned","x":"' value='"}'></form><script>document.getElementById('f').submit()</script>`);
    });
    for (const [path, server] of [["/a", A], ["/b", B]]) {
      const attacker = await context.newPage();
      const posted = attacker.waitForResponse(r => r.url().startsWith(server.base) && r.request().method() === "POST");
      await attacker.goto(`http://localhost:${evilPort}${path}`);
      const resp = await posted;
      assert.ok(resp.status() >= 400, `the forged post to ${server.base} got ${resp.status()}`);
      await attacker.close();
    }
    const memAfter = (await call(A.base, "GET", "/console/api/memory", { token: TOKEN })).json.sources.length;
    assert.equal(memAfter, memBefore);
    assert.equal((await call(B.base, "GET", "/console/api/memory")).json.sources.length, 0);
  });

  await check("memory: add a text from the page, then find it", async () => {
    await page.goto(A.base + "/#/memory");
    await page.waitForSelector("#memory-add");
    await page.fill("#memory-source", "owls.md");
    await page.fill("#memory-text", "Barn owls hunt at night by sound alone.");
    await page.click("#memory-add");
    await page.waitForSelector("td:has-text('owls.md')");
    await page.fill("#memory-query", "owls");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#memory-hits .card:has-text('Barn owls')");
    // A text file: read in the page, sent as JSON under the file's name.
    await page.fill("#memory-source", "");
    await page.setInputFiles("#memory-file", { name: "bats.txt", mimeType: "text/plain", buffer: Buffer.from("Bats find moths by echo.\n") });
    await page.waitForFunction(() => document.getElementById("memory-source").value === "bats.txt");
    await page.click("#memory-add");
    await page.waitForSelector("td:has-text('bats.txt')");
    await shot(page, "memory");
  });

  await check("learning: a run's loss curve; propose its adapter; the inbox shows its metrics and curve; reject it", async () => {
    await page.goto(A.base + "/#/learning");
    await page.waitForSelector("svg.chart polyline");
    const points = (await page.getAttribute("svg.chart polyline", "points")).trim().split(/\s+/);
    assert.equal(points.length, 12); // one per optimizer step
    await shot(page, "learning");
    await page.click("button:has-text('Propose activating')");
    await page.waitForSelector("#toast:has-text('filed')");
    const id = (await page.textContent("#toast")).match(/#(\d+)/)[1];
    await page.goto(A.base + `/#/inbox/${id}`);
    await page.waitForSelector("h1:has-text('Adapter')");
    assert.match(await page.textContent("main"), /train_loss_first/);
    assert.equal((await page.getAttribute("svg.chart polyline", "points")).trim().split(/\s+/).length, 12);
    await shot(page, "adapter-proposal");
    await page.fill("#reason", "not now");
    await page.click("#reject");
    await page.waitForFunction(() => location.hash === "#/inbox");
    const p = await call(A.base, "GET", `/approvals/${id}`, { token: TOKEN });
    assert.equal(p.json.status, "rejected");
    assert.equal(p.json.reason, "not now");
  });

  await check("a codex amendment shows its diff and why; approving it from the page records the reason", async () => {
    const codex = (await call(A.base, "GET", "/console/api/codex", { token: TOKEN })).json;
    assert.ok(codex.rules.length > 0 && codex.principles.length > 0);
    const file = join(work, "codex.toml");
    assert.match(codex.toml, /Be exact in substance/);
    writeFileSync(file, codex.toml.replace("Be exact in substance", "Be exact and brief in substance"));
    const out = JSON.parse(execFileSync(a4ps, ["--json", "codex", "amend", imgA, file, "--reason", "<b>shorter</b> answers"], { encoding: "utf8" }));
    await page.goto(A.base + `/#/inbox/${out.proposal}`);
    await page.waitForSelector("h1:has-text('Codex amendment')");
    assert.match((await page.$$eval(".diff .add", e => e.map(x => x.textContent))).join("\n"), /^\+.*Be exact and brief in substance/m);
    assert.match((await page.$$eval(".diff .del", e => e.map(x => x.textContent))).join("\n"), /^-.*Be exact in substance/m);
    assert.match(await page.textContent("main"), /<b>shorter<\/b> answers/); // as text
    assert.equal(await page.$$eval("main b", e => e.length), 0);
    await shot(page, "codex-amendment");
    await page.fill("#reason", "fine by me");
    await page.click("#approve");
    await page.waitForFunction(() => location.hash === "#/inbox");
    assert.equal((await call(A.base, "GET", `/approvals/${out.proposal}`, { token: TOKEN })).json.status, "approved");
  });

  await check("tools: versions, source, diff; propose a rollback, and the inbox shows it", async () => {
    // A second version of the tool the agent forged, written by the forge and approved via the CLI.
    const model = script("forge-v2.jsonl", [{ text: "```python\ndef celsius_to_fahrenheit(arg1):\n    return round(arg1 * 1.8 + 32, 2)\n```" }]);
    const tests = join(work, "c2f-tests.py");
    writeFileSync(tests, "assert celsius_to_fahrenheit(100) == 212\n");
    const out = JSON.parse(execFileSync(a4ps, ["--json", "tool", "forge", imgA, "--name", "celsius_to_fahrenheit", "--params", "arg1",
      "--doc", "Celsius to Fahrenheit", "--tests", tests, "--model", model], { encoding: "utf8" }));
    execFileSync(a4ps, ["approvals", "approve", imgA, String(out.proposal), "--reason", "rounder"], { stdio: "ignore" });
    execFileSync(a4ps, ["approvals", "apply", imgA, String(out.proposal)], { stdio: "ignore" });
    await page.goto(A.base + "/#/tools");
    await page.click("button:has-text('v2')");
    await page.waitForSelector("#tool-view h3:has-text('Diff from v1')");
    assert.match((await page.$$eval("#tool-view .diff .add", e => e.map(x => x.textContent))).join("\n"), /round\(arg1 \* 1\.8/);
    await page.click("button:has-text('v1')");
    await page.click("button:has-text('Propose rolling back to v1')");
    await page.waitForSelector("#toast:has-text('filed')");
    const id = (await page.textContent("#toast")).match(/#(\d+)/)[1];
    await shot(page, "tools");
    await page.goto(A.base + `/#/inbox/${id}`);
    await page.waitForSelector("h1:has-text('Tool rollback')");
    assert.match(await page.textContent("pre.source"), /arg1 \* 9 \/ 5 \+ 32/);
  });

  await check("every page renders (screenshots)", async () => {
    for (const [hash, sel] of [
                               ["#/codex", "h2:has-text('Rules')"], ["#/image", "#event-log tr"], ["#/goals", "h1:has-text('Goals')"],
                               ["#/threads", "#thread-list a"]]) {
      await page.goto(A.base + "/" + hash);
      await page.waitForSelector(sel);
      if (hash === "#/image") {
        await page.click("#check");
        await page.waitForSelector("#check-result .ok");
      }
      await shot(page, hash.slice(2));
    }
  });

  await check("goals: ALFRED's own goals, a vetoed one with its reason, a family paused and resumed", async () => {
    await page.goto(A.base + "/#/goals");
    await page.waitForSelector("#goals-none");  // none yet
    // ALFRED (the scripted fake) proposes two goals; the one that needs the network is vetoed.
    const script = join(work, "goals.jsonl");
    writeFileSync(script, JSON.stringify({ persona: "ALFRED", match: "Propose ", text: JSON.stringify({ goals: [
      { family: "arithmetic", task: "Compute 6 times 7 and say the number.", test: "assert '42' in answer", source: "console test" },
      { family: "web", task: "Fetch example.com <img src=x onerror=alert(1)> and quote it.", test: "assert answer", source: "console test",
        needs: ["network"] }] }) }) + "\n");
    execFileSync(a4ps, ["goals", "generate", imgA, "--model", "scripted:" + script], { stdio: "ignore" });
    await page.reload();
    await page.waitForSelector("td:has-text('arithmetic')");
    assert.match(await page.textContent("main"), /vetoed — /);
    assert.equal(await page.$("main img[src=x]"), null);  // the goal's text is shown, never parsed
    await page.click("button:has-text('Compute 6 times 7')");
    await page.waitForSelector("#goal-view pre.source");
    assert.equal(await page.textContent("#goal-view pre.source"), "assert '42' in answer");
    await page.click("tr:has(td:has-text('arithmetic')) button:has-text('Pause')");
    await page.waitForSelector("td:has-text('arithmetic (paused)')");
    await shot(page, "goals");
    await page.click("tr:has(td:has-text('arithmetic (paused)')) button:has-text('Resume')");
    await page.waitForSelector("td:text-is('arithmetic')");
  });

  await check("a new task from the page; a reload mid-run continues without gaps or duplicates; model text is inert", async () => {
    const p = await context.newPage();
    p.on("pageerror", e => pageErrors.push(e.message));
    await p.goto(B.base + "/#/threads");
    await p.waitForSelector("#new-task");
    await p.fill("#new-task", "rest a while");
    await p.click("#start-task");
    await p.waitForFunction(() => /^#\/threads\/.+/.test(location.hash));
    await p.waitForSelector(".turn", { timeout: 15000 }); // ALFRED routed; BRICK's code sleeps
    assert.notEqual(await p.textContent("#thread-status"), "done");
    await p.reload();
    await p.waitForSelector("#thread-status[data-status=done]", { timeout: 20000 });
    await p.waitForSelector("#answer .text");
    const thread = decodeURIComponent((await p.evaluate(() => location.hash)).slice("#/threads/".length));
    const truth = (await call(B.base, "GET", `/console/api/threads/${encodeURIComponent(thread)}/transcript`)).json;
    const shown = await p.$$eval(".turn", ts => ts.map(t => ({ who: t.querySelector(".who").textContent, i: Number(t.dataset.index) })));
    assert.deepEqual(shown.map(t => t.who), truth.map(t => t.persona));
    assert.deepEqual(shown.map(t => t.i), truth.map((_, i) => i));
    // What the model said is shown as text, never run or parsed.
    assert.equal(await p.evaluate(() => window.__pwned), undefined);
    assert.equal(await p.$$eval("#main script, #main img, #main iframe", e => e.length), 0);
    assert.equal(await p.$$eval("a[href^='javascript' i]", e => e.length), 0);
    assert.match(await p.textContent("#answer"), /<script>window.__pwned=1<\/script>/);
    await p.click(".turn details.sandbox summary");
    assert.match(await p.textContent(".turn details.sandbox pre"), /<script>window.__pwned=4<\/script>/);
    await shot(p, "hostile-thread");
    // Chat: a new task on the same thread; its turns arrive live after the first task's.
    const turns = shown.length;
    await p.fill("#ask", "and once more");
    await p.click("#send");
    await p.waitForFunction(n => document.querySelectorAll(".turn").length === 2 * n, turns, { timeout: 20000 });
    await p.waitForSelector("#thread-status[data-status=done]", { timeout: 20000 });
    assert.ok(await p.getAttribute("#transcript", "data-last-event"));
    await p.close();
  });

  await check("first paint of the inbox with 1,000 threads in the image", async () => {
    // 1,000 threads: forks of f1 (each a real thread in the image).
    let n = 0;
    const worker = async () => {
      while (n < 1000) {
        const i = n++;
        const r = await call(A.base, "POST", "/threads/f1/copy", { token: TOKEN, body: { thread_id: `bulk-${i}` } });
        if (r.status !== 200) throw new Error(r.text);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const info = (await call(A.base, "GET", "/console/api/image", { token: TOKEN })).json;
    assert.ok(info.threads >= 1000, `${info.threads} threads`);
    const times = [];
    for (let i = 0; i < 5; i++) {
      const q = await context.newPage();
      await q.goto(A.base + "/#/inbox");
      await q.waitForFunction(() => performance.getEntriesByName("a4ps:inbox-painted").length > 0);
      times.push(await q.evaluate(() => performance.getEntriesByName("a4ps:inbox-painted")[0].startTime));
      if (i === 4) {
        await q.goto(A.base + "/#/threads");
        await q.waitForSelector("#thread-list a");
        await shot(q, "threads-1000");
        // A page at a time: 100 rows, then 100 more.
        assert.equal(await q.$$eval("#thread-list a", a => a.length), 100);
        await q.click("button:has-text('More')");
        await q.waitForFunction(() => document.querySelectorAll("#thread-list a").length === 200);
        await q.fill("#thread-search", "bulk-99");
        await q.waitForFunction(() => document.querySelectorAll("#thread-list a").length === 11); // bulk-99, bulk-990..999
      }
      await q.close();
    }
    const best = Math.min(...times);
    console.log(`first paint of the inbox with ${info.threads} threads: ${times.map(t => t.toFixed(0)).join(", ")} ms (best ${best.toFixed(0)} ms)`);
    const limit = Number(process.env.A4PS_CONSOLE_PAINT_MS || 300);
    assert.ok(best <= limit, `first paint ${best.toFixed(0)} ms > ${limit} ms`);
  });

  await check("log out: the session ends on the server too", async () => {
    const old = (await context.cookies()).find(x => x.name === "a4ps_console").value;
    await page.goto(A.base + "/#/inbox");
    await page.click("#logout");
    await page.waitForSelector("#token");
    const r = await call(A.base, "GET", "/approvals", { headers: { Cookie: `a4ps_console=${old}` } });
    assert.equal(r.status, 401);
  });

  await check("no script errors on any page", async () => assert.deepEqual(pageErrors, []));
} finally {
  await browser.close().catch(() => {});
  evil.close();
  for (const c of children) c.kill("SIGKILL");
}
console.log(`console browser test: ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${artifacts}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
