// Headless Chromium through playwright-core, with a record of what a page did wrong: console
// errors, uncaught exceptions, and requests to any origin but the relay's.
import { chromium } from 'playwright-core';
import { chromiumPath } from './env.mjs';

export function launchChromium() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  });
}

// openPage loads url in a fresh context and returns the page with its problem record.
export async function openPage(browser, url, { viewport = { width: 1360, height: 1000 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const origin = new URL(url);
  const problems = { consoleErrors: [], pageErrors: [], foreignRequests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      problems.consoleErrors.push(msg.text());
    }
  });
  page.on('pageerror', (err) => problems.pageErrors.push(String(err)));
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.protocol !== 'data:' && u.protocol !== 'blob:' && u.host !== origin.host) {
      problems.foreignRequests.push(req.url());
    }
  });
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).host !== origin.host) {
      problems.foreignRequests.push(ws.url());
    }
  });
  const response = await page.goto(url);
  return { page, context, problems, response };
}
