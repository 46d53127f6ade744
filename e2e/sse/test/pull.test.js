// upstream_sse: subscribers of any transport make the relay open ONE stream to the Express backend;
// every event it writes reaches each of them once, in order.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import {
  PULL_URL, backendJob, closeAll, expectedEvents, longPoll, newSession, openSSE, openWebSocket, startImport, waitFor, wsURL,
} from "../relay.js";
import { assertEnvelopes, assertSSE, assertSeedFrames, assertWebSocketEnvelopes } from "../assertions.js";

after(closeAll);

const TOTAL = 20;

test("pull: one backend stream feeds SSE, WebSocket (seed and by URL) and long-poll subscribers, each event once, in order", async () => {
  const id = newSession("pull");
  const path = `/api/import/progress/${id}`;
  const sse = [await openSSE(PULL_URL + path), await openSSE(PULL_URL + path)];
  const seed = [await openWebSocket(wsURL(PULL_URL, "/"), { sessionId: id }), await openWebSocket(wsURL(PULL_URL, "/"), { sessionId: id })];
  const byURL = [await openWebSocket(wsURL(PULL_URL, path)), await openWebSocket(wsURL(PULL_URL, path))];
  const polls = [longPoll(PULL_URL + path), longPoll(PULL_URL + path)];
  await waitFor("the relay's stream from the backend", async () => (await backendJob(id).catch(() => ({}))).streams >= 1);

  await startImport(PULL_URL, id, TOTAL); // through Caddy's reverse_proxy, as the front end does
  const got = {
    sse: await Promise.all(sse.map((s) => s.done)),
    seed: await Promise.all(seed.map((s) => s.done)),
    byURL: await Promise.all(byURL.map((s) => s.done)),
    polls: await Promise.all(polls),
  };
  assert.equal((await backendJob(id)).streams, 1, "one backend stream for eight subscribers");

  const want = await expectedEvents(id);
  assert.equal(want.length, TOTAL + 1);
  got.sse.forEach((events, i) => assertSSE(`SSE ${i}`, events, want));
  got.seed.forEach((res, i) => assertSeedFrames(`seed WebSocket ${i}`, res, want));
  got.byURL.forEach((res, i) => assertWebSocketEnvelopes(`WebSocket by URL ${i}`, res, want, id));
  got.polls.forEach((envs, i) => assertEnvelopes(`long-poll ${i}`, envs, want, id));
});

test("pull: a subscriber joining mid-import gets the history, then the live events, once", async () => {
  const id = newSession("pull-late");
  const path = `/api/import/progress/${id}`;
  const first = await openWebSocket(wsURL(PULL_URL, path));
  await waitFor("the relay's stream from the backend", async () => (await backendJob(id).catch(() => ({}))).streams >= 1);
  await startImport(PULL_URL, id, TOTAL);
  await waitFor("a few events at the relay", async () => {
    const res = await fetch(`${PULL_URL}${path}?after=0&wait=0`);
    return (await res.json()).last >= 5;
  });
  const late = await openSSE(PULL_URL + path);

  const want = await expectedEvents(id);
  assertWebSocketEnvelopes("first subscriber", await first.done, want, id);
  assertSSE("late SSE subscriber", await late.done, want);
  assert.equal((await backendJob(id)).streams, 2, "the relay's one stream, and the test's own read of the finished import");
});

test("pull: several imports at once stay apart", async () => {
  const ids = Array.from({ length: 5 }, (_, i) => newSession(`pull-many-${i}`));
  const subs = await Promise.all(ids.map(async (id) => ({
    id,
    sse: await openSSE(`${PULL_URL}/api/import/progress/${id}`),
    seed: await openWebSocket(wsURL(PULL_URL, "/"), { sessionId: id }),
  })));
  await waitFor("the relay's streams from the backend",
    async () => (await Promise.all(ids.map((id) => backendJob(id).catch(() => ({}))))).every((j) => j.streams >= 1));
  await Promise.all(ids.map((id) => startImport(PULL_URL, id, 10)));
  for (const { id, sse, seed } of subs) {
    const want = await expectedEvents(id);
    assert.ok(want.every((d) => JSON.parse(d).sessionId === id));
    assertSSE(`SSE ${id}`, await sse.done, want);
    assertSeedFrames(`seed WebSocket ${id}`, await seed.done, want);
  }
});
