// Wisp console: plain JavaScript, no build step, no outside resources.
// Each page polls its JSON endpoints under /api/v1/ while it is shown.
"use strict";

const API = "/api/v1";
const POLL_MS = 2000;
const COLORS = { produce: "#3b6fd8", fetch: "#e07b24", put: "#3b6fd8", get: "#2e9d5b", delete: "#c0392b", list: "#8e44ad" };

// h builds an element: h("td", {class: "num"}, "12"). Text is always set as
// text, never as HTML, so names from the cluster cannot inject markup.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US")),
  num: (n, d = 2) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: 0 })),
  bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  },
  uptime(s) {
    if (s === null || s === undefined || s < 0) return "unknown";
    s = Math.floor(s);
    const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return `${d}d ${hh}h ${m}m`;
    if (hh) return `${hh}h ${m}m`;
    if (m) return `${m}m ${sec}s`;
    return `${sec}s`;
  },
  money: (n) => "$" + (n < 1 ? n.toFixed(4) : n.toFixed(2)),
};

async function api(path, options) {
  const resp = await fetch(API + path, options);
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) throw new Error((body && body.error) || `${resp.status} ${resp.statusText}`);
  return body;
}

function banner(msg) {
  const el = document.getElementById("banner");
  el.textContent = msg || "";
  el.hidden = !msg;
}

// lineChart draws series of numbers sharing the time axis into an SVG. Its
// data-points and data-max attributes say what was drawn.
function lineChart(svg, times, series, unit) {
  const W = 560, H = 220, L = 52, R = 8, T = 8, B = 34;
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs) => { const el = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v); return el; };
  svg.replaceChildren();
  let max = 0;
  for (const sr of series) for (const v of sr.values) max = Math.max(max, v);
  svg.dataset.points = String(times.length);
  svg.dataset.max = String(max);
  const top = niceCeil(max);
  const x = (i) => L + (times.length <= 1 ? 0 : (i * (W - L - R)) / (times.length - 1));
  const y = (v) => T + (H - T - B) * (1 - (top ? v / top : 0));
  const grid = s("g", { class: "grid" });
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    grid.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    const label = s("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" });
    label.textContent = fmt.num(v, v < 10 ? 2 : 0);
    grid.append(label);
  }
  svg.append(grid);
  if (times.length) {
    const span = times[times.length - 1] - times[0];
    const first = s("text", { x: L, y: H - B + 14 });
    first.textContent = span ? `-${fmt.uptime(span)}` : "now";
    const last = s("text", { x: W - R, y: H - B + 14, "text-anchor": "end" });
    last.textContent = "now";
    svg.append(first, last);
  }
  let lx = L;
  for (const sr of series) {
    if (sr.values.length) {
      const d = sr.values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      svg.append(s("path", { class: "series", d, stroke: sr.color, "data-series": sr.name }));
    }
    const latest = sr.values.length ? sr.values[sr.values.length - 1] : 0;
    const key = s("text", { x: lx, y: H - 6, class: "legend", fill: sr.color });
    key.textContent = `■ ${sr.name} ${fmt.num(latest, latest < 10 ? 2 : 0)} ${unit}`;
    key.setAttribute("style", `fill:${sr.color}`);
    svg.append(key);
    lx += 128;
  }
}

