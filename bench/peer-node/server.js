// The Node.js progress server that Progress Relay replaces, written the way that system describes
// itself, so that the benchmark compares the relay with its real predecessor on the same load:
//
// - Express for HTTP;
// - a socket.io v4 server: clients emit('registerSession', sessionId) and receive
//   emit(<type>, data);
// - a `ws` WebSocketServer: the first message is {"sessionId": id}, then one text frame per event
//   with the backend's JSON;
// - SSE: GET /api/import/progress/:sessionId with Accept: text/event-stream, then
//   res.write('data: ' + JSON.stringify(data) + '\n\n') per event;
// - a webhook: POST JSON (one object or an array of them) → broadcast to the session's clients.
//
// Two bench-only additions, so that the load tool can drive it exactly like the relay:
// - GET /relay/health counts registered subscribers per transport (the tool waits on it before
//   publishing, as it does with the relay);
// - long-poll on the same path as SSE when the client does not accept text/event-stream, with the
//   relay's contract (?after=<seq>&wait=<s> → {"session","events":[{seq,type,session,data}],
//   "last","done"}), since the original only answered the latest state.
//
// Run: PORT=8081 node server.js (binds 127.0.0.1).
'use strict';

const http = require('node:http');
const express = require('express');
const { Server } = require('socket.io');
const { WebSocketServer, WebSocket } = require('ws');

const PORT = Number(process.env.PORT || 8081);
const HOST = process.env.HOST || '127.0.0.1';
// Events kept per session for long-poll cursors (the bench sizes it like the relay's history).
const HISTORY = Number(process.env.HISTORY || 5000);

const app = express();
const server = http.createServer(app);
// destroyUpgrade off: the ws server below takes every upgrade that is not for /socket.io/.
const io = new Server(server, { destroyUpgrade: false });
const wss = new WebSocketServer({ noServer: true });

const wsClients = new Map(); // sessionId -> Set<WebSocket>
const sseClients = new Map(); // sessionId -> Set<Response>
const sessions = new Map(); // sessionId -> {seq, events: [{seq, type, data}], waiters: Set<fn>}
const counts = { socketio: 0, websocket: 0, sse: 0, poll: 0 };

function add(map, key, value) {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function remove(map, key, value) {
  const set = map.get(key);
  if (set && set.delete(value) && set.size === 0) map.delete(key);
}

function session(id) {
  let s = sessions.get(id);
  if (!s) sessions.set(id, (s = { seq: 0, events: [], waiters: new Set() }));
  return s;
}

// broadcast sends one event to every client of its session, on every transport.
function broadcast(sessionId, data) {
  const type = typeof data.type === 'string' && data.type ? data.type : 'progress';
  io.to(sessionId).emit(type, data);
  const msg = JSON.stringify(data);
  const sockets = wsClients.get(sessionId);
  if (sockets) {
    for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(msg);
  }
  const streams = sseClients.get(sessionId);
  if (streams) {
    for (const res of streams) res.write('data: ' + msg + '\n\n');
  }
  const s = session(sessionId);
  s.seq++;
  s.events.push({ seq: s.seq, type, data });
  if (s.events.length > HISTORY) s.events.shift();
  const waiters = s.waiters;
  s.waiters = new Set();
  for (const wake of waiters) wake();
}

io.on('connection', (socket) => {
  let registered = null;
  socket.on('registerSession', (sessionId) => {
    if (typeof sessionId !== 'string' && typeof sessionId !== 'number') return;
    if (registered === null) counts.socketio++;
    registered = String(sessionId);
    socket.join(registered);
  });
  socket.on('disconnect', () => {
    if (registered !== null) counts.socketio--;
  });
});

wss.on('connection', (ws) => {
  let sessionId = null;
  ws.on('message', (raw) => {
    if (sessionId !== null) return;
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      ws.close(1007, 'registration is not valid JSON');
      return;
    }
    if (!msg || (typeof msg.sessionId !== 'string' && typeof msg.sessionId !== 'number')) {
      ws.close(1008, 'sessionId missing');
      return;
    }
    sessionId = String(msg.sessionId);
    add(wsClients, sessionId, ws);
    counts.websocket++;
  });
  ws.on('close', () => {
    if (sessionId !== null) {
      remove(wsClients, sessionId, ws);
      counts.websocket--;
    }
  });
  ws.on('error', () => {});
});

server.on('upgrade', (req, socket, head) => {
  if (req.url.startsWith('/socket.io/')) return; // engine.io's own upgrade listener has it
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

app.post('/hooks/progress', express.json({ limit: '1mb' }), (req, res) => {
  const events = Array.isArray(req.body) ? req.body : [req.body];
  for (const ev of events) {
    if (!ev || typeof ev !== 'object' || !ev.sessionId) {
      res.status(422).json({ error: 'no sessionId' });
      return;
    }
  }
  for (const ev of events) broadcast(String(ev.sessionId), ev);
  res.status(202).json({ accepted: events.length });
});

app.get('/api/import/progress/:sessionId', (req, res) => {
  const sessionId = req.params.sessionId;
  if ((req.headers.accept || '').includes('text/event-stream')) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
    });
    res.flushHeaders();
    add(sseClients, sessionId, res);
    counts.sse++;
    res.on('close', () => {
      remove(sseClients, sessionId, res);
      counts.sse--;
    });
    return;
  }
  poll(req, res, sessionId);
});

function poll(req, res, sessionId) {
  const after = Number(req.query.after || 0);
  const wait = Math.min(Number(req.query.wait ?? 25), 60) * 1000;
  const s = session(sessionId);
  const answer = () => {
    // Seqs are consecutive, so the events after the cursor are a tail of the history.
    const from = Math.max(0, s.events.length - Math.max(0, s.seq - after));
    const events = s.events
      .slice(from)
      .map((e) => ({ seq: e.seq, type: e.type, session: sessionId, data: e.data }));
    const last = events.length ? events[events.length - 1].seq : after;
    res.json({ session: sessionId, events, last, done: false });
  };
  if (s.seq > after || wait <= 0) {
    answer();
    return;
  }
  counts.poll++;
  let timer = null;
  const wake = () => {
    clearTimeout(timer);
    counts.poll--;
    answer();
  };
  timer = setTimeout(() => {
    s.waiters.delete(wake);
    counts.poll--;
    answer();
  }, wait);
  s.waiters.add(wake);
  res.on('close', () => {
    if (s.waiters.delete(wake)) {
      clearTimeout(timer);
      counts.poll--;
    }
  });
}

app.get('/relay/health', (req, res) => {
  res.json({ status: 'ok', sessions: sessions.size, subscribers: counts, broker: 'node' });
});

server.listen(PORT, HOST, () => {
  console.log(`peer listening on http://${HOST}:${PORT}`);
});

// Exit on SIGINT/SIGTERM through process.exit, so that `node --cpu-prof` writes its profile.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
