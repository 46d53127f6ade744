// An import backend written the way the Node.js system that the relay replaces wrote its progress
// stream: Express, jobs in memory, an EventEmitter per session, and one
// res.write('data: ' + JSON.stringify(data) + '\n\n') per event: no id:, no event:, no retry:.
//
//   POST /api/import/:id/start        starts a simulated import: {"total"?: n} progress events, then complete
//   GET  /api/import/progress/:id     the SSE stream: what the job reported so far, then live, ending after complete
//   GET  /api/import/:id              the job's state and how many progress streams it has served
//
// Run it alone with `npm run backend` (PORT, default 9090).
import { EventEmitter } from "node:events";
import { pathToFileURL } from "node:url";
import express from "express";

export function createBackend({ interval = 10, total = 20 } = {}) {
  const app = express();
  app.use(express.json());

  const jobs = new Map();
  const progress = new EventEmitter();
  progress.setMaxListeners(0);

  function job(id) {
    if (!jobs.has(id)) {
      jobs.set(id, { started: false, done: false, events: [], streams: 0 });
    }
    return jobs.get(id);
  }

  function report(id, data) {
    const j = job(id);
    j.events.push(data);
    if (data.type === "complete") j.done = true;
    progress.emit(id, data);
  }

  app.post("/api/import/:id/start", (req, res) => {
    const id = req.params.id;
    const j = job(id);
    if (j.started) {
      return res.status(409).json({ error: "import already started" });
    }
    j.started = true;
    const n = Number(req.body?.total ?? total);
    let processed = 0;
    const timer = setInterval(() => {
      processed += 1;
      report(id, { type: "progress", sessionId: id, processed, total: n, percentage: Math.round((processed * 100) / n) });
      if (processed === n) {
        clearInterval(timer);
        report(id, { type: "complete", sessionId: id, processed, total: n, message: "Import finished" });
      }
    }, interval);
    res.status(202).json({ sessionId: id, total: n });
  });

  app.get("/api/import/progress/:id", (req, res) => {
    const id = req.params.id;
    const j = job(id);
    j.streams += 1;
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
    });
    res.flushHeaders();

    const send = (data) => {
      res.write("data: " + JSON.stringify(data) + "\n\n");
      if (data.type === "complete") {
        progress.off(id, send);
        res.end();
      }
    };
    for (const data of j.events) send(data); // a client that connects late still sees the whole import
    if (j.done) return;
    progress.on(id, send);
    req.on("close", () => progress.off(id, send));
  });

  app.get("/api/import/:id", (req, res) => {
    const j = jobs.get(req.params.id);
    if (!j) return res.status(404).json({ error: "no such import" });
    res.json({ sessionId: req.params.id, started: j.started, done: j.done, reported: j.events.length, streams: j.streams });
  });

  return app;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 9090);
  createBackend().listen(port, "127.0.0.1", () => console.log(`backend on http://127.0.0.1:${port}`));
}
