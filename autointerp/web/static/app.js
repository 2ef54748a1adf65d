// autointerp serve: small hand-written helpers. Text from the corpus, an LLM or a file is only ever
// set with textContent, never parsed as HTML.
"use strict";

function el(tag, props, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "text") node.textContent = v;
    else if (k === "style") node.style.cssText = v;
    else node.setAttribute(k, v);
  }
  for (const c of children || []) node.append(c);
  return node;
}

function shade(a, scale) {
  const x = scale > 0 ? Math.max(-1, Math.min(1, a / scale)) : 0;
  return x >= 0 ? `rgba(255,120,0,${x.toFixed(3)})` : `rgba(40,110,255,${(-x).toFixed(3)})`;
}

function pyRepr(s) {  // how the server shows a token on hover (Python repr, close enough)
  return "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n").replace(/\t/g, "\\t") + "'";
}

async function postJSON(url, body) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  let data = null;
  try { data = await r.json(); } catch (e) { data = { error: `HTTP ${r.status}` }; }
  return { ok: r.ok, status: r.status, data };
}

// ---- sortable tables: click a header; numbers sort by data-v ----
function sortable(table) {
  const heads = table.querySelectorAll("thead th");
  heads.forEach((th, col) => th.addEventListener("click", () => {
    const num = th.dataset.type === "num";
    const dir = th.classList.contains("desc") ? 1 : -1;  // first click: descending
    heads.forEach(h => h.classList.remove("asc", "desc"));
    th.classList.add(dir === 1 ? "asc" : "desc");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const key = r => { const c = r.cells[col]; return num ? parseFloat(c.dataset.v ?? c.textContent) : c.textContent.trim().toLowerCase(); };
    rows.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * dir; });
    body.append(...rows);
  }));
}

// ---- the "test it" box ----
function renderProbe(out, res, scale) {
  out.textContent = "";
  const own = Math.max(1e-9, ...res.records.flatMap(r => r.activations.slice(r.has_bos ? 1 : 0).map(Math.abs)));
  const s = scale > 0 ? scale : own;
  res.records.forEach((rec, i) => {
    const tokens = el("div", { class: "tokens" });
    rec.tokens.forEach((t, j) => {
      if (j === 0 && rec.has_bos) return;
      const a = rec.activations[j];
      tokens.append(el("span", { class: j === rec.max_index ? "max" : "", style: `background:${shade(a, s)}`,
                                 title: `${pyRepr(t)}: ${a.toFixed(4)}`, "data-act": String(a), text: t.replace(/\r/g, "").replace(/\n/g, "↵\n") }));
    });
    const head = el("div", { class: "head", text: `${i + 1}. max ${rec.max_activation.toFixed(4)} on ${pyRepr(rec.max_token)}` });
    out.append(el("div", { class: "probe-rec" }, [head, tokens]));
  });
}

function setupProbe(form) {
  const out = document.getElementById("probe-out"), status = document.getElementById("probe-status");
  const scale = parseFloat(document.getElementById("neuron").dataset.scale) || 0;
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const texts = form.texts.value.split("\n").filter(t => t.trim());
    if (!texts.length) { status.textContent = "type some text first"; return; }
    status.textContent = "running…";
    const r = await postJSON("/api/probe", { neuron: form.dataset.neuron, texts });
    if (!r.ok) { status.textContent = r.data.error || `HTTP ${r.status}`; return; }
    status.textContent = "";
    renderProbe(out, r.data, scale);
  });
}

