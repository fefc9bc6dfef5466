// The dashboard page served at /ui on the admin port: one self-contained HTML document (style
// and script inline, no fonts, images or scripts from anywhere else), so it works on an
// air-gapped host and the admin port is the only thing it talks to.

import { DASHBOARD_JS } from "./dashboard-script.js";
import { DASHBOARD_CSS } from "./dashboard-style.js";

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shardgate</title>
<style>${DASHBOARD_CSS}</style>
</head>
<body>
<header>
  <h1>shardgate</h1>
  <span id="self">connecting...</span>
  <span id="ringver" class="dim"></span>
  <span id="updated" class="dim"></span>
  <span class="push">admin token <input id="token" type="password" size="24" autocomplete="off"></span>
</header>
<main>
  <section class="wide">
    <h2>Fleet (Raft view of every instance)</h2>
    <table id="fleet"><thead><tr><th>instance</th><th>role</th><th>term</th><th>leader</th><th>commit</th><th>applied</th><th>lag</th><th>ring</th><th>status</th><th>admin</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Ring <select id="pool"></select></h2>
    <svg viewBox="0 0 300 300" width="300" height="300" role="img" aria-label="hash ring"><g id="ring"></g></svg>
    <div id="ring-caption" class="dim"></div>
    <ul id="legend"></ul>
    <form id="explain">
      <h2>Route explainer</h2>
      <input id="key" placeholder="routing key, e.g. alice" size="20"> <button type="submit">explain</button>
      <div id="explain-out"></div>
    </form>
  </section>
  <section>
    <h2>Members</h2>
    <div id="pool-summary" class="dim"></div>
    <div id="pager"><button id="prev" type="button" disabled>previous</button> <span id="page-info"></span> <button id="next" type="button" disabled>next</button> <label><input id="only-out" type="checkbox"> only members not taking requests</label></div>
    <table id="members"><thead><tr><th>member</th><th>address</th><th>health</th><th>breaker</th><th>drain</th><th>in-flight</th><th>req/s</th><th>errors</th><th>p50 ms</th><th>p99 ms</th><th>actions</th></tr></thead><tbody></tbody></table>
    <div id="status"></div>
    <h2 class="gap">Recent ring changes</h2>
    <ul id="changes"></ul>
    <h2 class="gap">Signals (this instance)</h2>
    <table id="signals"><thead><tr><th>signal</th><th>total</th><th>per second</th></tr></thead><tbody></tbody></table>
    <div id="signals-note" class="dim"></div>
  </section>
</main>
<div id="tip"></div>
<script>${DASHBOARD_JS}</script>
</body>
</html>
`;
