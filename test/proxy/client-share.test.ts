// proxy/forward/client-share.ts: the count behind listen.maxUpstreamPerClient, and the key a
// client address is counted under (an IPv6 client by its /64: one host holds a whole /64, so
// counting its addresses one by one let it take 64 connections per address it chose).

import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientShare, shareKeyOf } from "../../proxy/forward/client-share.js";

test("a client takes at most its share of a member address; other clients and other addresses are apart", () => {
  const s = new ClientShare(3);
  for (let i = 0; i < 3; i++) assert.equal(s.take("10.0.0.1:80", "a"), true);
  assert.equal(s.take("10.0.0.1:80", "a"), false, "the fourth is refused");
  assert.equal(s.take("10.0.0.1:80", "b"), true, "another client has its own share");
  assert.equal(s.take("10.0.0.2:80", "a"), true, "another member address has its own count");
  s.give("10.0.0.1:80", "a");
  assert.equal(s.take("10.0.0.1:80", "a"), true, "a slot given back is taken again");
  for (let i = 0; i < 3; i++) s.give("10.0.0.1:80", "a");
  assert.equal(s.heldBy("10.0.0.1:80", "a"), 0);
  s.give("10.0.0.1:80", "a"); // one too many: ignored, never negative
  assert.equal(s.heldBy("10.0.0.1:80", "a"), 0);
  for (let i = 0; i < 3; i++) assert.equal(s.take("10.0.0.1:80", "a"), true);
  assert.equal(s.take("10.0.0.1:80", "a"), false);
});

test("IPv4 addresses are their own key; IPv6 ones share their /64 whatever the spelling", () => {
  assert.equal(shareKeyOf("192.0.2.7"), "192.0.2.7");
  assert.equal(shareKeyOf(""), "");
  const same = [
    "2001:db8:1:2::1",
    "2001:db8:1:2:ffff:ffff:ffff:ffff",
    "2001:0db8:0001:0002:0:0:0:9",
    "2001:DB8:1:2::",
    "2001:db8:1:2::5%eth0",
    "2001:db8:1:2:0:0:192.0.2.1",
    "2001:db8:1:2::192.0.2.1",
  ];
  for (const a of same) assert.equal(shareKeyOf(a), "2001:db8:1:2", a);
  assert.notEqual(shareKeyOf("2001:db8:1:3::1"), shareKeyOf("2001:db8:1:2::1"));
  // "::" standing for zeros inside the first 64 bits.
  assert.equal(shareKeyOf("2001:db8::1"), "2001:db8:0:0");
  assert.equal(shareKeyOf("1::2:3:4:5:6:7"), "1:0:2:3");
  assert.equal(shareKeyOf("::1"), "0:0:0:0");
  assert.equal(shareKeyOf("fe80::1%lo"), "fe80:0:0:0");
  // Not an address: its own key, never a crash.
  for (const junk of ["1:2:3", "::1::2", "zz::1", "1:2:3:4:5:6:7:8:9::"])
    assert.equal(shareKeyOf(junk), junk, junk);
});

test("below `unshared` connections in use a client is not held to its share; past it, only clients under their share take more", () => {
  const s = new ClientShare(2, 4);
  for (let i = 0; i < 4; i++)
    assert.equal(s.take("10.0.0.1:80", "lone"), true, `lone client, ${i + 1} of 4 in use`);
  assert.equal(s.take("10.0.0.1:80", "lone"), false, "4 in use and the lone client holds more than 2");
  assert.equal(s.take("10.0.0.1:80", "other"), true, "another client under its share still takes one");
  assert.equal(s.take("10.0.0.1:80", "other"), true);
  assert.equal(s.take("10.0.0.1:80", "other"), false, "and no more than its share while the address is busy");
  assert.equal(s.take("10.0.0.2:80", "lone"), true, "another address counts its own use");
  s.give("10.0.0.1:80", "other");
  s.give("10.0.0.1:80", "other");
  s.give("10.0.0.1:80", "lone");
  assert.equal(
    s.take("10.0.0.1:80", "lone"),
    true,
    "3 in use, below 4: the lone client takes one past its share",
  );
  assert.equal(s.take("10.0.0.1:80", "lone"), false, "4 in use again: refused");
});

test("an address's entry outlives its last slot (no entry allocated per request), and idle entries are swept past 4,096", () => {
  const s = new ClientShare(2);
  for (let i = 0; i < 3; i++) {
    assert.equal(s.take("10.0.0.1:80", "a"), true);
    s.give("10.0.0.1:80", "a");
  }
  assert.equal(s.addresses, 1, "the idle entry is kept for the next request");
  assert.equal(s.heldBy("10.0.0.1:80", "a"), 0, "the client's own count goes");
  // Addresses that come and go (member churn): held entries bounded, busy ones never dropped.
  assert.equal(s.take("10.9.9.9:80", "busy"), true);
  for (let i = 0; i < 20_000; i++) {
    const address = `10.1.${i >> 8}.${i & 255}:80`;
    assert.equal(s.take(address, "a"), true);
    s.give(address, "a");
  }
  assert.ok(s.addresses <= 8192, `${s.addresses} address entries after 20,000 idle addresses`);
  assert.equal(s.heldBy("10.9.9.9:80", "busy"), 1, "a busy address survives every sweep");
  assert.equal(s.take("10.9.9.9:80", "busy"), true);
  assert.equal(s.take("10.9.9.9:80", "busy"), false, "and keeps its count: the share still applies");
});
