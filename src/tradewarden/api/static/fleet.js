// The fleet: one card per bot on the database, refreshed every two seconds.
"use strict";

const REFRESH_MS = 2000;

function card(bot) {
  const { el } = TW;
  const fact = (name, cls, value) => [el("dt", { text: name }), el("dd", { class: cls }, value)];
  const link = el("a", { href: "/bot?key=" + encodeURIComponent(bot.key), text: bot.account });
  return el("div", { class: "card", "data-key": bot.key },
    el("h3", {}, link),
    el("dl", {},
      ...fact("State", "state", el("span", { class: "badge " + bot.state, text: bot.state })),
      ...fact("Mode", "mode", bot.mode),
      ...fact("Symbols", "symbols", bot.symbols.join(", ")),
      ...fact("Equity", "equity", TW.amount(bot.equity)),
      ...fact("PnL today", "pnl-today", TW.signed(bot.pnl_today)),
      ...fact("Open positions", "open-positions", String(bot.open_positions)),
      ...fact("Heartbeat", "heartbeat", TW.age(bot.heartbeat_age_s) + " ago")),
    el("div", { class: "error problems", text: bot.problems.join("; ") }));
}

async function refresh() {
  try {
    const fleet = await TW.api("/api/v1/fleet");
    document.getElementById("fleet").replaceChildren(...fleet.bots.map(card));
    document.getElementById("fleet-empty").hidden = fleet.bots.length > 0;
    TW.showError("");
  } catch (err) {
    TW.showError(err);
  }
}

TW.nav("/").then(() => {
  refresh();
  setInterval(refresh, REFRESH_MS);
}, TW.showError);
