// The dashboard's script, inlined into the page. Plain ES2020 in the browser: polls
// /admin/dashboard every second for the pools' counts and one page of the chosen pool's members
// (what it sends and draws follows the page, not the pool: a pool may have 10,000 members),
// redraws the ring from /admin/ring only when the pool's ring version changes (a failed fetch is
// asked again with a backoff), and sends operator actions with the token the operator typed
// (kept in sessionStorage, never in the URL). Every value from the API is set as text, never
// parsed as HTML.

export const DASHBOARD_JS = String.raw`
(function () {
  "use strict";
  var POLL_MS = 1000;
  var PALETTE = ["#58a6ff","#3fb950","#d29922","#bc8cff","#39c5cf","#ff7b72","#e3b341","#79c0ff","#56d364","#f778ba","#a5d6ff","#ffa657"];
  var SPACE = 4294967296;
  var $ = function (id) { return document.getElementById(id); };
  // Legend lines: the members with the largest shares, then one line for the rest.
  var LEGEND_ROWS = 20;
  // Maglev has no arcs: its shares are drawn as slices, the largest this many, then the rest as one.
  var MAX_SLICES = 360;
  var state = { pool: null, offset: 0, show: "all", ringKey: "", ring: null, data: null, marker: null };

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "cls") e.className = attrs[k];
      else if (k === "style") e.style.cssText = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function fmt(v, d) { return v === null || v === undefined ? "-" : String(Number(v.toFixed(d === undefined ? 1 : d))); }
  function setStatus(text, cls) { var s = $("status"); s.textContent = text; s.className = cls || ""; }
  // A member's colour follows its index in the pool, the same in the table and on the ring.
  function color(index) { return PALETTE[(index < 0 ? 0 : index) % PALETTE.length]; }
  function token() { return $("token").value.trim(); }

  async function getJson(path) {
    var r = await fetch(path, { cache: "no-store" });
    var body = await r.json().catch(function () { return null; });
    if (!r.ok) {
      var e = new Error((body && body.error ? body.error + ": " + body.message : "HTTP " + r.status));
      e.code = body && body.error;
      throw e;
    }
    return body;
  }

  // ---------------------------------------------------------------- fleet
  function renderFleet(fleet) {
    var tb = $("fleet").querySelector("tbody");
    tb.textContent = "";
    fleet.forEach(function (f) {
      var role = f.reachable ? (f.role || "-") : "unreachable";
      var tr = el("tr", { "data-instance": f.id || f.admin, "data-role": role });
      var roleCls = role === "leader" ? "ok" : role === "unreachable" ? "bad" : "";
      [
        (f.id || "?") + (f.self ? " (this)" : ""),
        el("span", { cls: roleCls, text: role }),
        f.term, f.leader || (f.reachable ? "none" : "-"), f.commitIndex, f.appliedIndex,
        f.lag === undefined ? "-" : f.lag, f.ringVersion,
        f.reachable ? (f.degraded || "ok") : (f.error || "down"),
        f.admin
      ].forEach(function (v, i) {
        var td = el("td", { cls: i >= 2 && i <= 7 ? "num" : "" });
        if (v instanceof Node) td.appendChild(v); else td.textContent = v === undefined || v === null ? "-" : String(v);
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    });
  }

  // ---------------------------------------------------------------- members
  function actionButton(label, action, pool, member) {
    var b = el("button", { "data-action": action, text: label });
    b.addEventListener("click", function () { act(action, pool, member); });
    return b;
  }
  // Rows are kept and updated in place (a button must not be replaced under the pointer);
  // a row is rebuilt only when its member appears, and its action cell when drain flips.
  var memberRows = {};
  function cellsOf(tr) { return tr.querySelectorAll("td"); }
  function memberRow(m) {
    var tr = el("tr", { "data-member": m.id });
    var name = el("td", {}, [el("span", { cls: "swatch", style: "background:" + color(m.index) }), m.id]);
    tr.appendChild(name);
    for (var i = 0; i < 9; i++) tr.appendChild(i >= 4 ? el("td", { cls: "num", "data-base": "num" }) : el("td"));
    tr.appendChild(el("td"));
    return tr;
  }
  function setCell(td, text, cls) {
    if (td.textContent !== text) td.textContent = text;
    var want = ((td.getAttribute("data-base") || "") + " " + (cls || "")).trim();
    if (td.className !== want) td.className = want;
  }
  function renderMembers(page) {
    var pool = page.pool;
    var tb = $("members").querySelector("tbody");
    var ids = page.rows.map(function (m) { return pool + "/" + m.id + "/" + m.index; }).join(",");
    if (tb.getAttribute("data-ids") !== ids) {
      tb.textContent = "";
      memberRows = {};
      page.rows.forEach(function (m) { memberRows[m.id] = memberRow(m); tb.appendChild(memberRows[m.id]); });
      tb.setAttribute("data-ids", ids);
    }
    page.rows.forEach(function (m) {
      var l = m.live;
      var tr = memberRows[m.id];
      var td = cellsOf(tr);
      tr.setAttribute("data-draining", String(m.draining));
      tr.setAttribute("data-breaker", m.breaker);
      setCell(td[1], m.address);
      setCell(td[2], m.healthy ? "healthy" : "unhealthy", m.healthy ? "ok" : "bad");
      setCell(td[3], m.breaker + (m.breakerOverride !== "auto" ? " (pinned)" : ""), m.breaker === "closed" ? "" : "bad");
      setCell(td[4], m.draining ? "draining" : "-", m.draining ? "warn" : "");
      setCell(td[5], l ? String(l.inFlight) : "-");
      setCell(td[6], l ? fmt(l.rate) : "-");
      setCell(td[7], l ? fmt(l.errorRate * 100) + "%" : "-");
      setCell(td[8], l ? fmt(l.p50, 2) : "-");
      setCell(td[9], l ? fmt(l.p99, 2) : "-");
      var acts = td[10];
      if (acts.getAttribute("data-draining") !== String(m.draining)) {
        acts.textContent = "";
        acts.setAttribute("data-draining", String(m.draining));
        acts.appendChild(m.draining ? actionButton("undrain", "undrain", pool, m.id) : actionButton("drain", "drain", pool, m.id));
        acts.appendChild(document.createTextNode(" breaker "));
        acts.appendChild(actionButton("open", "breaker-open", pool, m.id));
        acts.appendChild(actionButton("close", "breaker-close", pool, m.id));
        acts.appendChild(actionButton("auto", "breaker-auto", pool, m.id));
      }
    });
  }

  async function act(action, pool, member) {
    var base = "/admin/pools/" + encodeURIComponent(pool) + "/members/" + encodeURIComponent(member);
    var path = action === "drain" || action === "undrain" ? base + "/" + action : base + "/breaker";
    var body = action.indexOf("breaker-") === 0 ? JSON.stringify({ state: { "breaker-open": "open", "breaker-close": "closed", "breaker-auto": "auto" }[action] }) : undefined;
    var headers = { "content-type": "application/json" };
    if (token() !== "") headers.authorization = "Bearer " + token();
    setStatus(action + " " + pool + "/" + member + "...", "");
    try {
      var r = await fetch(path, { method: "POST", headers: headers, body: body });
      var j = await r.json().catch(function () { return {}; });
      if (!r.ok) { setStatus("refused (" + (j.error || r.status) + "): " + (j.message || ""), "bad"); return; }
      setStatus(action + " " + pool + "/" + member + ": committed at ring version " + j.ringVersion, "ok");
      poll();
    } catch (e) { setStatus("cannot reach the admin API: " + e.message, "bad"); }
  }

  // ---------------------------------------------------------------- ring
  function arcPath(a0, a1, r0, r1) {
    var large = a1 - a0 > Math.PI ? 1 : 0;
    function pt(a, r) { return [150 + r * Math.sin(a), 150 - r * Math.cos(a)]; }
    var p0 = pt(a0, r1), p1 = pt(a1, r1), p2 = pt(a1, r0), p3 = pt(a0, r0);
    return "M" + p0[0] + " " + p0[1] + " A" + r1 + " " + r1 + " 0 " + large + " 1 " + p1[0] + " " + p1[1] +
      " L" + p2[0] + " " + p2[1] + " A" + r0 + " " + r0 + " 0 " + large + " 0 " + p3[0] + " " + p3[1] + " Z";
  }
  function renderRing() {
    var g = $("ring");
    g.textContent = "";
    var ring = state.ring;
    if (!ring) return;
    var members = ring.members;
    var segs = [];
    if (ring.arcs) ring.arcs.forEach(function (a) { segs.push([a[0] / SPACE, a[1] / SPACE, a[2], "hash " + a[0] + " .. " + (a[1] - 1)]); });
    else {
      var at = 0;
      byShare(members).slice(0, MAX_SLICES).forEach(function (i) { var m = members[i]; segs.push([at, at + m.share, i, "table share " + fmt(m.share * 100) + "%"]); at += m.share; });
      if (ring.memberCount > Math.min(members.length, MAX_SLICES)) {
        members = members.concat([{ id: "", rest: (ring.memberCount - Math.min(members.length, MAX_SLICES)) + " more members · table share " + fmt((1 - at) * 100) + "%" }]);
        segs.push([at, 1, members.length - 1, ""]);
      }
    }
    segs.forEach(function (s) {
      var m = members[s[2]];
      if (!m) return;
      var span = Math.min(s[1], 0.99999) - s[0];
      if (span <= 0) return;
      var path = svg("path", { d: arcPath(s[0] * 2 * Math.PI, (s[0] + span) * 2 * Math.PI, 80, 120), fill: m.rest ? "#6e7681" : color(m.index), "class": m.rest ? "arc rest" : "arc", "data-member": m.rest ? "" : m.id });
      var out = !m.healthy || m.draining || m.breakerOpen;
      if (out) path.setAttribute("fill-opacity", "0.3");
      path.addEventListener("mousemove", function (ev) {
        var tip = $("tip");
        tip.style.display = "block"; tip.style.left = ev.clientX + 12 + "px"; tip.style.top = ev.clientY + 12 + "px";
        tip.textContent = m.rest ? m.rest : "owner " + m.id + " · " + s[3] + (out ? " · not taking requests (" + (m.draining ? "draining" : m.breakerOpen ? "breaker open" : "unhealthy") + ")" : "");
      });
      path.addEventListener("mouseleave", function () { $("tip").style.display = "none"; });
      g.appendChild(path);
    });
    if (state.marker !== null) {
      var a = state.marker / SPACE * 2 * Math.PI;
      g.appendChild(svg("circle", { cx: 150 + 130 * Math.sin(a), cy: 150 - 130 * Math.cos(a), r: 5, fill: "#fff", id: "key-marker" }));
    }
    var lg = $("legend");
    lg.textContent = "";
    var top = byShare(ring.members).slice(0, LEGEND_ROWS);
    var shown = 0;
    top.forEach(function (i) {
      var m = ring.members[i];
      shown += m.share;
      lg.appendChild(el("li", { "data-member": m.id }, [el("span", { cls: "swatch", style: "background:" + color(m.index) }), m.id + " " + fmt(m.share * 100) + "%"]));
    });
    if (ring.memberCount > top.length)
      lg.appendChild(el("li", { "data-rest": String(ring.memberCount - top.length), cls: "dim", text: "and " + (ring.memberCount - top.length) + " more members " + fmt(Math.max(0, 1 - shown) * 100) + "%" }));
    $("ring-caption").textContent = ring.algorithm + " · " + ring.size + (ring.arcs ? " points" : " table entries") + (ring.coarse ? " (drawn in 0.25° sectors)" : "") + " · ring version " + ring.ringVersion;
  }
  // Member indexes, largest share first (ties in pool order).
  function byShare(members) {
    return members.map(function (m, i) { return i; }).sort(function (a, b) { return members[b].share - members[a].share || a - b; });
  }
  // A ring fetch that failed is asked again at a later poll, not only at the next ring change
  // (a static pool may never have one): after 1 s, then twice as long each time, up to 30 s.
  // Timed on performance.now(): the wall clock stepped back an hour held the retry an hour.
  var RING_RETRY_MAX_MS = 30000;
  var ringRetry = { key: "", failures: 0, at: 0 };
  async function refreshRing(pool) {
    var p = state.data.state.pools[pool];
    var key = pool + "@" + p.ringVersion + ":" + p.members + "/" + p.unhealthy + "/" + p.draining + "/" + p.breakerNotClosed;
    if (key === state.ringKey) return;
    if (key === ringRetry.key && performance.now() < ringRetry.at) return;
    // Set before the answer: a poll started meanwhile does not ask for the same ring again.
    state.ringKey = key;
    var ring;
    try { ring = await getJson("/admin/ring?pool=" + encodeURIComponent(pool) + "&top=" + MAX_SLICES); }
    catch (e) {
      if (state.ringKey !== key) return;
      state.ringKey = "";
      ringRetry.failures = ringRetry.key === key ? ringRetry.failures + 1 : 1;
      ringRetry.key = key;
      var wait = Math.min(RING_RETRY_MAX_MS, POLL_MS * Math.pow(2, ringRetry.failures - 1));
      ringRetry.at = performance.now() + wait;
      $("ring-caption").textContent = "ring not loaded: " + e.message + " (asking again in " + Math.round(wait / 1000) + " s)";
      return;
    }
    // An answer for a ring no longer wanted (the operator chose another pool meanwhile) is dropped.
    if (state.ringKey !== key) return;
    ringRetry.key = "";
    state.ring = ring;
    renderRing();
  }

  // ---------------------------------------------------------------- changes, explainer
  function renderChanges(changes) {
    var ul = $("changes");
    ul.textContent = "";
    changes.slice().reverse().forEach(function (c) {
      ul.appendChild(el("li", { "data-cause": c.cause }, [
        el("span", { cls: "dim", text: c.at.slice(11, 19) + " " }),
        "v" + c.ringVersion + " " + c.pools.join(",") + " · " + c.command + " · ",
        el("b", { text: c.cause })
      ]));
    });
  }
  async function explain(ev) {
    ev.preventDefault();
    var key = $("key").value;
    var out = $("explain-out");
    try {
      var r = await getJson("/admin/route?pool=" + encodeURIComponent(state.pool) + "&key=" + encodeURIComponent(key));
      state.marker = r.keyHash;
      out.textContent = "";
      out.appendChild(el("div", { "data-field": "member", text: "member: " + (r.member || "none available") }));
      out.appendChild(el("div", { "data-field": "owner", text: "ring owner: " + (r.owner || "-") + " · key hash " + r.keyHash }));
      out.appendChild(el("div", { "data-field": "skipped", text: "skipped: " + (r.skipped.length ? r.skipped.map(function (s) { return s.id + " (" + s.reason + ")"; }).join(", ") : "none") }));
      renderRing();
    } catch (e) { out.textContent = "error: " + e.message; }
  }

  // ---------------------------------------------------------------- signals
  // Metric families of this instance (GET /admin/dashboard's "signals"): totals since start,
  // and a rate from the last two polls' difference.
  var SIGNALS = [
    ["shardgate_dns_queries_total", "DNS questions asked (c-ares)"],
    ["shardgate_dns_cache_hits_total", "DNS answered from memory or /etc/hosts"],
    ["shardgate_dns_getaddrinfo_calls_total", "getaddrinfo calls"],
    ["shardgate_dns_getaddrinfo_in_flight", "getaddrinfo in flight (each holds a libuv thread)", "gauge"],
    ["shardgate_dns_timeouts_total", "DNS lookups timed out"],
    ["shardgate_dns_failures_total", "DNS failures", "by", "kind"],
    ["shardgate_raft_snapshots_refused_by_peers_total", "snapshots refused by peer", "by", "peer", "reason"],
    ["shardgate_downstream_client_errors_total", "client errors", "by", "code"]
  ];
  // Shown at 0 before the first one, so the panel names them.
  var ALWAYS = { "shardgate_downstream_client_errors_total": ["downstream_disconnected", "client_gone"] };
  var prevSignals = null;
  function signalRows(signals) {
    var rows = [];
    SIGNALS.forEach(function (s) {
      var samples = signals[s[0]];
      if (samples === undefined) return;
      if (s[2] !== "by") { rows.push({ id: s[0], label: s[1], value: samples.length ? samples[0].value : 0, gauge: s[2] === "gauge" }); return; }
      var seen = {};
      samples.forEach(function (x) {
        var l = x.labels[s[3]] || "";
        var extra = s[4] ? " (" + (x.labels[s[4]] || "") + ")" : "";
        seen[l] = true;
        rows.push({ id: s[0] + ":" + l + (s[4] ? ":" + (x.labels[s[4]] || "") : ""), label: s[1] + ": " + l + extra, value: x.value });
      });
      (ALWAYS[s[0]] || []).forEach(function (l) {
        if (!seen[l]) rows.push({ id: s[0] + ":" + l, label: s[1] + ": " + l, value: 0 });
      });
      if (samples.length === 0 && !ALWAYS[s[0]]) rows.push({ id: s[0] + ":none", label: s[1] + ": none", value: 0 });
    });
    return rows;
  }
  function renderSignals(signals, at) {
    var tb = $("signals").querySelector("tbody");
    var note = $("signals-note");
    if (!signals) {
      tb.textContent = "";
      note.textContent = "not shown with workers: N (each worker counts its own; /metrics has the sums)";
      prevSignals = null;
      return;
    }
    note.textContent = "";
    var now = Date.parse(at);
    var prev = prevSignals;
    var rows = signalRows(signals);
    var next = { at: now, values: {} };
    tb.textContent = "";
    rows.forEach(function (r) {
      next.values[r.id] = r.value;
      var rate = "-";
      if (!r.gauge && prev && now > prev.at && prev.values[r.id] !== undefined)
        rate = fmt(Math.max(0, r.value - prev.values[r.id]) / ((now - prev.at) / 1000), 2);
      var tr = el("tr", { "data-signal": r.id });
      tr.appendChild(el("td", { text: r.label }));
      tr.appendChild(el("td", { cls: "num", "data-field": "total", text: String(r.value) }));
      tr.appendChild(el("td", { cls: "num", "data-field": "rate", text: r.gauge ? "-" : rate }));
      tb.appendChild(tr);
    });
    if (!prev || now > prev.at) prevSignals = next;
  }

  // ---------------------------------------------------------------- poll loop
  function renderPools() {
    var sel = $("pool");
    var names = Object.keys(state.data.state.pools).sort();
    if (sel.options.length !== names.length || names.some(function (n, i) { return sel.options[i].value !== n; })) {
      sel.textContent = "";
      names.forEach(function (n) { sel.appendChild(el("option", { value: n, text: n })); });
    }
    sel.value = state.pool || "";
  }
  function renderPager(page) {
    var p = state.data.state.pools[page.pool];
    $("pool-summary").textContent = p.members + " members · " + p.unhealthy + " unhealthy · " + p.draining + " draining · " + p.breakerNotClosed + " breaker not closed";
    var last = page.rows.length ? page.offset + page.rows.length : page.offset;
    $("page-info").textContent = (page.total === 0 ? "none" : (page.offset + 1) + "-" + last) + " of " + page.total + (page.show === "out" ? " not taking requests" : "");
    $("prev").disabled = page.offset === 0;
    $("next").disabled = last >= page.total;
    state.offset = page.offset;
  }
  function feedPath() {
    return "/admin/dashboard?offset=" + state.offset + "&show=" + state.show + (state.pool === null ? "" : "&pool=" + encodeURIComponent(state.pool));
  }
  var timer = null;
  // Polls started so far. An answer to an earlier poll than the latest (asked before the
  // operator paged, filtered or chose a pool) is dropped: it would write its page and pool back
  // over that choice, and its poll would start a second loop beside the latest one's.
  var polls = 0;
  async function poll() {
    clearTimeout(timer);
    var mine = ++polls;
    try {
      var d;
      try { d = await getJson(feedPath()); }
      catch (e) {
        if (mine !== polls) return;
        // The pool shown is gone (a reload removed it): show the first one instead.
        if (e.code !== "unknown_pool") throw e;
        state.pool = null; state.offset = 0; state.ringKey = "";
        d = await getJson(feedPath());
      }
      if (mine !== polls) return;
      state.data = d;
      state.pool = d.members ? d.members.pool : null;
      var self = d.fleet.filter(function (f) { return f.self; })[0] || {};
      $("self").textContent = "instance " + (self.id || "?") + " · " + (self.role || "-") + " · term " + fmt(self.term, 0) + " · leader " + (self.leader || "none");
      $("ringver").textContent = "ring version " + d.state.ringVersion + (d.state.configDrift && d.state.configDrift.drift ? " · config drift" : "") + (d.state.degraded ? " · degraded: " + d.state.degraded : "");
      renderFleet(d.fleet);
      renderPools();
      if (d.members) { renderMembers(d.members); renderPager(d.members); await refreshRing(state.pool); }
      renderChanges(d.changes);
      renderSignals(d.signals, d.at);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      $("updated").className = "dim";
    } catch (e) {
      if (mine !== polls) return;
      $("updated").textContent = "not updating: " + e.message;
      $("updated").className = "bad";
    }
    if (mine === polls) timer = setTimeout(poll, POLL_MS);
  }

  $("pool").addEventListener("change", function () { state.pool = $("pool").value; state.offset = 0; state.ringKey = ""; state.marker = null; poll(); });
  // Before the first update, and while no pool is shown, there is no page to move from.
  function pageRows() { return state.data && state.data.members ? state.data.members.pageRows : 0; }
  $("prev").addEventListener("click", function () { if (pageRows() === 0) return; state.offset = Math.max(0, state.offset - pageRows()); poll(); });
  $("next").addEventListener("click", function () { if (pageRows() === 0) return; state.offset += pageRows(); poll(); });
  $("only-out").addEventListener("change", function () { state.show = $("only-out").checked ? "out" : "all"; state.offset = 0; poll(); });
  $("explain").addEventListener("submit", explain);
  $("token").value = sessionStorage.getItem("shardgate-token") || "";
  $("token").addEventListener("change", function () { sessionStorage.setItem("shardgate-token", token()); });
  poll();
})();
`;
