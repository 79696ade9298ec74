// Token -> session cookie (HttpOnly, set by the server); the token itself is not kept anywhere in the page.
"use strict";

document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token");
  TW.showError("");
  const resp = await fetch("/api/v1/login", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: input.value.trim() }),
  });
  input.value = "";
  if (!resp.ok) {
    const data = await resp.json().catch(() => ({}));
    TW.showError(resp.status === 429 ? "too many failed attempts; wait a minute"
                                     : (typeof data.detail === "string" ? data.detail : "login refused"));
    return;
  }
  // only a path on this site: a crafted ?next= must not send the operator elsewhere
  const next = new URLSearchParams(location.search).get("next") || "/";
  location.href = next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
});