function niceCeil(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// ---- pages -------------------------------------------------------------

const pages = {
  async overview() {
    const prices = new FormData(document.getElementById("prices"));
    const q = new URLSearchParams();
    for (const k of ["putPer1000", "getPer1000"]) if (prices.get(k) !== "" && prices.get(k) !== null) q.set(k, prices.get(k));
    const [agents, tp, os] = await Promise.all([api("/agents"), api("/throughput?seconds=300"), api("/objstore?" + q)]);
    renderAgents(agents);
    renderThroughput(tp);
    renderObjstore(os);
  },
  async topics() { renderTopics(await api("/topics")); },
  async groups() { renderGroups(await api("/groups")); },
};

function renderAgents(r) {
  document.getElementById("cluster-label").textContent = `cluster ${r.clusterId.slice(0, 12)} · answered by node ${r.nodeId}`;
  const rows = r.agents.map((a) => h("tr", { "data-node": a.nodeId },
    h("td", {}, a.nodeId + (a.self ? " (this agent)" : "")),
    h("td", {}, a.zone || "–"),
    h("td", { class: "role-" + a.raftRole }, a.raftRole),
    h("td", {}, a.kafkaAddr || "–"),
    h("td", {}, a.httpAddr ? h("a", { href: `http://${a.httpAddr}/` }, a.httpAddr) : "–"),
    h("td", { class: "state-" + a.state }, a.state),
    h("td", { class: "num" }, fmt.uptime(a.uptimeSeconds))));
  document.querySelector("#agents tbody").replaceChildren(...rows);
}

function renderThroughput(r) {
  const t = r.series.map((s) => s.t);
  const mib = 1024 * 1024;
  document.getElementById("throughput-scope").textContent =
    `(${r.scope}: ${r.agents.length} agent${r.agents.length === 1 ? "" : "s"}` + (r.unreachable ? `, unreachable: ${Object.keys(r.unreachable).join(", ")}` : "") + ")";
  lineChart(document.getElementById("chart-mib"), t, [
    { name: "produce", color: COLORS.produce, values: r.series.map((s) => s.produceBytesPerSec / mib) },
    { name: "fetch", color: COLORS.fetch, values: r.series.map((s) => s.fetchBytesPerSec / mib) },
  ], "MiB/s");
  lineChart(document.getElementById("chart-records"), t, [
    { name: "produce", color: COLORS.produce, values: r.series.map((s) => s.produceRecordsPerSec) },
    { name: "fetch", color: COLORS.fetch, values: r.series.map((s) => s.fetchRecordsPerSec) },
  ], "rec/s");
  lineChart(document.getElementById("chart-objstore"), t, ["put", "get", "delete", "list"].map((k) => (
    { name: k, color: COLORS[k], values: r.series.map((s) => s.objstoreRequestsPerSec[k] || 0) })), "/s");
}

function renderObjstore(r) {
  const form = document.getElementById("prices");
  for (const k of ["putPer1000", "getPer1000"]) {
    const input = form.elements[k];
    if (input.value === "" && document.activeElement !== input) input.value = r.prices[k];
  }
  const rows = ["put", "get", "delete", "list"].map((k) => h("tr", { "data-kind": k },
    h("td", {}, k.toUpperCase()),
    h("td", { class: "num" }, fmt.num(r.requestsPerSec[k], 2)),
    h("td", { class: "num" }, fmt.int((r.totals[k] || {}).requests)),
    h("td", { class: "num" }, fmt.int((r.totals[k] || {}).errors)),
    h("td", { class: "num" }, fmt.money(r.costPerDay[k]))));
  document.querySelector("#objstore tbody").replaceChildren(...rows);
  document.getElementById("cost-total").textContent = fmt.money(r.costPerDay.total);
  document.getElementById("objstore-note").textContent =
    `Rates averaged over the last ${r.windowSeconds}s across ${r.agents.length} agent(s); cost per day at these request prices (DELETE is free).`;
}

function renderTopics(r) {
  const box = document.getElementById("topics");
  if (!r.topics.length) { box.replaceChildren(h("p", { class: "muted" }, "No topics yet.")); return; }
  box.replaceChildren(...r.topics.map((t) => {
    const hw = t.partitions.reduce((sum, p) => sum + p.highWatermark, 0);
    const rows = t.partitions.map((p) => h("tr", { "data-partition": p.partition },
      h("td", { class: "num" }, p.partition),
      h("td", { class: "num" }, fmt.int(p.logStartOffset)),
      h("td", { class: "num hw" }, fmt.int(p.highWatermark)),
      h("td", { class: "num" }, fmt.bytes(p.bytes)),
      h("td", { class: "num" }, fmt.int(p.entries)),
      h("td", {}, Object.keys(p.filesPerLevel).sort().map((l) => `L${l}: ${p.filesPerLevel[l]}`).join("  ") || "–")));
    return h("div", { class: "card topic", "data-topic": t.name, "data-hw-total": hw },
      h("div", { class: "topic-head" },
        h("h3", {}, t.name),
        h("span", { class: "muted" }, `${t.partitionCount} partitions · ${fmt.int(t.records)} records · ${fmt.bytes(t.bytes)} · id ${t.id}`),
        h("span", { class: "actions" }, h("button", { class: "danger", onclick: () => deleteTopic(t.name) }, "Delete"))),
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, h("th", {}, "Partition"), h("th", {}, "Log start"), h("th", {}, "High watermark"), h("th", {}, "Bytes"), h("th", {}, "Entries"), h("th", {}, "Files per level"))),
        h("tbody", {}, rows)));
  }));
}

