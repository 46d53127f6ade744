// Assertions shared by the pull and tee tests: every transport delivers each event once, in order,
// with the backend's data byte-for-byte and seqs 1..n where the transport carries them.
import assert from "node:assert/strict";

function types(want) {
  return want.map((d) => JSON.parse(d).type);
}

// assertSSE checks the relay's SSE events: id is the seq, no event: line, data as the backend wrote it.
export function assertSSE(who, events, want) {
  assert.deepEqual(events.map((e) => e.id), want.map((_, i) => String(i + 1)), `${who}: ids are seqs 1..n, each once`);
  assert.ok(events.every((e) => e.event === undefined), `${who}: no event: line`);
  assert.deepEqual(events.map((e) => e.data), want, `${who}: data as the backend wrote it`);
}

// assertSeedFrames checks a seed-protocol WebSocket: one frame per event, the data as-is, then 1000.
export function assertSeedFrames(who, { frames, code }, want) {
  assert.deepEqual(frames, want, `${who}: each event's data once, in order`);
  assert.equal(code, 1000, `${who}: closed normally after the terminal event`);
}

// assertEnvelopes checks envelopes {seq, type, session, data} from a WebSocket or long-polls.
export function assertEnvelopes(who, envelopes, want, session) {
  assert.deepEqual(envelopes.map((e) => e.seq), want.map((_, i) => i + 1), `${who}: seqs 1..n, each once`);
  assert.deepEqual(envelopes.map((e) => e.type), types(want), `${who}: types`);
  assert.ok(envelopes.every((e) => e.session === session), `${who}: session`);
  // The backend wrote JSON.stringify(data); the same object, stringified again, gives the same text.
  assert.deepEqual(envelopes.map((e) => JSON.stringify(e.data)), want, `${who}: data`);
}

// assertWebSocketEnvelopes checks a by-URL WebSocket: envelope frames, then close code 1000.
export function assertWebSocketEnvelopes(who, { frames, code }, want, session) {
  assertEnvelopes(who, frames.map((f) => JSON.parse(f)), want, session);
  assert.equal(code, 1000, `${who}: closed normally after the terminal event`);
}
