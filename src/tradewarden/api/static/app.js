// Shared by every page: the API client (session cookie + CSRF header), the navigation bar and formatting.
// Everything is put on the page as text (textContent), never as HTML, so no value from the API can inject markup.
"use strict";

const TW = (() => {
  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === name) return decodeURIComponent(v.join("="));
    }
    return "";
  }

  function toLogin() {
    const next = location.pathname + location.search;
    location.href = "/login?next=" + encodeURIComponent(next);
  }

  // GET (no body) or POST (body; or `method`, e.g. PUT); a 401 sends the browser to the login page; other errors
  // throw the API's detail.
  async function api(path, body, method) {
    const init = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.method = method || "POST";
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = cookie("tw_csrf");  // double submit: the write proves it read our cookie
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    if (resp.status === 401) {
      toLogin();
      throw new Error("not logged in");
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const detail = typeof data.detail === "string" ? data.detail : resp.statusText;
      throw new Error(`${resp.status}: ${detail}`);
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  let me = null;
  async function whoami() {
    if (me === null) me = await api("/api/v1/me");
    return me;
  }

  async function nav(active) {
    const bar = el("header", { class: "nav" }, el("span", { class: "brand", text: "tradewarden" }));
    for (const [href, label] of [["/", "Fleet"], ["/network", "Network"], ["/audit", "Audit"],
                                ["/runs", "Runs"]]) {
      bar.append(el("a", { href, class: href === active ? "active" : "", text: label }));
    }
    const who = el("span", { class: "who", id: "who" });
    const out = el("button", { id: "logout", type: "button", text: "Log out" });
    out.addEventListener("click", async () => {
      await api("/api/v1/logout", {});
      location.href = "/login";
    });
    bar.append(who, out);
    document.body.prepend(bar);
    const info = await whoami();
    who.textContent = `${info.token} (${info.role})`;
    return info;
  }

  function showError(err) {
    const box = document.getElementById("error");
    if (box) box.textContent = err ? String(err.message || err) : "";
  }

  function time(ms) {
    return ms === null || ms === undefined ? "—" : new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 120) return `${seconds} s`;
    if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
    return `${Math.floor(seconds / 3600)} h`;
  }

  // Amounts arrive as exact decimal strings; they are shown as sent, only signed PnL gets a colour.
  function amount(value) {
    return value === null || value === undefined ? "—" : String(value);
  }

  function signed(value) {
    const span = el("span", { text: amount(value) });
    if (value !== null && value !== undefined) span.className = String(value).startsWith("-") ? "neg" : "pos";
    return span;
  }

  function table(container, headers, rows, empty) {
    container.replaceChildren();
    if (!rows.length) {
      container.append(el("p", { class: "muted", text: empty }));
      return;
    }
    const head = el("tr", {}, ...headers.map((h) => el("th", { text: h })));
    const body = rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c instanceof Node ? c : String(c)))));
    container.append(el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
  }

  return { api, el, nav, whoami, showError, time, age, amount, signed, table, cookie };
})();