async function deleteTopic(name) {
  if (!window.confirm(`Delete topic "${name}" and all its records?`)) return;
  try {
    await api("/topics/" + encodeURIComponent(name), { method: "DELETE" });
    banner("");
    refresh();
  } catch (e) { banner(`Could not delete topic ${name}: ${e.message}`); }
}

function renderGroups(r) {
  const box = document.getElementById("groups");
  if (!r.groups.length) { box.replaceChildren(h("p", { class: "muted" }, "No consumer groups yet.")); return; }
  box.replaceChildren(...r.groups.map((g) => {
    const members = g.members.map((m) => h("tr", {},
      h("td", {}, m.memberId), h("td", {}, m.clientId), h("td", {}, m.clientHost),
      h("td", {}, m.assignments.map((a) => `${a.topic} [${a.partitions.join(", ")}]`).join("; ") || "–")));
    const offsets = g.offsets.map((o) => h("tr", { "data-topic": o.topic, "data-partition": o.partition },
      h("td", {}, o.topic), h("td", { class: "num" }, o.partition),
      h("td", { class: "num" }, o.committedOffset < 0 ? "–" : fmt.int(o.committedOffset)),
      h("td", { class: "num" }, fmt.int(o.highWatermark)),
      h("td", { class: "num lag" }, o.lag === null ? "–" : fmt.int(o.lag)),
      h("td", {}, o.memberId || "–")));
    return h("div", { class: "card group", "data-group": g.group, "data-total-lag": g.totalLag, "data-members": g.members.length },
      h("h3", {}, g.group),
      h("div", { class: "meta" },
        "state ", h("b", {}, g.state), " · type ", h("b", {}, g.type), " · assignor ", h("b", {}, g.protocol || "–"),
        " · coordinator ", h("b", {}, "node " + g.coordinator), " · members ", h("b", {}, g.members.length),
        " · total lag ", h("b", { class: "total-lag" }, fmt.int(g.totalLag))),
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, h("th", {}, "Member"), h("th", {}, "Client id"), h("th", {}, "Host"), h("th", {}, "Assignment"))),
        h("tbody", {}, members.length ? members : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "no members")))),
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, h("th", {}, "Topic"), h("th", {}, "Partition"), h("th", {}, "Committed"), h("th", {}, "High watermark"), h("th", {}, "Lag"), h("th", {}, "Member"))),
        h("tbody", {}, offsets)));
  }));
}

// ---- routing and polling -------------------------------------------------

let current = null;
let timer = null;

function route() {
  const name = (location.hash.replace(/^#\/?/, "").split("/")[0]) || "overview";
  current = pages[name] ? name : "overview";
  for (const sec of document.querySelectorAll(".page")) sec.hidden = sec.id !== "page-" + current;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === current);
  refresh();
}

async function refresh() {
  clearTimeout(timer);
  const page = current;
  try {
    await pages[page]();
    banner("");
  } catch (e) {
    banner(`Could not load ${page}: ${e.message}. Retrying…`);
  }
  if (page === current) timer = setTimeout(refresh, POLL_MS);
}

document.getElementById("create-topic").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const out = document.getElementById("create-topic-result");
  const body = { name: form.elements.name.value.trim(), partitions: Number(form.elements.partitions.value) || 0 };
  try {
    await api("/topics", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    out.textContent = `created ${body.name}`;
    out.classList.remove("err");
    form.elements.name.value = "";
    refresh();
  } catch (e) {
    out.textContent = e.message;
    out.classList.add("err");
  }
});
document.getElementById("prices").addEventListener("change", () => refresh());
window.addEventListener("hashchange", route);
route();
