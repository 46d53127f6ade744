// Helpers of the SSE ingest end-to-end tests: subscribers on each of the relay's transports (SSE
// through fetch, WebSocket through ws, long-poll through fetch) and the backend's own answers.
//
//   RELAY_PULL_URL  a relay with upstream_sse pointing at the backend; subscribe path /api/import/progress/{session}
//   RELAY_TEE_URL   a relay with tee_sse /api/import/progress/{session} in front of reverse_proxy to the backend;
//                   subscribe path /relay/progress/{session}
//   BACKEND_URL     the backend itself (backend.js)
import WebSocket from "ws";

function envURL(name) {
  const v = (process.env[name] ?? "").replace(/\/$/, "");
  if (!v) throw new Error(`set ${name} (with-caddy.mjs sets it: npm run test:caddy)`);
  return v;
}

export const PULL_URL = envURL("RELAY_PULL_URL");
export const TEE_URL = envURL("RELAY_TEE_URL");
export const BACKEND_URL = envURL("BACKEND_URL");

// TIMEOUT bounds every wait: a whole import takes well under a second.
const TIMEOUT = 15000;

// Everything still open when a test file ends (a failed test leaves streams behind) is closed by
// closeAll, so that the file ends at once rather than at the runner's timeout.
const stop = new AbortController();
const sockets = new Set();

export function closeAll() {
  stop.abort();
  for (const ws of sockets) ws.terminate();
}

function deadline() {
  return AbortSignal.any([AbortSignal.timeout(TIMEOUT), stop.signal]);
}

let sessionCounter = 0;
// A session ID no earlier run against the same relay used.
export function newSession(label) {
  sessionCounter += 1;
  return `e2e-sse-${label}-${process.pid}-${Date.now().toString(36)}-${sessionCounter}`;
}

// parseEvents splits complete event blocks off the front of text (LF line endings, as the relay
// and the backend write them) and returns them with the unparsed rest.
export function parseEvents(text) {
  const events = [];
  let end;
  while ((end = text.indexOf("\n\n")) >= 0) {
    const block = text.slice(0, end);
    text = text.slice(end + 2);
    const ev = { id: undefined, event: undefined, data: [] };
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") ev.data.push(value);
      else if (field === "id") ev.id = value;
      else if (field === "event") ev.event = value;
    }
    if (ev.data.length > 0) events.push({ id: ev.id, event: ev.event, data: ev.data.join("\n") });
  }
  return { events, rest: text };
}

// readBody reads a fetch response's body to its end, as bytes.
export async function readBody(res) {
  const chunks = [];
  for await (const chunk of res.body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

// openSSE subscribes to an event stream at url; once the relay answered, it returns { done }, the
// promise of the events it delivers until it ends the stream.
export async function openSSE(url) {
  const res = await fetch(url, { headers: { Accept: "text/event-stream" }, signal: deadline() });
  if (res.status !== 200 || res.headers.get("content-type") !== "text/event-stream") {
    throw new Error(`SSE ${url} answered ${res.status} ${res.headers.get("content-type")}`);
  }
  const done = readBody(res).then((b) => {
    const { events, rest } = parseEvents(b.toString("utf8"));
    if (rest.trim() !== "") throw new Error(`SSE ${url} ended inside an event: ${JSON.stringify(rest)}`);
    return events;
  });
  return { done };
}

export function wsURL(base, path) {
  return base.replace(/^http/, "ws") + path;
}

// openWebSocket connects (sending first, if given, as the seed protocol's first message) and returns
// { done }, the promise of { frames, code }: every text frame until the relay closes the connection.
export async function openWebSocket(url, first) {
  const ws = new WebSocket(url);
  sockets.add(ws);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const frames = [];
  const closed = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`WebSocket ${url}: not closed after ${TIMEOUT} ms, ${frames.length} frames`));
    }, TIMEOUT);
    ws.on("message", (data, isBinary) => {
      if (!isBinary) frames.push(data.toString("utf8"));
    });
    ws.once("close", (code) => {
      clearTimeout(timer);
      sockets.delete(ws);
      resolve({ frames, code });
    });
    ws.once("error", reject);
  });
  if (first !== undefined) ws.send(JSON.stringify(first));
  return { done: closed };
}

// longPoll follows a session with long-polls at url from the start until the answer says done, and
// returns the envelopes received.
export async function longPoll(url) {
  const got = [];
  let after = 0;
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${url}?after=${after}&wait=10`, { signal: deadline() });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`long-poll ${url} answered ${res.status}: ${text}`);
    const answer = JSON.parse(text);
    got.push(...answer.events);
    after = answer.last;
    if (answer.done) return got;
  }
  throw new Error(`long-poll ${url}: not done after 200 polls`);
}

// subscribers reads the relay's health: open subscriptions by transport.
export async function subscribers(base) {
  const res = await fetch(`${base}/relay/health`);
  return (await res.json()).subscribers;
}

// startImport starts the backend's simulated import, through the relay's Caddy as a front end would.
export async function startImport(base, id, total) {
  const res = await fetch(`${base}/api/import/${id}/start`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ total }),
  });
  if (res.status !== 202) throw new Error(`start answered ${res.status}: ${await res.text()}`);
}

// backendJob is the backend's own view of an import.
export async function backendJob(id) {
  const res = await fetch(`${BACKEND_URL}/api/import/${id}`);
  if (res.status !== 200) throw new Error(`job ${id}: ${res.status}`);
  return res.json();
}

// backendStream reads the finished import's stream straight from the backend: its exact bytes.
export async function backendStream(id) {
  const res = await fetch(`${BACKEND_URL}/api/import/progress/${id}`);
  return readBody(res);
}

export async function waitFor(what, cond) {
  const until = Date.now() + TIMEOUT;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// expectedEvents is the data of each event of a finished import exactly as the backend wrote it,
// read back from the backend's own stream.
export async function expectedEvents(id) {
  return parseEvents((await backendStream(id)).toString("utf8")).events.map((e) => e.data);
}
