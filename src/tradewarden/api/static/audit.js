// Each account's audit trail verified now (the API re-reads and re-hashes it), and the kill switch history.
"use strict";

async function load() {
  const [trails, risk] = await Promise.all([TW.api("/api/v1/audit"), TW.api("/api/v1/risk")]);
  TW.table(document.getElementById("audit"), ["Account", "Verdict", "Records", "Trail", "Detail"],
    trails.map((t) => [t.account,
      TW.el("span", { class: "badge " + (t.ok ? "ok" : "bad"), text: t.ok ? "OK" : "FAILED" }),
      String(t.records), t.path, t.ok ? "" : `${t.why}: ${t.message}`]),
    "No audit trail is recorded on this database yet.");
  TW.table(document.getElementById("kill-history"), ["When", "State", "Reason", "By"],
    risk.kill_switch_history.map((k) => [TW.time(k.ts), k.active ? "ON" : "off", k.reason, k.actor]),
    "The kill switch was never used.");
}

TW.nav("/audit").then(load).catch(TW.showError);
