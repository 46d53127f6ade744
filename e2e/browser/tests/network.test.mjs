// Network cuts: every connection between the browser and the relay is dropped mid-import (a TCP
// proxy in between closes them all and refuses new ones for a moment), and, with the Redis broker,
// the relay itself is restarted. The client must reconnect, resume after its last seq, and end
// with every event exactly once. Outages are kept shorter than the relay's history (100 events):
// events older than that are gone by design, and the client would count them as gaps.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchChromium, openPage } from '../lib/browser.mjs';
import { canStartRelays, redisURL } from '../lib/env.mjs';
import { startStack } from '../lib/stack.mjs';
import { PAGE, checkCompleteRun, simulateImport, waitForEvents } from '../lib/testpage.mjs';

const can = canStartRelays();

describe('network cut', { skip: can.ok ? false : can.why }, () => {
  let stack;
  let browser;
  before(async () => {
    stack = await startStack({ proxy: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  for (const transport of ['auto', 'socketio', 'websocket', 'sse', 'poll']) {
    test(`${transport}: connections dropped mid-import, the client reconnects and misses nothing`, async () => {
      const { page, context } = await openPage(browser, stack.url + PAGE);
      const rows = 200;
      const run = await simulateImport(page, {
        transport,
        rows,
        pace: 30,
        during: async () => {
          await waitForEvents(page, 40);
          await stack.proxy.cut(1000); // about 35 events, plus the reconnect backoff
        }
      });
      await checkCompleteRun(page, run, rows);
      const used = run.transportsUsed[0];
      assert.ok(run.status.transports[used].attempts >= 2, `${used} reconnected (attempts ${run.status.transports[used].attempts})`);
      if (transport !== 'auto') {
        assert.deepEqual(run.transportsUsed, [transport]);
      }
      await context.close();
    });
  }
});

describe('relay restart with the Redis broker', { skip: can.ok ? false : can.why }, () => {
  let stack;
  let browser;
  before(async () => {
    stack = await startStack({ broker: `redis ${redisURL}` });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('the client reconnects to the restarted relay and the final state is correct', async () => {
    const { page, context } = await openPage(browser, stack.url + PAGE);
    const rows = 200;
    const run = await simulateImport(page, {
      rows,
      pace: 30,
      during: async () => {
        await waitForEvents(page, 40);
        await stack.stopRelay();
        await stack.startRelay(); // the backend's webhooks are retried while it is down
      }
    });
    await checkCompleteRun(page, run, rows);
    await context.close();
  });
});
