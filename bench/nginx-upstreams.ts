// Fast upstreams for `npm run bench -- proxy`: one nginx process (one worker, no master,
// its own temp prefix and config) listening on N loopback ports, each answering a small body
// at once, so the proxies, not the upstreams, set the pace. Like the Node echo upstreams
// (proxy/app/echo-upstream.ts): /health answers 200 and paths under /cache/ are marked
// shareable for an hour (the cache-hit edge row).

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface NginxUpstreams {
  addresses: string[];
  pid: number;
  child: ChildProcess;
}

export function nginxUpstreamConfig(prefix: string, ports: number[]): string {
  const servers = ports
    .map(
      (p, i) =>
        `  server {\n    listen 127.0.0.1:${p};\n    default_type application/json;\n` +
        `    location /cache/ {\n      add_header cache-control "public, max-age=3600";\n      return 200 '{"member":"m${i + 1}"}\\n';\n    }\n` +
        `    location / {\n      return 200 '{"member":"m${i + 1}"}\\n';\n    }\n  }\n`,
    )
    .join("");
  return (
    `daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log ${prefix}/logs/error.log warn;\npid ${prefix}/nginx.pid;\n` +
    `events { worker_connections 4096; }\n` +
    `http {\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path ${prefix}/tmp;\n  proxy_temp_path ${prefix}/tmp;\n` +
    `  fastcgi_temp_path ${prefix}/tmp;\n  uwsgi_temp_path ${prefix}/tmp;\n  scgi_temp_path ${prefix}/tmp;\n${servers}}\n`
  );
}

/** Starts the nginx upstreams on the given free ports; the caller stops `child`. */
export function startNginxUpstreams(dir: string, ports: number[]): NginxUpstreams {
  const prefix = join(dir, "nginx-upstreams");
  mkdirSync(join(prefix, "logs"), { recursive: true });
  mkdirSync(join(prefix, "tmp"), { recursive: true });
  const conf = join(prefix, "nginx.conf");
  writeFileSync(conf, nginxUpstreamConfig(prefix, ports));
  execFileSync("nginx", ["-t", "-q", "-p", prefix, "-c", conf, "-e", join(prefix, "logs/error.log")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const child = spawn("nginx", ["-p", prefix, "-c", conf, "-e", join(prefix, "logs/error.log")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  return { addresses: ports.map((p) => `127.0.0.1:${p}`), pid: child.pid ?? 0, child };
}

/**
 * nginx as the peer proxy: `hash $http_x_user consistent` over `upstreams`, keep-alive to them,
 * listening on 127.0.0.1:`port`. One worker runs without a master (one process, as a single
 * Node process is); more run under a master sharing the listener.
 */
export function nginxHashProxyConfig(prefix: string, port: number, upstreams: string[], workers = 1): string {
  const servers = upstreams.map((a) => `    server ${a};`).join("\n");
  return (
    `daemon off;\nmaster_process ${workers > 1 ? "on" : "off"};\nworker_processes ${workers};\n` +
    `error_log ${prefix}/logs/error.log warn;\npid ${prefix}/nginx.pid;\nevents { worker_connections 4096; }\n` +
    `http {\n  access_log off;\n  client_body_temp_path ${prefix}/tmp;\n  proxy_temp_path ${prefix}/tmp;\n` +
    `  fastcgi_temp_path ${prefix}/tmp;\n  uwsgi_temp_path ${prefix}/tmp;\n  scgi_temp_path ${prefix}/tmp;\n` +
    `  upstream members {\n    hash $http_x_user consistent;\n${servers}\n    keepalive 64;\n  }\n` +
    `  server {\n    listen 127.0.0.1:${port};\n    location / {\n      proxy_pass http://members;\n` +
    `      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n    }\n  }\n}\n`
  );
}
