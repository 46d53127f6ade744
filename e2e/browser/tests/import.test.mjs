// Simulate Import reaches 100 % and shows the summary, over each transport forced in turn and
// with the automatic choice, which must settle on Socket.IO when everything is on.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchChromium, openPage } from '../lib/browser.mjs';
import { startStack } from '../lib/stack.mjs';
import { PAGE, checkCompleteRun, screenshot, simulateImport } from '../lib/testpage.mjs';

describe('simulate import', () => {
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

  for (const transport of ['socketio', 'websocket', 'sse', 'poll']) {
    test(`reaches 100% over ${transport} alone`, async () => {
      const { page, problems, context } = await openPage(browser, stack.url + PAGE);
      const run = await simulateImport(page, { transport, rows: 150 });
      await checkCompleteRun(page, run, 150);
      assert.deepEqual(run.transportsUsed, [transport]);
      assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
      await context.close();
    });
  }

  test('automatic choice uses Socket.IO and the finished import is saved as a screenshot', async () => {
    const { page, problems, context } = await openPage(browser, stack.url + PAGE);
    const run = await simulateImport(page, { rows: 300, pace: 5 });
    await checkCompleteRun(page, run, 300);
    assert.deepEqual(run.transportsUsed, ['socketio']);
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
    const file = await screenshot(page, 'import-complete.png');
    console.log(`screenshot: ${file}`);
    await context.close();
  });
});
