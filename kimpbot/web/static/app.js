// kimpbot dashboard: renders the state pushed over /ws; no framework, no build step, no CDN.
"use strict";
(function () {
  const T = JSON.parse(document.getElementById("i18n").textContent);
  const CSRF = document.querySelector('meta[name="csrf"]').content;
  const $ = (id) => document.getElementById(id);
  const fmt = (x, d = 2) => (x === null || x === undefined ? "—" : (x >= 0 ? "+" : "") + x.toFixed(d));
  const krw = (x) => (x === null || x === undefined ? "—" : (x > 0 ? "+" : "") + Math.round(x).toLocaleString());
  const cls = (x) => (x > 0 ? "pos" : x < 0 ? "neg" : "");
  const esc = (s) => String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const tr = (k, kw) => { let s = T[k] || k; for (const n in kw || {}) s = s.replace("{" + n + "}", kw[n]); return s; };
  const kst = (ms) => new Date(ms + 9 * 3600e3).toISOString().slice(5, 16).replace("T", " ");

  let state = null, charts = {}, live = {}, chartSym = null, lastMsg = 0, ws = null, backoff = 1000;
  let serverSkew = 0, sessionOver = false;

  // ---- theme ------------------------------------------------------------------------------
  const applyTheme = () => {
    const th = localStorage.getItem("theme");
    if (th) document.documentElement.dataset.theme = th; else delete document.documentElement.dataset.theme;
  };
  applyTheme();
  $("theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme === "dark" ||
      (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
    localStorage.setItem("theme", dark ? "light" : "dark");
    applyTheme();
    drawChart();
  });

  // ---- actions ----------------------------------------------------------------------------
  async function post(path) {
    const notice = $("notice");
    try {
      const r = await fetch(path, { method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": CSRF, "Content-Type": "application/json" }, body: "{}" });
      if (r.status === 401) return over();
      const doc = await r.json();
      notice.textContent = doc.text || doc.error || "";
      notice.hidden = !notice.textContent;
    } catch (e) {
      notice.textContent = String(e); notice.hidden = false;
    }
  }
  $("halt").addEventListener("click", () => { if (confirm(T.halt_ask)) post("/api/halt"); });
  $("resume").addEventListener("click", () => post("/api/resume"));
  $("pending").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    b.disabled = true;
    post("/api/signal/" + encodeURIComponent(b.dataset.id) + "/" + b.dataset.act);
  });
  $("charttabs").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-sym]");
    if (b) { chartSym = b.dataset.sym; renderTabs(); drawChart(); }
  });

  // ---- rendering --------------------------------------------------------------------------
  function render() {
    const s = state, b = s.bot;
    const mode = $("mode");
    mode.textContent = T[b.mode] + " · " + T[b.trade_mode];
    mode.className = "pill " + b.mode;
    const run = $("run");
    run.textContent = T[b.run] || b.run;
    run.className = "pill " + b.run;
    let line = T[b.run] || b.run;
    if (b.run === "halted") line += " — " + (b.halt_reason || "") + " (" + T.by + " " + (b.halt_by || "") + ")";
    $("state").textContent = line;
    $("state").dataset.run = b.run;
    $("halt").hidden = b.run === "halted" || !b.trading;
    $("resume").hidden = b.run !== "halted";
    const fx = b.fx;
    $("fx").textContent = T.fx + ": " + fx.label + " " + (fx.rate ? fx.rate.toLocaleString() : "—") +
      (fx.problems.length ? " · " + fx.problems.join("; ") : "");

    const t = s.tiers;
    $("coins").innerHTML = s.coins.map((c) => {
      const lv = c.level < 0 ? "" : "l" + c.level;
      return '<div class="coin ' + lv + '" data-coin="' + esc(c.sym) + '" data-level="' + c.level + '">' +
        '<div class="lamp"><i class="g"></i><i class="y"></i><i class="r"></i></div>' +
        '<div class="sym">' + esc(c.sym) + ' <span class="badge ' + c.data + '" data-state="' + c.data + '">' +
        esc(T["data_" + c.data] || c.data) + "</span></div>" +
        '<div class="quoted" title="' + esc(T.quoted) + '">' + fmt(c.quoted) + "%</div>" +
        '<div class="sub"><span>' + T.exec_long + " <b class=\"xl\">" + fmt(c.exec_long) + "</b></span><span>" +
        T.exec_short + " <b class=\"xs\">" + fmt(c.exec_short) + "</b></span><span>z <b class=\"z " + lv + "\">" +
        fmt(c.z) + "</b></span>" + (c.problems.length ? '<span title="' + esc(c.problems.join("; ")) + '">ⓘ ' +
        esc(c.problems[0]).slice(0, 60) + "</span>" : "") + "</div></div>";
    }).join("");
    void t;

    $("pending").innerHTML = s.pending.length ? s.pending.map((p) =>
      '<div class="sig" data-pid="' + esc(p.id) + '"><span><b>' + esc(p.sym) + "</b> " +
      esc(T["dir_" + p.dir] || p.label) + " " + esc(T["act_" + p.action] || p.action) + " " + krw(p.size_krw).replace("+", "") + " KRW @ " + fmt(p.premium) + "% (z " + fmt(p.z) +
      ') · <span class="left" data-exp="' + p.expires_ms + '"></span></span><span class="btns">' +
      '<button class="ok" data-act="execute" data-id="' + esc(p.id) + '">' + T.execute + "</button>" +
      '<button class="ghost" data-act="skip" data-id="' + esc(p.id) + '">' + T.skip + "</button></span></div>"
    ).join("") : '<div class="empty">' + T.no_pending + "</div>";

    $("positions").innerHTML = s.positions.length ? '<div class="scroll"><table><tr><th></th><th>' + T.entry +
      "</th><th>" + T.now + "</th><th>" + T.size + "</th><th>" + T.unrealized + "</th><th>" + T.age + "</th></tr>" +
      s.positions.map((p) => "<tr><td>" + esc(p.sym) + " " + (p.dir === "long_premium" ? "L" : "S") + "</td><td>" +
        fmt(p.entry) + "%</td><td>" + fmt(p.now) + "%</td><td>" + krw(p.size_krw).replace("+", "") +
        '</td><td class="' + cls(p.pnl_krw) + '">' + krw(p.pnl_krw) + "</td><td>" +
        Math.round(p.age_ms / 60000) + "m</td></tr>").join("") + "</table></div>"
      : '<div class="empty">' + T.no_positions + "</div>";

    const pr = (m) => s.pnl[m];
    const cell = (m, k) => (pr(m) ? '<td class="' + cls(pr(m)[k]) + '">' + krw(pr(m)[k]) + "</td>"
      : '<td class="muted">' + T.not_run + "</td>");
    $("pnl").innerHTML = "<table><tr><th></th><th>" + T.paper + "</th><th>" + T.live + "</th></tr><tr><td>" +
      T.today + "</td>" + cell("paper", "today") + cell("live", "today") + "</tr><tr><td>" + T.total + "</td>" +
      cell("paper", "total") + cell("live", "total") + "</tr></table>";

    $("trades").innerHTML = s.trades.length ? '<div class="scroll"><table>' + s.trades.map((x) =>
      "<tr><td>" + kst(x.ts) + "</td><td>" + esc(x.sym) + " " + (x.dir === "long_premium" ? "L" : "S") +
      "</td><td>" + esc(T["act_" + x.action] || x.action) + "</td><td>" + esc(x.status) + "</td><td>" + krw(x.size_krw).replace("+", "") +
      "</td></tr>").join("") + "</table></div>" : '<div class="empty">' + T.no_trades + "</div>";

    if (!chartSym && s.coins.length) { chartSym = s.coins[0].sym; renderTabs(); }
    const now = Date.now() + serverSkew;
    for (const c of s.coins) {
      if (c.mid === null) continue;
      const pts = live[c.sym] || (live[c.sym] = []);
      const last = pts[pts.length - 1];
      if (!last || now - last[0] >= 5000) pts.push([now, c.mid]); else last[1] = c.mid;
      if (pts.length > 720) pts.shift();
    }
    tick();
    drawChart();
  }

  function renderTabs() {
    if (!state) return;
    $("charttabs").innerHTML = state.coins.map((c) => '<button type="button" data-sym="' + esc(c.sym) + '"' +
      (c.sym === chartSym ? ' class="on"' : "") + ">" + esc(c.sym) + "</button>").join("");
  }

  function drawChart() {
    if (!state || !chartSym) return;
    const z = state.tiers[0];
    $("charttitle").textContent = tr("chart", { z: z }) + " · " + chartSym;
    const cv = $("chart"), dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth || 360, h = cv.clientHeight || 200;
    cv.width = w * dpr; cv.height = h * dpr;
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    const col = (v) => css.getPropertyValue(v).trim();
    const hist = charts[chartSym] || { ts: [], p: [] };
    const pts = hist.ts.map((t, i) => [t, hist.p[i]]).concat(live[chartSym] || []);
    const coin = state.coins.find((c) => c.sym === chartSym) || {};
    const bands = coin.std ? [coin.mean - z * coin.std, coin.mean + z * coin.std] : [];
    if (!pts.length) return;
    let lo = Math.min(...pts.map((p) => p[1]), ...bands), hi = Math.max(...pts.map((p) => p[1]), ...bands);
    if (hi - lo < 0.05) { lo -= 0.05; hi += 0.05; }
    const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    const t0 = Math.min(pts[0][0], Date.now() + serverSkew - 3600e3), t1 = Date.now() + serverSkew;
    const L = 44, R = 6, Tp = 6, B = 18;
    const X = (t) => L + (w - L - R) * (t - t0) / Math.max(1, t1 - t0);
    const Y = (v) => Tp + (h - Tp - B) * (hi - v) / (hi - lo);
    g.font = "11px system-ui"; g.fillStyle = col("--muted"); g.strokeStyle = col("--line"); g.lineWidth = 1;
    for (let i = 0; i <= 3; i++) {
      const v = lo + (hi - lo) * i / 3, y = Y(v);
      g.beginPath(); g.moveTo(L, y); g.lineTo(w - R, y); g.stroke();
      g.fillText(v.toFixed(2), 2, y + 4);
    }
    g.fillText(kst(t0), L, h - 4);
    g.textAlign = "right"; g.fillText(kst(t1), w - R, h - 4); g.textAlign = "left";
    if (bands.length) {
      g.setLineDash([5, 4]); g.strokeStyle = col("--band");
      for (const v of bands) { g.beginPath(); g.moveTo(L, Y(v)); g.lineTo(w - R, Y(v)); g.stroke(); }
      g.setLineDash([2, 3]); g.strokeStyle = col("--muted");
      g.beginPath(); g.moveTo(L, Y(coin.mean)); g.lineTo(w - R, Y(coin.mean)); g.stroke();
      g.setLineDash([]);
    }
    g.strokeStyle = col("--blue"); g.lineWidth = 1.8; g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo(X(p[0]), Y(p[1])) : g.moveTo(X(p[0]), Y(p[1]))));
    g.stroke();
    const lp = pts[pts.length - 1];
    g.fillStyle = col("--blue"); g.beginPath(); g.arc(X(lp[0]), Y(lp[1]), 3, 0, 7); g.fill();
  }

  // ---- freshness of what is shown -----------------------------------------------------------
  function tick() {
    const age = (Date.now() - lastMsg) / 1000;
    const conn = $("conn");
    const old = !lastMsg || age > 12 || !ws || ws.readyState !== 1;
    document.body.classList.toggle("old", old && !!state);
    conn.className = "conn " + (old ? "old" : "ok");
    conn.title = old ? (lastMsg ? tr("conn_old", { s: Math.round(age) }) : T.conn_down) : T.conn_live;
    const notice = $("notice");
    if (sessionOver) { notice.textContent = T.session_over; notice.hidden = false; }
    else if (old && state) { notice.textContent = lastMsg ? tr("conn_old", { s: Math.round(age) }) : T.conn_down;
      notice.hidden = false; notice.dataset.stale = "1"; }
    else if (notice.dataset.stale) { notice.hidden = true; delete notice.dataset.stale; }
    const now = Date.now() + serverSkew;
    document.querySelectorAll(".left[data-exp]").forEach((el) => {
      el.textContent = tr("left", { s: Math.max(0, Math.round((+el.dataset.exp - now) / 1000)) });
    });
  }
  setInterval(tick, 1000);

  // ---- the live stream, reconnecting with back-off -------------------------------------------
  function over() { sessionOver = true; if (ws) ws.close(); tick(); }
  function connect() {
    if (sessionOver) return;
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      lastMsg = Date.now();
      backoff = 1000;
      if (m.ts) serverSkew = m.ts - Date.now();
      if (m.t === "charts") { for (const c of m.charts) charts[c.sym] = c; drawChart(); }
      else if (m.t === "state") { state = m; render(); }
      else tick();
    };
    ws.onclose = async (ev) => {
      ws = null; tick();
      if (ev.code === 4401) return over();
      try { const r = await fetch("/api/state", { credentials: "same-origin" }); if (r.status === 401) return over(); }
      catch (e) { /* server down: keep trying */ }
      const wait = Math.min(30000, backoff) * (0.75 + Math.random() / 2);
      backoff = Math.min(30000, backoff * 2);
      setTimeout(connect, wait);
    };
  }
  connect();
  addEventListener("resize", drawChart);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
})();
