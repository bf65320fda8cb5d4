// Building the page. Everything the model or a user wrote goes in as text (textContent,
// text nodes, attribute values): nothing is ever parsed as HTML, so a transcript that
// says <script> or links to javascript: stays inert.
const SVG = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "href" && !/^#/.test(String(v))) throw new Error("the console links only within itself");
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG, tag), attrs, children);

export function mount(el, ...children) {
  el.replaceChildren();
  return build(el, {}, children);
}

export const when = iso => (iso ? String(iso).replace("T", " ").replace(/\.\d+Z?$|Z$/, "") : "");

// A unified diff, a line each, coloured by what it does.
export function diffView(text) {
  if (!text) return h("p", { class: "muted", text: "no differences" });
  const pre = h("pre", { class: "diff" });
  for (const line of text.split("\n")) {
    const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : null;
    pre.append(cls ? h("span", { class: cls, text: line }) : document.createTextNode(line), "\n");
  }
  return pre;
}

// A line chart of numbers (a loss curve) as SVG.
export function lineChart(values, { width = 360, height = 140, label = "" } = {}) {
  const pad = 28;
  const svg = s("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  if (!values.length) return svg;
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  const x = i => pad + (values.length === 1 ? 0 : (i * (width - 2 * pad)) / (values.length - 1));
  const y = v => height - pad - ((v - lo) * (height - 2 * pad)) / span;
  svg.append(s("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad }),
             s("line", { x1: pad, y1: pad, x2: pad, y2: height - pad }),
             s("text", { x: 2, y: pad, text: hi.toPrecision(3) }),
             s("text", { x: 2, y: height - pad, text: lo.toPrecision(3) }),
             s("text", { x: width - pad - 40, y: height - 6, text: `${values.length} steps` }),
             s("polyline", { points: values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
  return svg;
}

export function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.textContent = ""), 6000);
}

// A button that runs an async action, disabled meanwhile; a failure is shown, not thrown.
export function action(label, fn, attrs = {}) {
  const b = h("button", { type: "button", ...attrs, text: label });
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await fn();
    } catch (e) {
      toast(e.message);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}
