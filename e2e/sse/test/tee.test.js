// tee_sse: a browser keeps reading the Express backend's own stream through Caddy's reverse_proxy and
// gets its bytes unchanged, while the relay publishes the events to its own subscribers.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import {
  TEE_URL, backendJob, closeAll, backendStream, expectedEvents, longPoll, newSession, openSSE, openWebSocket, readBody,
  startImport, wsURL,
} from "../relay.js";
import { assertEnvelopes, assertSSE, assertSeedFrames, assertWebSocketEnvelopes } from "../assertions.js";

after(closeAll);

const TOTAL = 20;

// browserStream opens the backend's stream through Caddy, as the front end's EventSource does, and
// returns the promise of its bytes.
async function browserStream(id) {
  const res = await fetch(`${TEE_URL}/api/import/progress/${id}`, { headers: { Accept: "text/event-stream" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  return readBody(res);
}

test("tee: the browser gets the backend's bytes unchanged; WebSocket, SSE and long-poll subscribers get each event once, in order", async () => {
  const id = newSession("tee");
  const relayPath = `/relay/progress/${id}`;
  const seed = await openWebSocket(wsURL(TEE_URL, "/"), { sessionId: id });
  const byURL = await openWebSocket(wsURL(TEE_URL, relayPath));
  const sse = await openSSE(TEE_URL + relayPath);
  const polled = longPoll(TEE_URL + relayPath);
  const browser = browserStream(id);

  await startImport(TEE_URL, id, TOTAL);
  const proxied = await browser;
  const direct = await backendStream(id);
  assert.ok(direct.length > 0);
  assert.ok(proxied.equals(direct), `bytes through Caddy differ from the backend's:\n${proxied}\n---\n${direct}`);

  const want = await expectedEvents(id);
  assert.equal(want.length, TOTAL + 1);
  assertSeedFrames("seed WebSocket", await seed.done, want);
  assertWebSocketEnvelopes("WebSocket by URL", await byURL.done, want, id);
  assertSSE("SSE", await sse.done, want);
  assertEnvelopes("long-poll", await polled, want, id);
});

test("tee: two browser tabs streaming one import through Caddy publish each event once", async () => {
  const id = newSession("tee-tabs");
  const relayPath = `/relay/progress/${id}`;
  const byURL = await openWebSocket(wsURL(TEE_URL, relayPath));
  const tabs = [browserStream(id), browserStream(id)];

  await startImport(TEE_URL, id, TOTAL);
  const [a, b] = await Promise.all(tabs);
  assert.ok(a.equals(b), "both tabs got the same bytes");
  assert.equal((await backendJob(id)).streams, 2);

  const want = await expectedEvents(id);
  assertWebSocketEnvelopes("WebSocket by URL", await byURL.done, want, id);
});