// ---- effects ----
function setupEffects(btn) {
  const out = document.getElementById("effects-out"), status = document.getElementById("effects-status");
  btn.addEventListener("click", async () => {
    btn.disabled = true; status.textContent = "running the model…";
    const r = await postJSON(`/api/neurons/${encodeURIComponent(btn.dataset.neuron)}/effects`);
    btn.disabled = false;
    if (!r.ok) { status.textContent = r.data.error || `HTTP ${r.status}`; return; }
    status.textContent = "";
    const e = r.data, list = (label, items) => {
      const ul = el("ul");
      for (const t of items) ul.append(el("li", {}, [el("code", { text: pyRepr(t.token) }), ` ${t.value >= 0 ? "+" : ""}${t.value.toFixed(3)}`]));
      return [el("h4", { text: label }), ul];
    };
    out.textContent = "";
    out.append(el("p", { class: "meta", text: e.norm_handling }));
    out.append(...list("promoted (direct logit attribution)", e.promoted.slice(0, 10)));
    out.append(...list("suppressed", e.suppressed.slice(0, 10)));
    out.append(el("p", { text: `mean ablation to ${e.ablation_value.toFixed(4)} on ${e.ablation_contexts} top contexts: loss on the real next tokens ${e.ablation_loss_change >= 0 ? "+" : ""}${e.ablation_loss_change.toFixed(5)}` }));
    out.append(...list("next-token probability lost most", e.ablation_lost.slice(0, 10)));
    out.append(...list("gained most", e.ablation_gained.slice(0, 10)));
    if (e.patching) {
      const p = e.patching;
      out.append(el("p", { text: `patching: window ${p.window} position ${p.position}: ${pyRepr(p.clean_token)} → ${pyRepr(p.corrupt_token)} (activation ${p.clean_activation.toFixed(3)} → ${p.corrupt_activation.toFixed(3)}); log p(${pyRepr(p.predicted)}) clean ${p.clean_logprob.toFixed(3)}, edited ${p.corrupt_logprob.toFixed(3)}, patched ${p.patched_logprob.toFixed(3)}: ${(100 * p.restored).toFixed(1)}% restored` }));
    }
  });
}

// ---- explain: start a run, stream its steps (server-sent events) ----
function eventItem(v) {
  const li = el("li", { class: `ev ev-${v.type}` }, [el("div", { class: "title" }, [el("span", { class: "step", text: `[${v.step}] ` }), v.title])]);
  if (v.body) li.append(el("pre", { class: "body", text: v.body }));
  return li;
}

function follow(form, info) {
  const live = document.getElementById("live"), status = document.getElementById("explain-status");
  const result = document.getElementById("explain-result"), button = form.querySelector("button");
  button.disabled = true;
  live.textContent = ""; result.textContent = "";
  status.textContent = `running ${info.method} (run ${info.run})…`;
  const es = new EventSource(info.stream);
  es.addEventListener("step", m => { live.append(eventItem(JSON.parse(m.data))); status.textContent = `running… ${live.children.length} events`; });
  const finish = m => {
    es.close();
    button.disabled = false;
    const run = JSON.parse(m.data);
    form.dataset.done = run.status;
    if (run.status === "done") {
      const head = run.record.scores.length ? run.record.scores[0].value : undefined;
      const score = head === undefined ? "unscored" : head === null ? "undefined" : head.toFixed(4);
      const sure = run.record.confident ? "confident" : "unconfident";
      status.textContent = `done: stored as ${run.stored_id}`;
      result.append(el("p", { class: "text", text: run.record.text }, [" ", el("span", { class: `badge ${sure}`, text: sure })]), el("p", { class: "meta", text: `held-out score ${score}; ` }, [el("a", { href: location.pathname + location.search, text: "reload to see it with the others" })]));
    } else {
      status.textContent = `failed: ${run.error}`;
    }
  };
  es.addEventListener("done", finish);
  es.addEventListener("failed", finish);
}

function setupExplain(form) {
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const body = { method: form.method.value, llm: form.llm.value, max_steps: parseInt(form.max_steps.value, 10) || 8 };
    const r = await postJSON(`/api/neurons/${encodeURIComponent(form.dataset.neuron)}/explain`, body);
    const status = document.getElementById("explain-status");
    if (r.status === 409) { status.textContent = "a run for this neuron is already going: following it"; follow(form, r.data); return; }
    if (!r.ok) { status.textContent = r.data.error || `HTTP ${r.status}`; return; }
    follow(form, r.data);
  });
  if (form.dataset.run) fetch(`/api/runs/${form.dataset.run}`).then(r => r.json()).then(info => follow(form, info));
}

// ---- triage on the layer and dictionary pages: the form posts to `url` ----
function setupTriage(form, url) {
  const status = document.getElementById("triage-status");
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    status.textContent = "running…";
    const r = await postJSON(url, { neurons: form.neurons.value, threshold: parseFloat(form.threshold.value) });
    if (!r.ok) { status.textContent = r.data.error || `HTTP ${r.status}`; return; }
    location.reload();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(sortable);
  const probe = document.getElementById("probe"); if (probe) setupProbe(probe);
  const eff = document.getElementById("effects-btn"); if (eff) setupEffects(eff);
  const ex = document.getElementById("explain"); if (ex) setupExplain(ex);
  const tri = document.getElementById("triage"); if (tri) setupTriage(tri, tri.dataset.url);
});
