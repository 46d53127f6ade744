// 200 socket.io 4.x clients over 20 sessions all get all their sessions' events, in order.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { closeAll, connect, emitWithAck, newSession, publishRun, recorder } from "../relay.js";

const CLIENTS = 200;
const SESSIONS = 20;
const EVENTS = 15; // per session, the last one terminal

const sockets = [];
after(() => closeAll(sockets));

test(`${CLIENTS} concurrent v4 clients over ${SESSIONS} sessions get every event`, { timeout: 120000 }, async () => {
  const sessions = Array.from({ length: SESSIONS }, (_, k) => newSession(`scale${k}`));
  const watchers = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, k) => {
      const id = sessions[k % SESSIONS];
      const socket = await connect("v4");
      sockets.push(socket);
      const rec = recorder(socket);
      assert.deepEqual(await emitWithAck(socket, "registerSession", id), { ok: true, seq: 0, done: false });
      return { id, rec };
    }),
  );

  await Promise.all(sessions.map((id) => publishRun(id, 1, EVENTS, { complete: true })));

  await Promise.all(watchers.map(({ rec }) => rec.untilSeq(EVENTS, 90000)));
  for (const { id, rec } of watchers) {
    assert.deepEqual(rec.events.map((e) => e.meta.seq), Array.from({ length: EVENTS }, (_, k) => k + 1));
    assert.ok(rec.events.every((e) => e.meta.session === id && e.data.sessionId === id));
  }
});
