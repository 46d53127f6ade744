// Acknowledgement shapes, unknown events, several sessions per socket, the client script, and
// what a 2.x client sees when Engine.IO 3 is off.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  RELAY_URL, RELAY_URL_NO_EIO3, clients, closeAll, connect, emitWithAck, newSession, publishRun, recorder, waitFor,
} from "../relay.js";

const sockets = [];
after(() => closeAll(sockets));

async function open(version, transports, opts) {
  const socket = await connect(version, transports, opts);
  sockets.push(socket);
  return socket;
}

for (const version of ["v4", "v2"]) {
  test(`${version}: registerSession and unregisterSession acknowledgements`, async () => {
    const socket = await open(version);
    const finished = newSession(`${version}-ack-finished`);
    await publishRun(finished, 1, 3, { complete: true });

    assert.deepEqual(await emitWithAck(socket, "registerSession", newSession(`${version}-ack`)),
      { ok: true, seq: 0, done: false });
    const bad = await emitWithAck(socket, "registerSession", "no spaces allowed");
    assert.equal(bad.ok, false);
    assert.match(bad.error, /invalid session ID/);
    const badAfter = await emitWithAck(socket, "registerSession", newSession("x"), { after: -3 });
    assert.equal(badAfter.ok, false);
    assert.match(badAfter.error, /sequence number/);
    // A client that already has the terminal event is told it is done.
    assert.deepEqual(await emitWithAck(socket, "registerSession", finished, { after: 3 }),
      { ok: true, seq: 3, done: true });
    assert.deepEqual(await emitWithAck(socket, "unregisterSession", finished), { ok: true });
  });

  test(`${version}: unknown events are ignored and the socket stays usable`, async () => {
    const socket = await open(version);
    let answered = false;
    socket.emit("subscribeToEverything", "x", () => { answered = true; });
    socket.emit("registerSession"); // no session ID and no callback: nothing to answer
    // The relay handles a socket's events in order: the unknown one came first.
    const ack = await emitWithAck(socket, "registerSession", newSession(`${version}-unknown`));
    assert.equal(ack.ok, true);
    assert.equal(answered, false, "an unknown event was acknowledged");
    assert.ok(socket.connected);
  });

  test(`${version}: one socket watches several sessions`, async () => {
    const socket = await open(version);
    const rec = recorder(socket);
    const a = newSession(`${version}-multi-a`);
    const b = newSession(`${version}-multi-b`);
    await emitWithAck(socket, "registerSession", a);
    await emitWithAck(socket, "registerSession", b);
    await Promise.all([publishRun(a, 1, 3, { complete: true }), publishRun(b, 1, 4, { complete: true })]);
    await rec.until((evs) => evs.filter((e) => e.name === "complete").length === 2, "both terminal events");
    for (const [id, n] of [[a, 3], [b, 4]]) {
      assert.deepEqual(rec.events.filter((e) => e.meta.session === id).map((e) => e.meta.seq),
        Array.from({ length: n }, (_, k) => k + 1));
    }
  });
}

test("the socket.io client script is served under the path", async () => {
  for (const name of ["socket.io.js", "socket.io.min.js"]) {
    const res = await fetch(`${RELAY_URL}/socket.io/${name}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /javascript/);
    assert.ok(res.headers.get("etag"));
    assert.match((await res.text()).slice(0, 200), /Socket\.IO v4\./);
  }
});

test("with allow_eio3 off, a 2.x client fails its handshake with a clear error", { skip: !RELAY_URL_NO_EIO3 && "set RELAY_URL_NO_EIO3" }, async () => {
  for (const transports of [["polling"], ["websocket"]]) {
    const socket = clients.v2(RELAY_URL_NO_EIO3, { forceNew: true, reconnection: false, transports });
    sockets.push(socket);
    const [err] = await waitFor(socket, "connect_error");
    assert.ok(err, `${transports}: connect_error without an error`);
    assert.equal(socket.connected, false);
    socket.close();
  }
  const res = await fetch(`${RELAY_URL_NO_EIO3}/socket.io/?EIO=3&transport=polling`);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.match(body.message, /Engine\.IO 3 .*allow_eio3/);
  // A 4.x client is not affected.
  const v4 = await open("v4", undefined, { url: RELAY_URL_NO_EIO3 });
  assert.ok(v4.connected);
});
