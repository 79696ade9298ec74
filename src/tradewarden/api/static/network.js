// The network: one section per exchange of the fleet registry with a card per instance (state, heartbeat age,
// symbols, warm-up progress, last error; Connect and Stop for operators), a warm-up panel, the activity feed of
// instance events (newest first) and the accounts with their setup form (operators). Instances and events are
// polled every second; cards are updated in place, so a button is never replaced under the pointer.
"use strict";

const FAST_MS = 1000;       // instances and the activity feed
const SLOW_MS = 10000;      // exchanges, harness results, accounts
const FEED_MAX = 300;
const API = "/api/v1/fleet";
let operator = false;
let lastEvent = 0;
let exchanges = [];
let accounts = [];
const cards = new Map();    // instance id -> { root, parts }
const WARMING = new Set(["starting", "warming"]);

function badge(node, shown) {
  node.textContent = shown;
  node.className = "badge inst-" + shown;
}

function progressText(p) {
  const pct = Math.round(p.fraction * 100);
  return `symbols ${p.symbols_done}/${p.symbols_total} · candles ${p.candles_done}/${p.candles_total} (${pct}%)`;
}

function heartbeat(inst) {
  return inst.heartbeat_age_ms === null ? "—" : TW.age(Math.floor(inst.heartbeat_age_ms / 1000)) + " ago";
}

async function desire(inst, action, out) {
  out.textContent = "";
  try {
    const button = action === "connect" ? "Connect" : "Stop";
    const done = await TW.api(`${API}/instances/${inst.id}/${action}`, { reason: `${button} on the Network page` });
    out.textContent = `desired ${done.desired}: the agent on ${done.host} acts on it`;
    update(done);
  } catch (err) {
    out.textContent = String(err.message || err);
  }
}

function newCard(inst) {
  const { el } = TW;
  const parts = {};
  const fact = (name, cls, node) => {
    parts[cls] = node || el("span", {});
    return [el("dt", { text: name }), el("dd", { class: cls }, parts[cls])];
  };
  parts.bar = el("progress", { class: "bar" });
  parts.barText = el("span", { class: "progress-text" });
  const root = el("div", { class: "card instance", "data-id": String(inst.id) },
    el("h3", { text: `#${inst.id} ${inst.role.replace("_", " ")} · ${inst.host}` }),
    el("dl", {},
      ...fact("State", "state"), ...fact("Desired", "desired"), ...fact("Heartbeat", "heartbeat"),
      ...fact("Symbols", "symbols"), ...fact("Timeframes", "timeframes"), ...fact("Account", "account"),
      ...fact("Warm-up", "progress", el("span", {}, parts.bar, " ", parts.barText)),
      ...fact("Last error", "last-error")));
  if (operator) {
    parts.connect = el("button", { type: "button", class: "connect", text: "Connect" });
    parts.stop = el("button", { type: "button", class: "stop", text: "Stop" });
    parts.result = el("span", { class: "muted action-result" });
    root.append(el("div", { class: "controls" }, parts.connect, parts.stop, parts.result));
    parts.connect.addEventListener("click", () => desire(parts.inst, "connect", parts.result));
    parts.stop.addEventListener("click", () => desire(parts.inst, "stop", parts.result));
  }
  return { root, parts };
}

function update(inst) {
  let card = cards.get(inst.id);
  if (!card) {
    card = newCard(inst);
    cards.set(inst.id, card);
  }
  const p = card.parts;
  p.inst = inst;
  badge(p.state, inst.shown);
  p.desired.textContent = inst.desired;
  p.heartbeat.textContent = heartbeat(inst);
  p.symbols.textContent = inst.symbols.join(", ") || "—";
  p.timeframes.textContent = inst.timeframes.join(", ") || "—";
  p.account.textContent = inst.account || "—";
  const none = !inst.progress.symbols_total && !inst.progress.candles_total;  // never warmed up
  p.bar.classList.toggle("hidden", none);
  p.bar.max = 1;
  p.bar.value = inst.progress.fraction;
  p.barText.textContent = none ? "—" : progressText(inst.progress);
  p["last-error"].textContent = inst.last_error || "—";
  p["last-error"].classList.toggle("error", Boolean(inst.last_error));
  if (operator) {
    p.connect.disabled = inst.desired === "running";
    p.stop.disabled = inst.desired === "stopped";
  }
}

