// The shared cache's key and the request-target's text, tried from the outside: a real shardgate
// process, a real redis-server and a real member on 127.0.0.1, targets written on raw sockets (an
// HTTP client would encode them). A Redis key's hash tag ends at "}", so the key wrote a "}" of
// the URL as "%7D": `/a}` and `/a%7D` were one entry, though the member is sent each target as
// it came (the path normaliser decodes only unreserved characters; the query is never touched).
// Whoever asked first for one planted what every client of the other was served. Two requests
// share an entry only when the member is sent the same target: now each keeps its own, and the
// spellings the normaliser does make one (`%61` and `a`, `%7d` and `%7D`) still share one.

import assert from "node:assert/strict";
import { test } from "node:test";
import { cachedRoute, cacheRulesGatePerFile } from "../support/cache-rules-gate.js";
import { rawReply } from "../support/raw-socket.js";
import { eventually } from "../support/wait.js";

const gate = cacheRulesGatePerFile("tt:", cachedRoute("{ pathPrefix: /static }"));

interface Answer {
  cache: string;
  body: string;
}

async function get(target: string): Promise<Answer> {
  const reply = await rawReply(gate.port, 10_000, (s) =>
    s.write(`GET ${target} HTTP/1.1\r\nhost: site.test\r\nconnection: close\r\n\r\n`),
  );
  const at = reply.indexOf("\r\n\r\n");
  assert.match(reply, /^HTTP\/1\.1 200 /, `${target}: ${reply}`);
  return { cache: /\r\nx-cache: (\w+)/i.exec(reply.slice(0, at))?.[1] ?? "", body: reply.slice(at + 4) };
}

function hit(target: string): Promise<Answer> {
  return eventually(`${target} answered from the cache`, async () => {
    const a = await get(target);
    return a.cache === "HIT" ? a : undefined;
  });
}

test("a target with '}' and one with '%7D' are two entries, whichever is asked first", async () => {
  for (const [first, second] of [
    ["/static/brace/a}", "/static/brace/a%7D"],
    ["/static/brace/b%7D", "/static/brace/b}"],
    ["/static/brace/q?x=}", "/static/brace/q?x=%7D"],
    ["/static/brace/r?x=%7d", "/static/brace/r?x=}"],
    // The key writes "}" as "{7D", so "{" is escaped too: else `/c}` and `/c{7D` were one text.
    ["/static/brace/c}", "/static/brace/c{7D"],
  ]) {
    assert.equal((await get(first)).cache, "MISS");
    assert.ok((await hit(first)).body.includes(` ${first} `), first);
    // The old code: HIT, with the body the member wrote for `first`.
    const other = await get(second);
    assert.equal(other.cache, "MISS", `${second} was served ${other.body}`);
    assert.ok(other.body.includes(` ${second} `), `${second} was served ${other.body}`);
    assert.ok((await hit(second)).body.includes(` ${second} `), second);
  }
});

test("targets the normaliser makes one still share one entry", async () => {
  for (const [first, second, sent] of [
    ["/static/same/%61b", "/static/same/ab", "/static/same/ab"],
    ["/static/same/c%7d", "/static/same/c%7D", "/static/same/c%7D"],
    ["/static/same/d%25", "/static/same/d%25", "/static/same/d%25"],
  ]) {
    assert.equal((await get(first)).cache, "MISS");
    await hit(first);
    const a = await get(second);
    assert.equal(a.cache, "HIT", `${second} after ${first}`);
    assert.equal(gate.member.count(sent), 1, gate.member.asked.join("\n"));
  }
});
