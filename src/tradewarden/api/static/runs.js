// The runs directory's reports (backtests' summary.html, optimizations' optimization.html), newest first.
"use strict";

async function load() {
  const runs = await TW.api("/api/v1/runs");
  TW.table(document.getElementById("runs"), ["Run", "Kind", "Written", "Return %", "Sharpe", "Max DD %", "Trades"],
    runs.map((r) => [
      TW.el("a", { href: "/runs/" + r.report.split("/").map(encodeURIComponent).join("/"), target: "_blank",
                   rel: "noopener noreferrer", class: "run-link", text: r.path }),
      r.kind, TW.time(r.modified), r.metrics.total_return ?? "", r.metrics.sharpe ?? "",
      r.metrics.max_drawdown ?? "", r.metrics.trade_count ?? ""]),
    "No report in the runs directory.");
}

TW.nav("/runs").then(load).catch(TW.showError);
