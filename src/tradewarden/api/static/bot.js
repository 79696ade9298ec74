// One bot: status, risk, charts, positions, orders, a live event feed (server-sent events) and, for operators,
// the kill switch and pause/resume. Data refreshes after each event that changes it, and every few seconds.
"use strict";

const KEY = new URLSearchParams(location.search).get("key") || "";
const BASE = "/api/v1/bots/" + encodeURIComponent(KEY);
const REFRESH_MS = 3000;
const FEED_MAX = 300;
const CHANGES = new Set(["Fill", "EquitySample", "OrderPlaced", "OrderCancelled", "OrderRejected", "PositionOpened",
  "PositionClosed", "TradingStateChanged", "KillSwitchActivated", "KillSwitchDeactivated", "CircuitBreakerTripped",
  "CircuitBreakerReset"]);
let killActive = false;
let pending = null;

function setBadge(id, text) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.className = "badge " + text;
}

function worst(states) {
  const order = ["HALTED", "REDUCING", "ACTIVE"];
  const values = Object.values(states);
  for (const s of order) if (values.includes(s)) return s;
  return values[0] || "ACTIVE";
}

async function refresh() {
  try {
    const [bot, risk, positions, orders, equity, fills, marks] = await Promise.all([
      TW.api(BASE), TW.api("/api/v1/risk"), TW.api(BASE + "/positions"), TW.api(BASE + "/orders"),
      TW.api(BASE + "/equity?limit=5000"), TW.api(BASE + "/recent-events?type=Fill&limit=2000"),
      TW.api(BASE + "/marks")]);
    document.getElementById("bot-title").textContent = bot.bot.id;
    setBadge("bot-state", bot.bot.state);
    document.getElementById("bot-mode").textContent = `${bot.bot.mode} · ${bot.bot.strategy} · ` +
      bot.bot.symbols.join(", ");
    // what the bots applied (HALTED once a bot acknowledged the kill switch), not what was asked
    setBadge("trading-state", worst(risk.trading_states));
    killActive = risk.kill_switch;
    document.getElementById("kill-state").textContent = risk.kill_switch ? `ON: ${risk.kill_switch_reason}` : "off";
    document.getElementById("kill-off").classList.toggle("hidden", !killActive);
    document.getElementById("kill-switch").classList.toggle("hidden", killActive);
    document.getElementById("stage").textContent = risk.stage || "—";
    document.getElementById("equity").textContent = TW.amount(bot.equity);
    document.getElementById("pnl").replaceChildren(TW.signed(bot.pnl));
    document.getElementById("breakers").textContent = risk.tripped_breakers.join("; ") || "none";
    TW.table(document.getElementById("positions"), ["Symbol", "Qty", "Entry", "Mark", "Unrealized", "Realized today"],
      positions.filter((p) => Number(p.qty) !== 0).map((p) => [p.symbol, p.qty, p.entry_price, TW.amount(p.mark),
        TW.signed(p.unrealized), TW.signed(p.realized_today)]), "No open position.");
    TW.table(document.getElementById("orders"), ["Order", "Symbol", "Side", "Type", "Qty", "Price", "Placed"],
      orders.map((o) => [o.client_id, o.symbol, o.side, o.order_type, o.qty, TW.amount(o.price), TW.time(o.ts)]),
      "No open order.");
    charts(equity, fills.events.map((e) => ({ ...e.record, ts: e.ts })), marks);
    TW.showError("");
  } catch (err) {
    TW.showError(err);
  }
}