function exchangeSection(ex) {
  const { el } = TW;
  const id = "exchange-" + ex.slug;
  let section = document.getElementById(id);
  if (!section) {
    section = el("section", { class: "exchange", id, "data-slug": ex.slug },
      el("h2", { class: "exchange-title" }), el("div", { class: "card exchange-card" }),
      el("div", { class: "cards instances" }));
    document.getElementById("exchanges").append(section);
  }
  section.querySelector(".exchange-title").textContent = `${ex.display_name} (${ex.slug})`;
  return section;
}

function exchangeFacts(ex, run) {
  const { el } = TW;
  const flags = [ex.is_active ? "active" : "inactive", ex.is_default ? "default" : ""].filter(Boolean).join(", ");
  const harness = run === undefined ? "never run (tradewarden harness --exchange " + ex.slug + ")"
    : `${run.passed ? "PASS" : "FAIL"} at ${TW.time(run.ts)}: ` +
      run.tests.map((t) => `${t.test} ${t.passed ? "PASS" : "FAIL"}`).join(", ");
  return el("dl", {},
    el("dt", { text: "ccxt id" }), el("dd", { class: "ccxt", text: ex.ccxt_id }),
    el("dt", { text: "REST URL" }), el("dd", { class: "rest", text: ex.rest_url || "ccxt's" }),
    el("dt", { text: "WebSocket URL" }), el("dd", { class: "ws", text: ex.ws_url || "ccxt's" }),
    el("dt", { text: "Registry" }), el("dd", { class: "flags", text: `id ${ex.id}, ${flags}` }),
    el("dt", { text: "Harness" }), el("dd", { class: run && !run.passed ? "harness error" : "harness",
                                               text: harness }));
}

async function refreshSlow() {
  const [ex, runs, accs, users] = await Promise.all([TW.api(`${API}/exchanges`), TW.api(`${API}/harness`),
    TW.api(`${API}/accounts`), TW.api(`${API}/users`)]);
  exchanges = ex;
  accounts = accs;
  const byExchange = new Map(runs.map((r) => [r.exchange, r]));
  for (const e of exchanges) {
    exchangeSection(e).querySelector(".exchange-card").replaceChildren(exchangeFacts(e, byExchange.get(e.slug)));
  }
  showAccounts();
  const select = document.getElementById("account-exchange");
  const chosen = select.value;
  select.replaceChildren(...exchanges.map((e) => TW.el("option", { value: e.slug, text: e.slug })));
  if (chosen) select.value = chosen;
  document.getElementById("account-users").replaceChildren(...users.map((u) => TW.el("option", { value: u.name })));
}

function showWarmup(list) {
  const box = document.getElementById("warmup");
  const warming = list.filter((i) => WARMING.has(i.shown));
  if (!warming.length) {
    if (!box.querySelector("p.muted")) box.replaceChildren(TW.el("p", { class: "muted",
                                                                          text: "No instance is warming up." }));
    return;
  }
  box.querySelector("p.muted")?.remove();
  const keep = new Set(warming.map((i) => String(i.id)));
  for (const row of [...box.querySelectorAll(".warmup-row")]) if (!keep.has(row.dataset.id)) row.remove();
  for (const inst of warming) {
    let row = box.querySelector(`.warmup-row[data-id="${inst.id}"]`);
    if (!row) {
      row = TW.el("div", { class: "warmup-row", "data-id": String(inst.id) },
        TW.el("span", { class: "label", text: `${inst.exchange} #${inst.id} ${inst.role.replace("_", " ")}` }),
        TW.el("progress", { class: "bar" }), TW.el("span", { class: "progress-text" }));
      box.append(row);
    }
    const bar = row.querySelector("progress");
    bar.max = 1;
    bar.value = inst.progress.fraction;
    row.querySelector(".progress-text").textContent = progressText(inst.progress);
  }
}

async function refreshFast() {
  const [list, page] = await Promise.all([TW.api(`${API}/instances`), TW.api(`${API}/events?after=${lastEvent}`)]);
  for (const inst of list.instances) {
    update(inst);
    const section = document.getElementById("exchange-" + inst.exchange);
    const card = cards.get(inst.id).root;
    if (section && card.parentNode !== section.querySelector(".instances")) {
      section.querySelector(".instances").append(card);
    }
  }
  for (const section of document.querySelectorAll("section.exchange")) {
    const grid = section.querySelector(".instances");
    const none = grid.querySelector("p.muted");
    if (grid.querySelector(".instance")) none?.remove();
    else if (!none) grid.append(TW.el("p", { class: "muted",
      text: `No instance yet: tradewarden instance run --exchange ${section.dataset.slug}` }));
  }
  showWarmup(list.instances);
  addEvents(page.events);
  lastEvent = page.next;
}

