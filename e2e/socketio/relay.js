// Helpers shared by the Socket.IO end-to-end tests. They only use HTTP and real socket.io
// clients, so they run the same against the Go test server and against the built Caddy.
//
//   RELAY_URL          base URL of the relay (required), e.g. http://127.0.0.1:8080
//   RELAY_SECRET       webhook HMAC secret; requests are signed when it is set
//   RELAY_HOOK_URL     webhook URL (default ${RELAY_URL}/hooks/progress)
//   RELAY_URL_NO_EIO3  a relay whose socketio block has allow_eio3 off (those tests skip without it)
import { createHmac } from "node:crypto";
import { io as ioV4 } from "socket.io-client";
import ioV2 from "socket.io-client-v2";

export const RELAY_URL = (process.env.RELAY_URL ?? "").replace(/\/$/, "");
if (!RELAY_URL) {
  throw new Error("set RELAY_URL to the relay's base URL, e.g. RELAY_URL=http://127.0.0.1:8080 npm test");
}
const HOOK_URL = process.env.RELAY_HOOK_URL ?? `${RELAY_URL}/hooks/progress`;
const SECRET = process.env.RELAY_SECRET ?? "";
export const RELAY_URL_NO_EIO3 = (process.env.RELAY_URL_NO_EIO3 ?? "").replace(/\/$/, "");

export const clients = { v4: ioV4, v2: ioV2 };

// Transport settings every scenario runs under: the default (polling, upgraded to websocket),
// polling only, websocket only.
export const transportModes = {
  default: undefined,
  polling: ["polling"],
  websocket: ["websocket"],
};

let sessionCounter = 0;
// A session ID no earlier run against the same relay used.
export function newSession(label) {
  sessionCounter += 1;
  return `e2e-${label}-${process.pid}-${Date.now().toString(36)}-${sessionCounter}`;
}

// publish POSTs one event (or an array of them) to the webhook and returns the parsed answer.
export async function publish(events) {
  const body = JSON.stringify(events);
  const headers = { "Content-Type": "application/json" };
  if (SECRET) {
    headers["X-Relay-Signature"] = "sha256=" + createHmac("sha256", SECRET).update(body).digest("hex");
  }
  // Like a real backend, retry a request that failed at the connection level (a keep-alive
  // connection closed by a config reload); the relay's answer decides everything else.
  let res;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(HOOK_URL, { method: "POST", headers, body, signal: AbortSignal.timeout(20000) });
      break;
    } catch (err) {
      if (attempt >= 3 || err.name === "TimeoutError") throw err;
    }
  }
  const text = await res.text();
  if (res.status !== 202) {
    throw new Error(`webhook answered ${res.status}: ${text}`);
  }
  return JSON.parse(text);
}

// publishRun publishes events 1..count of a session, one request each and in order; the last is
// the terminal "complete" when complete is true.
export async function publishRun(sessionId, from, count, { complete = false } = {}) {
  for (let i = from; i < from + count; i++) {
    const last = complete && i === from + count - 1;
    await publish({ sessionId, type: last ? "complete" : "progress", i });
  }
}

// connect opens a socket with the given client version and transports and waits for "connect".
export async function connect(version, transports, { url = RELAY_URL, reconnection = false } = {}) {
  const opts = { forceNew: true, reconnection };
  if (transports) opts.transports = transports;
  const socket = clients[version](url, opts);
  try {
    await waitFor(socket, "connect");
  } catch (err) {
    socket.close();
    throw err;
  }
  return socket;
}

// waitFor resolves with the arguments of the socket's next `event`, or rejects after timeoutMs
// or on a connection error.
export function waitFor(socket, event, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEvent = (...args) => {
      cleanup();
      resolve(args);
    };
    const onError = (err) => {
      cleanup();
      reject(new Error(`connect_error while waiting for ${event}: ${err?.message ?? err}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off(event, onEvent);
      if (event !== "connect_error") socket.off("connect_error", onError);
    };
    socket.on(event, onEvent);
    if (event !== "connect_error") socket.on("connect_error", onError);
  });
}

// emitWithAck emits and resolves with the acknowledgement's first argument.
export function emitWithAck(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no acknowledgement of ${event} within 20 s`)), 20000);
    socket.emit(event, ...args, (answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

// recorder collects the relay's events on a socket: {name, data, meta} in arrival order.
export function recorder(socket, names = ["progress", "complete", "error"]) {
  const rec = { events: [], waiters: [] };
  for (const name of names) {
    socket.on(name, (data, meta) => {
      rec.events.push({ name, data, meta });
      rec.waiters = rec.waiters.filter((w) => !w());
    });
  }
  // until resolves once pred(events) holds, or rejects after timeoutMs.
  rec.until = (pred, what, timeoutMs = 30000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (!pred(rec.events)) return false;
        clearTimeout(timer);
        resolve(rec.events);
        return true;
      };
      const timer = setTimeout(() => {
        rec.waiters = rec.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; got seqs ${rec.events.map((e) => e.meta?.seq).join(",")}`));
      }, timeoutMs);
      if (!check()) rec.waiters.push(check);
    });
  rec.untilSeq = (seq, timeoutMs) =>
    rec.until((evs) => evs.some((e) => e.meta?.seq >= seq), `seq ${seq}`, timeoutMs);
  return rec;
}

// transportName is the Engine.IO transport a socket currently uses (v4 and v2 alike).
export function transportName(socket) {
  return socket.io.engine.transport.name;
}

// upgraded resolves once the socket runs over websocket.
export async function upgraded(socket, timeoutMs = 20000) {
  if (transportName(socket) === "websocket") return;
  await waitFor(socket.io.engine, "upgrade", timeoutMs);
}

// closeAll closes the sockets when a test file is done. A client closed in the middle of a
// transport upgrade waits for the upgrade to end before it lets go of its connections; if some
// still hold on after a few seconds, say so and let the test process end anyway.
export function closeAll(sockets) {
  for (const s of sockets) s.close();
  setTimeout(() => {
    const open = sockets.filter((s) => s.io.engine && s.io.engine.readyState !== "closed");
    if (open.length > 0) {
      const states = open.map((s) => `${s.io.engine.readyState}/${s.io.engine.transport?.name}/upgrading=${s.io.engine.upgrading}`);
      console.error(`warning: ${open.length} socket(s) still open 5 s after close: ${states.join(", ")}`);
    }
    process.exit();
  }, 5000).unref();
}
