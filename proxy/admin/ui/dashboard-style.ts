// The dashboard's stylesheet, inlined into the page (no outside requests).

export const DASHBOARD_CSS = String.raw`
:root { --bg:#0f1419; --panel:#171d24; --line:#2a333d; --text:#d8dee6; --dim:#8a96a3; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --accent:#58a6ff; }
* { box-sizing: border-box; }
body { margin:0; font:13px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; gap:16px; align-items:center; padding:10px 16px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
header h1 { font-size:16px; margin:0; }
header .dim, .dim { color:var(--dim); }
main { display:grid; grid-template-columns: 360px 1fr; gap:12px; padding:12px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:10px; min-width:0; }
section h2 { font-size:13px; margin:0 0 8px; color:var(--dim); text-transform:uppercase; letter-spacing:.05em; }
.wide { grid-column: 1 / -1; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:3px 6px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--dim); font-weight:500; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
.ok { color:var(--ok); } .warn { color:var(--warn); } .bad { color:var(--bad); }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; vertical-align:middle; }
button { background:#21262d; color:var(--text); border:1px solid var(--line); border-radius:4px; padding:2px 6px; cursor:pointer; font-size:12px; }
button:hover { border-color:var(--accent); }
input, select { background:#0d1117; color:var(--text); border:1px solid var(--line); border-radius:4px; padding:3px 6px; }
.push { margin-left:auto; }
section h2.gap { margin-top:12px; }
#tip { position:fixed; pointer-events:none; background:#000c; padding:4px 8px; border-radius:4px; display:none; z-index:10; }
#status { min-height:1.4em; }
#legend { list-style:none; padding:0; margin:8px 0 0; columns:2; }
#changes { list-style:none; padding:0; margin:0; max-height:260px; overflow:auto; font-variant-numeric: tabular-nums; }
#changes li { padding:2px 0; border-bottom:1px solid var(--line); }
svg path.arc:hover { stroke:#fff; stroke-width:1.5; }
`;
