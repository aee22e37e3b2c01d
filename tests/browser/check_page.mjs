#!/usr/bin/env node
// Opens one page in headless Chromium (Debian's, never a downloaded build) and checks it the way a
// person looking at it would notice problems:
//   - fails on any console error, uncaught page error, failed request or HTTP error response;
//   - asserts that CSS selectors exist and are visible (--expect) and that texts appear (--expect-text);
//   - saves a full-page screenshot (--screenshot), also when a check failed, to see why.
//
// Usage:
//   node check_page.mjs URL|FILE [--header "Name: value"]... [--expect SELECTOR]...
//        [--expect-text TEXT]... [--screenshot OUT.png] [--viewport 1280x900] [--timeout MS]
//
// --timeout (default 30000) bounds loading the page; each --expect waits up to a sixth of it (at
// most 5 s) for its element to become visible, for pages that render after loading.
// URL is http://, https:// or file://; a plain path is opened as a file. Headers go with every
// request (e.g. --header "Authorization: Bearer X"). The browser is $CHROMIUM or /usr/bin/chromium,
// started with a fresh profile that is removed afterwards.
// Exit status: 0 every check passed, 1 a check failed (one "check_page: FAIL ..." line per problem on
// stderr), 2 a usage error or a browser that would not start.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const USAGE =
  'usage: node check_page.mjs URL|FILE [--header "Name: value"]... [--expect SELECTOR]... ' +
  '[--expect-text TEXT]... [--screenshot OUT.png] [--viewport WxH] [--timeout MS]';

function usage(message) {
  console.error(`check_page: ${message}\n${USAGE}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      header: { type: 'string', multiple: true, default: [] },
      expect: { type: 'string', multiple: true, default: [] },
      'expect-text': { type: 'string', multiple: true, default: [] },
      screenshot: { type: 'string' },
      viewport: { type: 'string', default: '1280x900' },
      timeout: { type: 'string', default: '30000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (e) {
  usage(e.message);
}
if (args.values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.positionals.length !== 1) usage('give exactly one URL or file');

let url = args.positionals[0];
if (!/^(https?|file):\/\//.test(url)) {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) usage(`unsupported URL scheme: ${url}`);
  if (!existsSync(url)) usage(`no such file: ${url}`);
  url = pathToFileURL(resolve(url)).href;
}

const headers = {};
for (const h of args.values.header) {
  const colon = h.indexOf(':');
  if (colon <= 0) usage(`--header '${h}': expected "Name: value"`);
  headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
}
const viewportMatch = /^(\d+)x(\d+)$/.exec(args.values.viewport);
if (!viewportMatch) usage(`--viewport '${args.values.viewport}': expected WIDTHxHEIGHT`);
const timeout = Number(args.values.timeout);
if (!Number.isFinite(timeout) || timeout <= 0) usage(`--timeout '${args.values.timeout}': expected milliseconds`);

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(executablePath)) usage(`no browser at ${executablePath} (apt-get install chromium)`);

const problems = [];
const profile = mkdtempSync(join(tmpdir(), 'check-page-'));
let context;
try {
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: Number(viewportMatch[1]), height: Number(viewportMatch[2]) },
      extraHTTPHeaders: headers,
      timeout: Math.max(timeout, 60000), // a start on a busy machine is slow, whatever the page's budget
    });
  } catch (e) {
    console.error(`check_page: cannot start ${executablePath}: ${e.message}`);
    process.exit(2);
  }
  context.setDefaultTimeout(timeout);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const where = msg.location()?.url ? ` (${msg.location().url}:${msg.location().lineNumber})` : '';
      problems.push(`console error: ${msg.text()}${where}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`uncaught page error: ${err.message}`));
  page.on('requestfailed', (req) =>
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText ?? 'unknown error'}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
  });

  try {
    await page.goto(url, { waitUntil: 'load', timeout });
    // Whatever the page fetches after loading (a console's API calls) counts too.
    await page.waitForLoadState('networkidle', { timeout }).catch(() => {});
  } catch (e) {
    problems.push(`cannot open ${url}: ${e.message.split('\n')[0]}`);
  }

  for (const selector of args.values.expect) {
    const found = page.locator(selector);
    try {
      await found.first().waitFor({ state: 'visible', timeout: Math.min(timeout / 6, 5000) });
    } catch {
      const n = await found.count().catch(() => 0);
      problems.push(n === 0 ? `no element matches '${selector}'` : `'${selector}' matches ${n} elements, none visible`);
    }
  }
  for (const text of args.values['expect-text']) {
    const body = await page.evaluate(() => document.body?.innerText ?? '').catch(() => '');
    if (!body.includes(text)) problems.push(`text not on the page: '${text}'`);
  }

  if (args.values.screenshot) {
    try {
      await page.screenshot({ path: args.values.screenshot, fullPage: true });
    } catch (e) {
      problems.push(`cannot save the screenshot ${args.values.screenshot}: ${e.message.split('\n')[0]}`);
    }
  }
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

if (problems.length > 0) {
  for (const p of problems) console.error(`check_page: FAIL ${p}`);
  console.error(`check_page: ${problems.length} problem(s) on ${url}`);
  process.exit(1);
}
const checked = args.values.expect.length + args.values['expect-text'].length;
console.log(
  `check_page: OK ${url}: no errors, ${checked} expectation(s) met` +
    (args.values.screenshot ? `, screenshot ${args.values.screenshot}` : ''),
);
