// The test page itself: it loads cleanly, and each transport's own test passes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchChromium, openPage } from '../lib/browser.mjs';
import { startStack } from '../lib/stack.mjs';
import { PAGE } from '../lib/testpage.mjs';

describe('test page', () => {
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

  test('loads with no console errors and no request to another origin', async () => {
    const { page, problems, response, context } = await openPage(browser, stack.url + PAGE);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'], /^text\/html/);
    assert.match(response.headers()['content-security-policy'], /default-src 'none'/);
    await page.waitForSelector('#health[data-state="ok"]');
    for (const t of ['socketio', 'websocket', 'sse', 'poll']) {
      assert.equal(await page.getAttribute(`[data-transport="${t}"]`, 'data-state'), 'idle', `${t} is offered`);
    }
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
    await context.close();
  });

  test('each single-transport test passes', async () => {
    const { page, problems, context } = await openPage(browser, stack.url + PAGE);
    for (const t of ['socketio', 'websocket', 'sse', 'poll']) {
      await page.click(`[data-transport="${t}"] .transport-test`);
      await page.waitForSelector(`[data-transport="${t}"]:is([data-state="passed"], [data-state="failed"])`, { timeout: 40000 });
      const result = await page.evaluate((name) => window.progressRelayPage.tests[name], t);
      assert.equal(result.state, 'passed', `${t}: ${result.error}`);
      assert.ok(result.connectMs >= 0 && result.latencies.length > 0, `${t} measured connect time and latency`);
    }
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
    await context.close();
  });
});
