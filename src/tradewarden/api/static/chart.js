// Hand-written SVG charts (no library): a line over time with buy/sell markers, and a drawdown area.
"use strict";

const CHART = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 900, PAD_L = 70, PAD_R = 12, PAD_T = 10, PAD_B = 22;

  function svg(tag, attrs) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  function label(x, y, text, anchor) {
    const t = svg("text", { x, y, class: "axis", "text-anchor": anchor || "end" });
    t.textContent = text;
    return t;
  }

  // points: [[ts, number], ...] oldest first; markers: [{ts, value, side}] drawn on the same scales.
  // area: fill between the line and zero (the drawdown). Returns the <svg>.
  function draw(points, { height = 220, markers = [], area = false, unit = "" } = {}) {
    const root = svg("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart", role: "img" });
    if (!points.length) {
      root.append(label(W / 2, height / 2, "no data yet", "middle"));
      return root;
    }
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]).concat(markers.map((m) => m.value));
    if (area) ys.push(0);
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { y0 -= Math.abs(y0) * 0.01 || 1; y1 += Math.abs(y1) * 0.01 || 1; }
    const sx = (x) => PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R);
    const sy = (y) => PAD_T + (y1 - y) / (y1 - y0) * (height - PAD_T - PAD_B);
    for (const frac of [0, 0.5, 1]) {
      const v = y0 + (y1 - y0) * frac;
      root.append(svg("line", { x1: PAD_L, x2: W - PAD_R, y1: sy(v), y2: sy(v), class: "grid" }));
      root.append(label(PAD_L - 6, sy(v) + 4, fmt(v) + unit));
    }
    root.append(label(PAD_L, height - 6, TW.time(x0), "start"), label(W - PAD_R, height - 6, TW.time(x1)));
    const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    if (area) {
      const base = sy(0).toFixed(1);
      root.append(svg("path", { d: `${path}L${sx(x1).toFixed(1)},${base}L${sx(x0).toFixed(1)},${base}Z`, class: "dd" }));
    } else {
      root.append(svg("path", { d: path, class: "line" }));
    }
    for (const m of markers) {
      const [cx, cy] = [sx(m.ts), sy(m.value)];
      // an entry (buy) points up, an exit (sell) points down
      const d = m.side === "buy" ? `M${cx},${cy - 6}L${cx - 5},${cy + 4}L${cx + 5},${cy + 4}Z`
                                 : `M${cx},${cy + 6}L${cx - 5},${cy - 4}L${cx + 5},${cy - 4}Z`;
      const mark = svg("path", { d, class: m.side === "buy" ? "buy" : "sell" });
      const title = svg("title", {});
      title.textContent = `${m.side} ${m.label || ""} at ${TW.time(m.ts)}`;
      mark.append(title);
      root.append(mark);
    }
    return root;
  }

  function fmt(v) {
    const a = Math.abs(v);
    return a >= 1000 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }

  // Drawdown in percent below the running peak, per point.
  function drawdown(points) {
    let peak = -Infinity;
    return points.map(([ts, v]) => {
      peak = Math.max(peak, v);
      return [ts, peak > 0 ? (v / peak - 1) * 100 : 0];
    });
  }

  // The value of a series at ts (the last point at or before it): where a trade marker sits on the equity line.
  function at(points, ts) {
    let found = points.length ? points[0][1] : 0;
    for (const [t, v] of points) {
      if (t > ts) break;
      found = v;
    }
    return found;
  }

  return { draw, drawdown, at };
})();
