// Browser check of the live dashboard served by a running gateway.
//
//   node tests/js/dashboard.mjs http://127.0.0.1:8080/
//
// Launches headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM) with a
// fresh profile, loads the page, and waits (each step bounded by $TIMEOUT_MS,
// default 20000) until:
//   1. #status[data-state=connected];
//   2. every section shows its snapshot (data-offset > 0) with rendered figures;
//   3. the sales section applied a live update (data-updates >= 1 and
//      data-offset beyond the snapshot's);
//   4. focusing "Orders" (a subscribe with leave_others) hides the other
//      sections and orders keeps updating; back on "All", sales takes a fresh
//      snapshot and updates again.
// Fails on any uncaught page error or console error. Prints one JSON line and
// exits 0, or prints the failure reason and exits 1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ROOMS = ['dashboard:sales', 'dashboard:orders', 'dashboard:inventory', 'dashboard:regions'];
// A figure per section that only a well-formed payload fills in.
const KEY_FIELDS = {
  'dashboard:sales': 'revenue_total',
  'dashboard:orders': 'latest_id',
  'dashboard:inventory': 'skus',
  'dashboard:regions': 'top_region',
};

const url = process.argv[2];
const timeoutMs = Number(process.env.TIMEOUT_MS || 20000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function fail(reason) {
  console.error(`dashboard check FAILED: ${reason}`);
  process.exitCode = 1;
}

async function main() {
  if (!url || !/^https?:\/\//.test(url)) {
    fail('usage: node dashboard.mjs http://HOST:PORT/');
    return;
  }
  const started = Date.now();
  const profile = mkdtempSync(join(tmpdir(), 'herald-chromium-'));
  // A hard stop in case the browser itself hangs.
  const watchdog = setTimeout(() => {
    fail(`no result within ${4 * timeoutMs + 10000} ms`);
    rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }, 4 * timeoutMs + 10000);
  const problems = [];
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_FLAGS,
      timeout: timeoutMs,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => problems.push(`uncaught page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));

    const step = async (what, fn, arg) => {
      try {
        return await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 });
      } catch (e) {
        const state = await page.evaluate(snapshotState).catch(() => null);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; page state: ${JSON.stringify(state)}${problems.length ? `; ${problems.join('; ')}` : ''}`);
      }
    };

    const resp = await page.goto(url, { timeout: timeoutMs, waitUntil: 'load' });
    if (!resp || !resp.ok()) throw new Error(`GET ${url} answered ${resp ? resp.status() : 'nothing'}`);

    await step('#status[data-state=connected]', () => document.querySelector('#status')?.dataset.state === 'connected');

    await step(
      'a snapshot in every section',
      ({ rooms, fields }) =>
        rooms.every((r) => {
          const s = document.querySelector(`section[data-room="${r}"]`);
          const f = s?.querySelector(`[data-field="${fields[r]}"]`);
          return s && Number(s.dataset.offset) > 0 && f && f.textContent.trim() !== '–' && f.textContent.trim() !== '';
        }),
      { rooms: ROOMS, fields: KEY_FIELDS },
    );
    const snapshotOffset = await page.evaluate(() => Number(document.querySelector('section[data-room="dashboard:sales"]').dataset.offset));

    await step(
      'a live update in the sales section',
      (first) => {
        const s = document.querySelector('section[data-room="dashboard:sales"]');
        return Number(s.dataset.updates) >= 1 && Number(s.dataset.offset) > first;
      },
      snapshotOffset,
    );

    const ordersBefore = await page.evaluate(() => Number(document.querySelector('#orders').dataset.updates));
    await page.click('#focus button[data-focus="dashboard:orders"]');
    await step(
      'the orders focus: one room joined, orders updating, others hidden',
      (before) =>
        window.herald.rooms().join() === 'dashboard:orders' &&
        Number(document.querySelector('#orders').dataset.updates) > before &&
        [...document.querySelectorAll('section[data-room]')].every((s) => (s.id === 'orders') === (s.dataset.active === 'true')),
      ordersBefore,
    );
    const salesBefore = await page.evaluate(() => ({
      resets: Number(document.querySelector('#sales').dataset.resets),
      updates: Number(document.querySelector('#sales').dataset.updates),
    }));
    await page.click('#focus button[data-focus="all"]');
    await step(
      'all sections back, with a fresh sales snapshot and a live update',
      (before) => {
        const s = document.querySelector('#sales');
        // The four sections and the live orders collection.
        return window.herald.rooms().length === 5 && s.dataset.active === 'true' &&
          Number(s.dataset.resets) > before.resets && Number(s.dataset.updates) > before.updates;
      },
      salesBefore,
    );

    const state = await page.evaluate(snapshotState);
    if (problems.length) throw new Error(problems.join('; '));
    console.log(JSON.stringify({
      ok: true,
      url,
      browser: context.browser()?.version() ?? null,
      elapsed_ms: Date.now() - started,
      sales_snapshot_offset: snapshotOffset,
      ...state,
    }));
  } catch (e) {
    fail(e && e.message ? e.message : String(e));
  } finally {
    clearTimeout(watchdog);
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

// Runs in the page: the test hooks' current values.
function snapshotState() {
  const status = document.querySelector('#status');
  const sections = {};
  for (const s of document.querySelectorAll('section[data-room]')) {
    sections[s.dataset.room] = {
      offset: Number(s.dataset.offset),
      updates: Number(s.dataset.updates),
      resets: Number(s.dataset.resets),
      age: s.querySelector('[data-age]')?.textContent ?? null,
    };
  }
  return { status: status?.dataset.state ?? null, attempt: Number(status?.dataset.attempt ?? 0), sections };
}

await main();
