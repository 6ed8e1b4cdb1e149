// Shared by the dashboard and the configuration page (inlined by ui/app.py); INIT is the page's inline data.
"use strict";
const INIT = JSON.parse(document.getElementById("initial-data").textContent);
const $ = (id) => document.getElementById(id);
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
const num = (v) => (v == null ? "–" : Number(v).toLocaleString("en-US"));
const dec = (v, d = 1) => (v == null ? "–" : Number(v).toFixed(d));
const pct = (v) => (v == null ? "–" : Math.round(v * 100) + "%");
const when = (iso) => (iso ? iso.replace("T", " ").slice(5, 16) + " UTC" : "–");
const epoch = (s) => (s ? when(new Date(s * 1000).toISOString()) : "–");
function dur(s) {
  if (s == null) return "–";
  s = Math.round(s);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}
const STATUS_CLASS = { success: "ok", partial: "warn", running: "run", incomplete: "bad", failed: "bad",
                       Failed: "warn", "Rate Limited": "warn", Dead: "bad" };
const badge = (s) => `<span class="badge ${STATUS_CLASS[s] ?? ""}">${esc(s)}</span>`;
const table = (head, rows, empty) => rows.length
  ? `<table><thead><tr>${head.map(([t, c]) => `<th class="${c || ""}">${esc(t)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table>`
  : `<p class="muted">${esc(empty)}</p>`;


function showBanner(text) {
  $("banner").hidden = !text;
  $("banner").textContent = text || "";
}

async function getJSON(path) {
  const resp = await fetch(INIT.api + path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await resp.json().catch(() => ({}));
  if (resp.status === 401 || resp.status === 403) throw new Error("Not signed in, or not allowed to read DAG runs: reload the Airflow UI.");
  if (!resp.ok) throw new Error(body.detail || `HTTP ${resp.status}`);
  return body;
}

