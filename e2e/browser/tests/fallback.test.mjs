// Fallback: with transports switched off in the Caddyfile, the client ends up on the next one and
// the import still reaches 100 % with every event once. Each case runs twice: as the test page
// does (the relay tells the library what it offers) and as a front end with a copied library that
// knows nothing of the relay, which must find out by failing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchChromium, openPage } from '../lib/browser.mjs';
import { canStartRelays } from '../lib/env.mjs';
import { startStack } from '../lib/stack.mjs';
import { PAGE, checkCompleteRun, expected, simulateImport } from '../lib/testpage.mjs';

const cases = [
  { off: ['socketio'], lands: 'websocket' },
  { off: ['socketio', 'websocket'], lands: 'sse' },
  { off: ['socketio', 'websocket', 'sse'], lands: 'poll' }
];

const can = canStartRelays();

describe('fallback', { skip: can.ok ? false : can.why }, () => {
  let browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  for (const c of cases) {
    describe(`with ${c.off.join(', ')} off`, () => {
      let stack;
      before(async () => {
        stack = await startStack({ off: c.off });
      });
      after(async () => {
        await stack?.stop();
      });

      test(`the test page lands on ${c.lands}`, async () => {
        const { page, context } = await openPage(browser, stack.url + PAGE);
        const run = await simulateImport(page, { rows: 100 });
        await checkCompleteRun(page, run, 100);
        assert.deepEqual(run.transportsUsed, [c.lands]);
        for (const t of c.off) {
          assert.equal(run.status.transports[t].state, 'off', `${t} is reported off`);
          assert.equal(await page.getAttribute(`[data-transport="${t}"]`, 'data-state'), 'off');
        }
        await context.close();
      });

      test(`a library that is not told lands on ${c.lands} by failing over`, async () => {
        const { page, context } = await openPage(browser, stack.url + '/relay/health');
        const rows = 60;
        const result = await page.evaluate(followWithoutHints, { rows });
        assert.equal(result.state, 'finished', result.message);
        assert.deepEqual(result.seqs, Array.from({ length: expected(rows).events }, (_, i) => i + 1));
        assert.deepEqual(result.used, [c.lands]);
        for (const t of c.off) {
          assert.equal(result.transports[t].state, 'failed', `${t} was tried and failed`);
          assert.ok(result.transports[t].reason, `${t} failed with a reason`);
        }
        await context.close();
      });
    });
  }
});

// followWithoutHints runs in the page: it loads the library, creates a deferred import, follows it
// with explicit default paths (so the library assumes every transport exists) and starts it.
async function followWithoutHints({ rows }) {
  await new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/progress-relay.js';
    s.onload = resolve;
    s.onerror = () => reject(new Error('no /progress-relay.js'));
    document.head.appendChild(s);
  });
  const lines = ['email,first_name,last_name'];
  for (let i = 1; i <= rows; i++) {
    lines.push(i % 23 === 0 ? `bad-${i},A,B` : `u${i}.${Date.now()}@example.com,A,B`);
  }
  const created = await (await fetch('/api/import?start=deferred&pace=5', { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: lines.join('\n') })).json();
  return new Promise((resolve) => {
    const seqs = [];
    const used = [];
    let started = false;
    const relay = window.ProgressRelay.connect({
      session: created.sessionId,
      token: created.token,
      paths: { subscribe: '/api/import/progress/{session}', websocket: '/', socketio: '/socket.io/' },
      connectTimeout: 4000,
      onEvent(evt) {
        seqs.push(evt.seq);
        if (!used.includes(evt.transport)) {
          used.push(evt.transport);
        }
      },
      onStatus(status) {
        if (status.state === 'connected' && !started) {
          started = true;
          fetch(created.start, { method: 'POST' });
        }
        if (status.state === 'finished' || status.state === 'failed') {
          resolve({ state: status.state, message: status.message, seqs, used, transports: status.transports });
        }
      }
    });
    setTimeout(() => {
      const status = relay.status();
      relay.close();
      resolve({ state: 'timeout', message: status.message, seqs, used, transports: status.transports });
    }, 60000);
  });
}
