// Two relay nodes sharing sessions through Redis: a socket.io 4.x client on node B gets what the
// backend's webhooks bring to node A, once each, in order, with the seqs A reports (a long-poll on
// A), and a client that saw part of an import on A resumes on B with its last seq. Needs
// RELAY_CLUSTER_A and RELAY_CLUSTER_B (with-caddy.mjs starts the two nodes when Redis is there).
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { closeAll, connect, emitWithAck, newSession, recorder, transportModes } from "../relay.js";

const A = (process.env.RELAY_CLUSTER_A ?? "").replace(/\/$/, "");
const B = (process.env.RELAY_CLUSTER_B ?? "").replace(/\/$/, "");
const SECRET = process.env.RELAY_SECRET ?? "";
const skip = !(A && B) && "set RELAY_CLUSTER_A and RELAY_CLUSTER_B to two relays sharing a Redis (with-caddy.mjs does)";

const sockets = [];
after(() => closeAll(sockets));

// publishTo POSTs one event to the webhook of the relay at base and checks that it was accepted.
async function publishTo(base, event) {
  const body = JSON.stringify(event);
  const headers = { "Content-Type": "application/json" };
  if (SECRET) {
    headers["X-Relay-Signature"] = "sha256=" + createHmac("sha256", SECRET).update(body).digest("hex");
  }
  const res = await fetch(`${base}/hooks/progress`, { method: "POST", headers, body, signal: AbortSignal.timeout(20000) });
  assert.equal(res.status, 202, `webhook to ${base} answered ${res.status}: ${await res.text()}`);
}

// publishRunTo publishes events from..from+count-1 of a session to base, one request each, with
// event IDs; the last is the terminal "complete" when complete is set.
async function publishRunTo(base, sessionId, from, count, { complete = false } = {}) {
  for (let i = from; i < from + count; i++) {
    const last = complete && i === from + count - 1;
    await publishTo(base, { sessionId, type: last ? "complete" : "progress", eventId: `e${i}`, i });
  }
}

// reported follows a long-poll on the relay at base until the session is done and returns its
// envelopes: what that node reports.
async function reported(base, sessionId) {
  const events = [];
  let after = 0;
  for (let round = 0; round < 100; round++) {
    const res = await fetch(`${base}/api/import/progress/${sessionId}?after=${after}&wait=10`, { signal: AbortSignal.timeout(20000) });
    assert.equal(res.status, 200);
    const answer = await res.json();
    events.push(...answer.events);
    after = answer.last;
    if (answer.done) return events;
  }
  throw new Error(`long-poll on ${base} not done after 100 rounds`);
}

// sameAsReported checks that a socket got exactly what node A reports, in order.
function sameAsReported(received, onA, sessionId) {
  assert.deepEqual(received.map((e) => e.meta.seq), onA.map((e) => e.seq), "A's seqs, in order, each once");
  received.forEach(({ name, data, meta }, k) => {
    assert.equal(name, onA[k].type);
    assert.equal(meta.type, onA[k].type);
    assert.equal(meta.session, sessionId);
    assert.deepEqual(data, onA[k].data, "the webhook's JSON");
  });
}

async function open(transports, url) {
  const socket = await connect("v4", transports, { url });
  sockets.push(socket);
  return socket;
}

describe("socket.io-client v4 across two relay nodes", { skip }, () => {
  for (const [mode, transports] of Object.entries(transportModes)) {
    test(`transports ${mode}: events published to A reach a client on B once, in order, with A's seqs`, async () => {
      const id = newSession(`cluster-${mode}`);
      const socket = await open(transports, B);
      const rec = recorder(socket);
      assert.deepEqual(await emitWithAck(socket, "registerSession", id), { ok: true, seq: 0, done: false });
      await publishRunTo(A, id, 1, 20, { complete: true });
      await rec.untilSeq(20);
      const onA = await reported(A, id);
      assert.deepEqual(onA.map((e) => e.data.i), Array.from({ length: 20 }, (_, k) => k + 1), "A sequenced them as sent");
      sameAsReported(rec.events, onA, id);
    });
  }

  test("a client that saw part of an import on A registers on B with its last seq and misses nothing", async () => {
    const id = newSession("cluster-resume");
    const onNodeA = await open(["websocket"], A);
    const first = recorder(onNodeA);
    await emitWithAck(onNodeA, "registerSession", id);
    await publishRunTo(A, id, 1, 6);
    await first.untilSeq(6);
    const lastSeq = first.events.at(-1).meta.seq;
    onNodeA.close();

    await publishRunTo(A, id, 7, 4); // published while the client moves to B
    const onNodeB = await open(undefined, B);
    const rest = recorder(onNodeB);
    const ack = await emitWithAck(onNodeB, "registerSession", id, { after: lastSeq });
    assert.deepEqual(ack, { ok: true, seq: 10, done: false });
    await publishRunTo(A, id, 11, 5, { complete: true });
    await rest.untilSeq(15);

    const onA = await reported(A, id);
    sameAsReported([...first.events, ...rest.events], onA, id);
  });
});
