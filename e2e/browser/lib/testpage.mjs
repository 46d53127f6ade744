// Driving the test page the way a person does, and checking what it shows.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { artifactsDir } from './env.mjs';

export const PAGE = '/test-socket-io.html';

// expected is what an import of the page's generated CSV must end with: every 23rd row is bad.
export function expected(rows) {
  const failed = Math.floor(rows / 23);
  return { total: rows, created: rows - failed, failed, events: rows + 2 };
}

// simulateImport fills the import form, starts it, runs during() while it goes, waits for it to
// end and returns what the page recorded (window.progressRelayPage.run).
export async function simulateImport(page, { transport = 'auto', rows = 120, pace = 10, during, timeout = 90000 } = {}) {
  await page.selectOption('#import-transport', transport);
  await page.fill('#import-rows', String(rows));
  await page.fill('#import-pace', String(pace));
  await page.setChecked('#import-bad', true);
  await page.setChecked('#import-fatal', false);
  await page.click('#import-start');
  if (during) {
    await during(page);
  }
  await page.waitForSelector('#run:is([data-state="complete"], [data-state="error"], [data-state="failed"])', { timeout });
  return page.evaluate(() => JSON.parse(JSON.stringify(window.progressRelayPage.run)));
}

// waitForEvents waits until the current run has shown n events.
export function waitForEvents(page, n) {
  return page.waitForFunction((count) => {
    const run = window.progressRelayPage.run;
    return run && run.seqs.length >= count;
  }, n);
}

// checkCompleteRun asserts the run finished with every event exactly once, in order, and the
// page shows 100 % and the summary.
export async function checkCompleteRun(page, run, rows) {
  const want = expected(rows);
  assert.equal(run.state, 'complete', `run ended ${run.state}: ${run.status && run.status.message}`);
  assert.deepEqual(run.seqs, Array.from({ length: want.events }, (_, i) => i + 1), 'seqs shown are 1..N, each once');
  assert.equal(run.summary.total, want.total);
  assert.equal(run.summary.created, want.created);
  assert.equal(run.summary.failed, want.failed);
  assert.equal(run.status.gaps, 0, 'the client saw no gap');
  assert.equal(await page.textContent('#run-percent'), '100%');
  assert.equal(await page.getAttribute('#progress', 'aria-valuenow'), '100');
  assert.equal(await page.textContent('#stat-processed'), want.total.toLocaleString('en-US'));
  assert.match(await page.textContent('#summary'), new RegExp(`${want.created} created, ${want.failed} failed`));
  assert.equal(await page.locator('#rows-body tr').count(), rows, 'one result per row');
  assert.equal(await page.locator('#rows-body tr.failed').count(), want.failed);
}

export async function screenshot(page, name) {
  mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
