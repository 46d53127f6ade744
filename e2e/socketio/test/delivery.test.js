// Every client version × transport setting: register, get each event once and in order, late
// joiners get the history, and a reconnect that re-registers with `after` misses nothing.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import {
  closeAll, connect, emitWithAck, newSession, publishRun, recorder, transportModes, transportName, upgraded,
  waitFor,
} from "../relay.js";

const sockets = [];
after(() => closeAll(sockets));

async function open(version, transports, opts) {
  const socket = await connect(version, transports, opts);
  sockets.push(socket);
  return socket;
}

// assertRun checks events are seq from..to exactly once, in order, with the webhook's data.
function assertRun(events, sessionId, from, to, { complete = false } = {}) {
  assert.deepEqual(events.map((e) => e.meta.seq), range(from, to), "seqs, in order, each once");
  for (const { name, data, meta } of events) {
    const last = complete && meta.seq === to;
    assert.equal(name, last ? "complete" : "progress");
    assert.equal(meta.type, name);
    assert.equal(meta.session, sessionId);
    assert.equal(typeof data, "object", "data is the webhook's JSON, not a string");
    assert.equal(data.sessionId, sessionId);
    assert.equal(data.i, meta.seq);
  }
}

function range(from, to) {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

for (const version of ["v4", "v2"]) {
  for (const [mode, transports] of Object.entries(transportModes)) {
    describe(`socket.io-client ${version}, transports ${mode}`, () => {
      test("gets every event once, in order, until the terminal event", async () => {
        const id = newSession(`${version}-${mode}-run`);
        const socket = await open(version, transports);
        const rec = recorder(socket);
        assert.deepEqual(await emitWithAck(socket, "registerSession", id), { ok: true, seq: 0, done: false });
        await publishRun(id, 1, 20, { complete: true });
        await rec.untilSeq(20);
        assertRun(rec.events, id, 1, 20, { complete: true });
        if (mode === "default") {
          await upgraded(socket);
        }
        assert.equal(transportName(socket), mode === "polling" ? "polling" : "websocket");
        assert.ok(socket.connected, "the socket stays connected after the terminal event");
      });

      test("a late joiner gets the history first, then live events", async () => {
        const id = newSession(`${version}-${mode}-late`);
        await publishRun(id, 1, 5);
        const socket = await open(version, transports);
        const rec = recorder(socket);
        assert.deepEqual(await emitWithAck(socket, "registerSession", id), { ok: true, seq: 5, done: false });
        await rec.untilSeq(5);
        await publishRun(id, 6, 5, { complete: true });
        await rec.untilSeq(10);
        assertRun(rec.events, id, 1, 10, { complete: true });
      });

      test("a reconnect that registers again with after misses nothing and repeats nothing", async () => {
        const id = newSession(`${version}-${mode}-resume`);
        const socket = await open(version, transports);
        const rec = recorder(socket);
        let lastSeq = 0;
        socket.on("progress", (_data, meta) => { lastSeq = meta.seq; });
        await emitWithAck(socket, "registerSession", id);
        await publishRun(id, 1, 5);
        await rec.untilSeq(5);

        socket.disconnect();
        await publishRun(id, 6, 5); // published while the client is away

        // What a front end does on every connect: register, resuming after the last seq seen.
        socket.connect();
        await waitFor(socket, "connect");
        const ack = await emitWithAck(socket, "registerSession", id, { after: lastSeq });
        assert.deepEqual(ack, { ok: true, seq: 10, done: false });
        await rec.untilSeq(10);
        await publishRun(id, 11, 2, { complete: true });
        await rec.untilSeq(12);
        assertRun(rec.events, id, 1, 12, { complete: true });
      });
    });
  }
}