function charts(equity, trades, marks) {
  const curve = equity.map((p) => [p.ts, Number(p.equity)]);
  const onCurve = trades.map((t) => ({ ts: t.ts, value: CHART.at(curve, t.ts), side: t.side,
                                        label: `${t.qty} ${t.symbol} @ ${t.price}` }));
  document.getElementById("equity-chart").replaceChildren(CHART.draw(curve, { markers: onCurve }));
  document.getElementById("drawdown-chart").replaceChildren(
    CHART.draw(CHART.drawdown(curve), { height: 120, area: true, unit: "%" }));
  const box = document.getElementById("price-charts");
  box.replaceChildren();
  for (const [symbol, points] of Object.entries(marks)) {
    const fills = trades.filter((t) => t.symbol === symbol)
      .map((t) => ({ ts: t.ts, value: Number(t.price), side: t.side, label: `${t.qty} @ ${t.price}` }));
    box.append(TW.el("h3", { text: symbol }),
      CHART.draw(points.map(([ts, price]) => [ts, Number(price)]), { height: 200, markers: fills }));
  }
}

function later() {
  if (pending === null) pending = setTimeout(() => { pending = null; refresh(); }, 250);
}

function feedLine(ev) {
  const rec = ev.record || {};
  const detail = Object.entries(rec).filter(([k]) => !["type", "ts", "seq", "category"].includes(k))
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  return TW.el("div", { "data-id": String(ev.id), text: `${TW.time(ev.ts)}  ${ev.type}  ${detail}` });
}

function addEvent(ev) {
  const feed = document.getElementById("events");
  feed.prepend(feedLine(ev));
  while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
  if (CHANGES.has(ev.type)) later();
}

async function feed() {
  const recent = await TW.api(BASE + "/recent-events?limit=100");
  for (const ev of recent.events) addEvent(ev);
  const source = new EventSource(`${BASE}/stream?after=${recent.last}`);
  const handler = (msg) => {
    const record = JSON.parse(msg.data);
    addEvent({ id: Number(msg.lastEventId), ts: record.ts, type: msg.type, record });
  };
  // the stream names each message by its event type, and EventSource delivers a named message only to a
  // listener of that name: listen to every type there is (the server lists them)
  for (const type of recent.types) source.addEventListener(type, handler);
  source.addEventListener("message", handler);
  return source;
}

async function command(kind) {
  const out = document.getElementById("command-result");
  try {
    const reason = document.getElementById("command-reason").value;
    const done = await TW.api(`/api/v1/commands/${kind}`, { reason });
    out.textContent = `${kind} queued (#${done.id}); the bot applies it at its next poll`;
  } catch (err) {
    out.textContent = String(err.message || err);
  }
}

function operatorControls() {
  document.getElementById("controls").classList.remove("hidden");
  const dialog = document.getElementById("kill-dialog");
  let turnOn = true;
  const open = (on) => {
    turnOn = on;
    document.getElementById("kill-dialog-title").textContent = on ? "Activate the kill switch" : "Release the kill switch";
    document.getElementById("kill-dialog-text").textContent = on
      ? "Every bot on this database stops opening positions and cancels its entry orders."
      : "Bots may trade again once released.";
    document.getElementById("kill-reason").value = "";
    document.getElementById("kill-confirm-box").checked = false;
    dialog.showModal();
  };
  document.getElementById("kill-switch").addEventListener("click", () => open(true));
  document.getElementById("kill-off").addEventListener("click", () => open(false));
  document.getElementById("kill-cancel").addEventListener("click", () => dialog.close());
  document.getElementById("kill-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = document.getElementById("kill-reason").value.trim();
    if (!reason || !document.getElementById("kill-confirm-box").checked) {
      document.getElementById("kill-dialog-text").textContent = "Give a reason and tick \u201cI am sure\u201d.";
      return;
    }
    dialog.close();
    try {
      const done = await TW.api("/api/v1/kill-switch", { active: turnOn, reason });
      document.getElementById("command-result").textContent =
        `kill switch ${done.active ? "ON" : "off"} (event ${done.event_id})`;
    } catch (err) {
      TW.showError(err);
    }
    refresh();
  });
  document.getElementById("pause").addEventListener("click", () => command("pause"));
  document.getElementById("resume").addEventListener("click", () => command("resume"));
}

TW.nav("/").then(async (me) => {
  if (me.role === "operator") operatorControls();
  await refresh();
  setInterval(refresh, REFRESH_MS);
  await feed();
}).catch(TW.showError);
