// Drives the supervisor dashboard in real headless Chromium (the Debian package) with
// playwright-core. Run by tests/tests/browser/dashboard.rs, which prepares the data and
// checks the results on the worker's phone; prints one JSON line with what it saw.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) { throw new Error(`missing ${k}`); }
  return v;
};
const base = env('BASE_URL');
const shots = env('SCREENSHOT_DIR');
const downloads = env('DOWNLOAD_DIR');
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gridbook-chromium-'));

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1366, height: 900 },
  locale: 'zh-CN',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const result = {};
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
  const expectText = async (selector, text) => {
    const t = (await page.textContent(selector)) || '';
    if (!t.includes(text)) { throw new Error(`${selector}: expected ${text}, got ${t}`); }
  };

  // Login.
  await page.goto(`${base}/review/login`);
  await shot('01-login');
  await page.fill('#username', 'community1');
  await page.fill('#password', 'demo-community1');
  await Promise.all([page.waitForURL('**/review/ledgers'), page.click('#login-submit')]);

  // Ledger list: submitted ledgers first.
  await page.goto(`${base}/review/ledgers?state=submitted`);
  result.submitted = await page.locator('#ledger-table tbody tr').count();
  await page.goto(`${base}/review/ledgers`);
  await shot('02-ledgers');

  // Return one ledger with a comment.
  await page.goto(`${base}/review/ledgers/${env('LEDGER_RETURN')}`);
  await shot('03-ledger');
  await page.fill('#return-comment', '请补充3号楼走访照片');
  await Promise.all([page.waitForURL('**done=return'), page.click('#return-btn')]);
  await expectText('#review-state', '已退回');
  await expectText('#review-comment', '请补充3号楼走访照片');

  // Approve another.
  await page.goto(`${base}/review/ledgers/${env('LEDGER_APPROVE')}`);
  await Promise.all([page.waitForURL('**done=approve'), page.click('#approve-btn')]);
  await expectText('#review-state', '已通过');

  // The case: accept, dispatch to a department, 督办 with a yellow card.
  const caseUrl = `${base}/review/cases/${env('CASE_ID')}`;
  await page.goto(caseUrl);
  await Promise.all([page.waitForURL('**done=accept'), page.click('form[data-action="accept"] button')]);
  await Promise.all([page.waitForURL('**done=dispatch'), page.click('form[data-action="dispatch"] button')]);
  await expectText('#case-department', '城市管理局');
  await page.selectOption('form[data-action="supervise"] select[name="p_card"]', 'yellow');
  await Promise.all([page.waitForURL('**done=supervise'), page.click('form[data-action="supervise"] button')]);
  await expectText('#case-card', '黄牌督办');
  result.case_state = await page.getAttribute('#case-summary', 'data-state');
  await shot('05-case');
  await page.goto(`${base}/review/cases`);
  await shot('04-case-board');

  // Visits and the report with its charts.
  await page.goto(`${base}/review/visits`);
  await shot('06-visits');
  await page.goto(`${base}/review/reports?period=month`);
  await page.waitForSelector('body[data-charts="3"]');
  result.charts = Number(await page.getAttribute('body', 'data-charts'));
  await shot('07-report');
  await page.goto(`${base}/review/reports?period=month&lang=en`);
  await page.waitForSelector('body[data-charts="3"]');
  await shot('08-report-en');

  // Download the ledger export.
  await page.goto(`${base}/review/ledgers`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-ledgers-xlsx')]);
  await download.saveAs(path.join(downloads, 'ledgers.xlsx'));
  result.download = download.suggestedFilename();

  // A real ledger of another community: a friendly 404 page, nothing of it shown.
  const other = await page.goto(`${base}/review/ledgers/${env('FOREIGN_LEDGER')}`);
  result.foreign_status = other.status();
  result.foreign_shown = (await page.content()).includes(env('FOREIGN_LEDGER_WORKER'));

  // The server's root leads to the dashboard.
  await page.goto(`${base}/`);
  result.root_url = page.url();
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
