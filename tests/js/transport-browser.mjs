// Browser check of herald.js's transports on the live dashboard.
//
//   node tests/js/transport-browser.mjs http://127.0.0.1:8080/ http://127.0.0.1:9090 SPEC...
//
// SPEC is `webtransport`, `websocket` or `sse` (the page is loaded with
// `?transport=SPEC`), `auto=EXPECTED` (loaded without `?transport=`;
// herald.js must pick EXPECTED), or `fallback=websocket` (without
// `?transport=`: WebTransport must fail and herald.js fall back to
// WebSocket, the status saying why). For each SPEC, in order, one page of a
// headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM; a fresh
// profile, no certificate flags: WebTransport trusts the standalone
// gateway's certificate by the hash herald.js fetches) waits, each step
// bounded by $TIMEOUT_MS (default 20000), until:
//   1. #status is connected, its label reads "Connected · <name>" and
//      data-transport is the expected transport, with no fallback (with
//      one, for `fallback=`);
//   2. the sales section shows a snapshot, then a live update;
//   3. while the page is open, the gateway's /metrics (admin listener, the
//      second argument) counts at least one connection of that transport:
//      herald_gateway_connections{transport="webtransport"|"ws"|"sse"}.
// Then the page is closed. Fails on any uncaught page error or console error.
// Prints one JSON line per SPEC and exits 0, or the failure reason and exit 1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const NAMES = { webtransport: 'WebTransport', websocket: 'WebSocket', sse: 'SSE' };
// herald.js's transport -> the gateway's `transport` metric label.
const METRIC_LABELS = { webtransport: 'webtransport', websocket: 'ws', sse: 'sse' };

const [pageBase, adminBase, ...specs] = process.argv.slice(2);
const timeoutMs = Number(process.env.TIMEOUT_MS || 20000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
// No --disable-quic and no certificate flags: WebTransport runs on QUIC and
// trusts the gateway's certificate by its pinned hash only.
const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function fail(reason) {
  console.error(`transport check FAILED: ${reason}`);
  process.exitCode = 1;
}

/** The value of `name{...labels containing `label`...}` in Prometheus text, or null. */
function metric(text, name, label) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    const series = line.slice(0, i);
    if ((series === name || series.startsWith(`${name}{`)) && series.includes(label)) return Number(line.slice(i + 1));
  }
  return null;
}

// Runs in the page: the status element and the sales section's hooks.
function pageState() {
  const status = document.querySelector('#status');
  const sales = document.querySelector('section[data-room="dashboard:sales"]');
  return {
    state: status?.dataset.state ?? null,
    label: status?.querySelector('.label')?.textContent ?? null,
    transport: status?.dataset.transport ?? null,
    fallback: status?.dataset.fallback ?? null,
    heraldTransport: window.herald?.transport ?? null,
    sales: sales ? { offset: Number(sales.dataset.offset), updates: Number(sales.dataset.updates) } : null,
    webTransportInBrowser: typeof WebTransport === 'function',
    secure: window.isSecureContext,
  };
}

async function checkOne(context, spec, problems) {
  const [mode, expectedAuto] = spec.split('=');
  const fellBack = mode === 'fallback';
  const auto = mode === 'auto' || fellBack;
  const expected = auto ? expectedAuto : mode;
  if (!NAMES[expected]) throw new Error(`unknown spec ${spec}`);
  const url = new URL(pageBase);
  if (!auto) url.searchParams.set('transport', expected);
  const page = await context.newPage();
  // A failing WebTransport is what `fallback=` checks: the browser's own
  // console lines about it (the 404 hash, the failed session) are expected.
  const expectedNoise = (text) => fellBack && (/\/wt\b/.test(text) || /status of 404/.test(text));
  page.on('pageerror', (e) => problems.push(`${spec}: uncaught page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !expectedNoise(m.text())) problems.push(`${spec}: console error: ${m.text()}`);
  });
  page.on('requestfailed', (r) => {
    if (!expectedNoise(r.url())) problems.push(`${spec}: request failed: ${r.url()} (${r.failure()?.errorText})`);
  });
  const step = async (what, fn, arg) => {
    try {
      return await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 });
    } catch {
      const state = await page.evaluate(pageState).catch(() => null);
      throw new Error(`${spec}: timed out after ${timeoutMs} ms waiting for ${what}; page state: ${JSON.stringify(state)}${problems.length ? `; ${problems.join('; ')}` : ''}`);
    }
  };
  try {
    const started = Date.now();
    const resp = await page.goto(url.toString(), { timeout: timeoutMs, waitUntil: 'load' });
    if (!resp || !resp.ok()) throw new Error(`GET ${url} answered ${resp ? resp.status() : 'nothing'}`);
    await step('#status connected', () => document.querySelector('#status')?.dataset.state === 'connected');
    const state = await page.evaluate(pageState);
    if (state.transport !== expected || state.label !== `Connected · ${NAMES[expected]}` || !!state.fallback !== fellBack) {
      throw new Error(`${spec}: expected ${expected}, page shows ${JSON.stringify(state)}`);
    }
    await step('a sales snapshot', () => Number(document.querySelector('#sales').dataset.offset) > 0);
    const snapshot = await page.evaluate(() => Number(document.querySelector('#sales').dataset.offset));
    await step('a live sales update', (first) => {
      const s = document.querySelector('#sales');
      return Number(s.dataset.updates) >= 1 && Number(s.dataset.offset) > first;
    }, snapshot);
    // The gateway's own count, while the page is open.
    const text = await (await fetch(new URL('/metrics', adminBase))).text();
    const connections = metric(text, 'herald_gateway_connections', `transport="${METRIC_LABELS[expected]}"`);
    if (!(connections >= 1)) {
      throw new Error(`${spec}: herald_gateway_connections{transport="${METRIC_LABELS[expected]}"} is ${connections} while the page is open`);
    }
    const after = await page.evaluate(pageState);
    if (after.heraldTransport !== expected) throw new Error(`${spec}: herald switched to ${after.heraldTransport}`);
    return { spec, ok: true, transport: expected, label: after.label, fallback: after.fallback || null, connections, snapshot_offset: snapshot, sales: after.sales, elapsed_ms: Date.now() - started };
  } finally {
    await page.close().catch(() => {});
  }
}

async function main() {
  if (!pageBase || !adminBase || specs.length === 0) {
    fail('usage: node transport-browser.mjs http://HOST:PORT/ http://ADMIN SPEC...');
    return;
  }
  const profile = mkdtempSync(join(tmpdir(), 'herald-chromium-'));
  const budget = specs.length * 4 * timeoutMs + 10000;
  const watchdog = setTimeout(() => {
    fail(`no result within ${budget} ms`);
    rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }, budget);
  const problems = [];
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_FLAGS,
      timeout: timeoutMs,
    });
    // The persistent context's first blank page stays open; checks use their own.
    for (const spec of specs) {
      const result = await checkOne(context, spec, problems);
      if (problems.length) throw new Error(problems.join('; '));
      console.log(JSON.stringify({ ...result, browser: context.browser()?.version() ?? null }));
    }
  } catch (e) {
    fail(e && e.message ? e.message : String(e));
  } finally {
    clearTimeout(watchdog);
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
