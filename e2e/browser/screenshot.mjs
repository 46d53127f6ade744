// Saves the README's picture of the test page mid-import: node screenshot.mjs <file.png>
import path from 'node:path';
import { launchChromium, openPage } from './lib/browser.mjs';
import { startStack } from './lib/stack.mjs';
import { PAGE, waitForEvents } from './lib/testpage.mjs';

const out = path.resolve(process.argv[2] || 'test-page.png');
const stack = await startStack();
const browser = await launchChromium();
try {
  const { page } = await openPage(browser, stack.url + PAGE);
  await page.fill('#import-rows', '300');
  await page.fill('#import-pace', '40');
  await page.setChecked('#import-bad', true);
  await page.click('#import-start');
  await waitForEvents(page, 130);
  await page.screenshot({ path: out, fullPage: false });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
  await stack.stop();
}