function addEvents(events) {
  const feed = document.getElementById("activity");
  for (const ev of events) {
    const what = ev.kind === "transition" ? `${ev.from_state} → ${ev.to_state}`
      : ev.kind === "desired" ? `desired ${ev.to_state}` : ev.kind === "registered" ? "registered" : ev.kind;
    const who = ev.actor ? ` (${ev.actor})` : "";
    feed.prepend(TW.el("div", { "data-id": String(ev.id), class: "kind-" + ev.kind,
      text: `${TW.time(ev.ts)}  ${ev.exchange || "?"} #${ev.instance_id}  ${what}  ${ev.reason}${who}` }));
  }
  while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
}

function showAccounts() {
  const rows = accounts.map((a) => {
    const cells = [a.user, a.exchange, a.display_name, a.api_key_env || "—", a.api_secret_env || "—",
      a.is_active ? "yes" : "no", a.is_default ? "yes" : "no"];
    if (operator) {
      const edit = TW.el("button", { type: "button", class: "edit", "data-id": String(a.id), text: "Edit" });
      edit.addEventListener("click", () => editAccount(a));
      cells.push(edit);
    }
    return cells;
  });
  const headers = ["User", "Exchange", "Name", "Key variable", "Secret variable", "Active", "Default"];
  TW.table(document.getElementById("accounts"), operator ? [...headers, ""] : headers, rows, "No account yet.");
}

function formFields() {
  const v = (id) => document.getElementById(id);
  return { id: v("account-id"), user: v("account-user"), exchange: v("account-exchange"), name: v("account-name"),
           key: v("account-key-env"), secret: v("account-secret-env"), active: v("account-active"),
           isDefault: v("account-default") };
}

function editAccount(a) {
  const f = formFields();
  f.id.value = String(a.id);
  f.user.value = a.user;
  f.exchange.value = a.exchange;
  f.user.disabled = f.exchange.disabled = true;  // an account moves to no other user or exchange
  f.name.value = a.display_name;
  f.key.value = a.api_key_env || "";
  f.secret.value = a.api_secret_env || "";
  f.active.checked = a.is_active;
  f.isDefault.checked = a.is_default;
  document.getElementById("account-form-title").textContent = `Edit account #${a.id}`;
}

function newAccount() {
  const f = formFields();
  document.getElementById("account-form").reset();
  f.id.value = "";
  f.user.disabled = f.exchange.disabled = false;
  document.getElementById("account-form-title").textContent = "New account";
}

async function saveAccount(ev) {
  ev.preventDefault();
  const f = formFields();
  const error = document.getElementById("account-error");
  const result = document.getElementById("account-result");
  error.textContent = result.textContent = "";
  const fields = { display_name: f.name.value, api_key_env: f.key.value.trim(),
                   api_secret_env: f.secret.value.trim(), is_active: f.active.checked,
                   is_default: f.isDefault.checked };
  try {
    const saved = f.id.value
      ? await TW.api(`${API}/accounts/${encodeURIComponent(f.id.value)}`, fields, "PUT")
      : await TW.api(`${API}/accounts`, { user: f.user.value, exchange: f.exchange.value, ...fields });
    result.textContent = `saved account #${saved.id} (${saved.user} on ${saved.exchange}: ${saved.display_name})`;
    newAccount();
    await refreshSlow();
  } catch (err) {
    error.textContent = String(err.message || err);
  }
}

function operatorControls() {
  document.getElementById("account-form").classList.remove("hidden");
  document.getElementById("account-form").addEventListener("submit", saveAccount);
  document.getElementById("account-new").addEventListener("click", newAccount);
}

// fn now and then again `ms` after each run ends: a slow answer never overlaps the next poll (the feed would
// otherwise fetch the same events twice)
async function every(ms, fn) {
  try {
    await fn();
    TW.showError("");
  } catch (err) {
    TW.showError(err);
  }
  setTimeout(() => every(ms, fn), ms);
}

TW.nav("/network").then(async (me) => {
  operator = me.role === "operator";
  if (operator) operatorControls();
  await every(SLOW_MS, refreshSlow);
  await every(FAST_MS, refreshFast);
}).catch(TW.showError);
