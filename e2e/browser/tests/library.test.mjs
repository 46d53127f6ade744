// The client library as a front end uses it: a classic script and an ES module from the relay, and
// a page written for a Node.js Socket.IO server (io() + registerSession) served unchanged.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchChromium, openPage } from '../lib/browser.mjs';
import { startStack } from '../lib/stack.mjs';

describe('client library', () => {
  let stack;
  let browser;
  before(async () => {
    stack = await startStack();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('is served as a classic script and as an ES module, revalidated on each load', async () => {
    for (const [path, check] of [['/progress-relay.js', /ProgressRelay/], ['/progress-relay.mjs', /export default ProgressRelay/]]) {
      const first = await fetch(stack.url + path);
      assert.equal(first.status, 200, path);
      assert.match(first.headers.get('content-type'), /^text\/javascript/);
      assert.equal(first.headers.get('cache-control'), 'no-cache');
      assert.match(await first.text(), check);
      const again = await fetch(stack.url + path, { headers: { 'If-None-Match': first.headers.get('etag') } });
      assert.equal(again.status, 304, `${path} revalidates`);
    }
    const { page, context } = await openPage(browser, stack.url + '/relay/health');
    const shapes = await page.evaluate(async () => {
      const mod = await import('/progress-relay.mjs');
      await new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = '/progress-relay.js';
        s.onload = resolve;
        s.onerror = reject;
        document.head.appendChild(s);
      });
      return {
        moduleDefault: typeof mod.default.connect,
        namedConnect: mod.connect === mod.default.connect,
        global: typeof window.ProgressRelay.connect,
        transports: window.ProgressRelay.transports
      };
    });
    assert.deepEqual(shapes, { moduleDefault: 'function', namedConnect: true, global: 'function', transports: ['socketio', 'websocket', 'sse', 'poll'] });
    await context.close();
  });

  test('a page written for the Node.js server (io() and registerSession) receives every event', async () => {
    const { page, problems, context } = await openPage(browser, stack.url + '/relay/health');
    const result = await page.evaluate(async () => {
      await new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = '/socket.io/socket.io.js';
        s.onload = resolve;
        s.onerror = () => reject(new Error('no /socket.io/socket.io.js'));
        document.head.appendChild(s);
      });
      const csv = 'email,first_name,last_name\n' + Array.from({ length: 20 }, (_, i) => `io${i}.${Date.now()}@example.com,A,B`).join('\n');
      const created = await (await fetch('/api/import?start=deferred&pace=5', { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: csv })).json();
      return new Promise((resolve) => {
        const socket = window.io();
        const seen = [];
        const finish = (how) => {
          socket.disconnect();
          resolve({ how, seen });
        };
        socket.on('progress', (data, meta) => seen.push({ type: 'progress', seq: meta.seq, processed: data.processed }));
        socket.on('complete', (data, meta) => {
          seen.push({ type: 'complete', seq: meta.seq, processed: data.processed });
          finish('complete');
        });
        socket.on('connect', () => {
          socket.emit('registerSession', created.sessionId, () => fetch(created.start, { method: 'POST' }));
        });
        setTimeout(() => finish('timeout'), 30000);
      });
    });
    assert.equal(result.how, 'complete');
    assert.deepEqual(result.seen.map((e) => e.seq), Array.from({ length: 22 }, (_, i) => i + 1));
    assert.deepEqual(result.seen.at(-1), { type: 'complete', seq: 22, processed: 20 });
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
    await context.close();
  });
});
