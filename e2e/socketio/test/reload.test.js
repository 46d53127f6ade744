// A connected 4.x client keeps receiving across `caddy reload` with a changed configuration.
// Needs the Caddy that with-caddy.mjs starts (RELAY_CADDYFILE, RELAY_ADMIN, CADDY_BIN).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { caddyfile } from "../caddyfile.mjs";
import { connect, newSession, publishRun, recorder, emitWithAck, closeAll } from "../relay.js";

const { RELAY_CADDYFILE, RELAY_ADMIN, CADDY_BIN, RELAY_PORT, RELAY_NO_EIO3_PORT } = process.env;
const sockets = [];
after(() => closeAll(sockets));

test("a v4 client keeps receiving across caddy reload", { skip: !RELAY_CADDYFILE && "run through with-caddy.mjs" }, async () => {
  const socket = await connect("v4", undefined);
  sockets.push(socket);
  let disconnected = false;
  socket.on("disconnect", () => { disconnected = true; });
  const id = socket.id;
  const session = newSession("reload");
  const rec = recorder(socket);
  assert.equal((await emitWithAck(socket, "registerSession", session)).ok, true);
  await publishRun(session, 1, 5);
  await rec.untilSeq(5);

  writeFileSync(RELAY_CADDYFILE, caddyfile({
    admin: RELAY_ADMIN, port: RELAY_PORT, noEio3Port: RELAY_NO_EIO3_PORT, extra: "history 50\n\t\tqueue_size 512",
  }));
  execFileSync(CADDY_BIN, ["reload", "--config", RELAY_CADDYFILE, "--adapter", "caddyfile", "--address", `127.0.0.1:${RELAY_ADMIN}`], { stdio: "pipe" });

  await publishRun(session, 6, 5, { complete: true });
  await rec.untilSeq(10);
  assert.deepEqual(rec.events.map((e) => e.meta.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(disconnected, false, "the socket was disconnected by the reload");
  assert.equal(socket.id, id);
});
