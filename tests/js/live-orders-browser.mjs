// Browser check of the dashboard's "Live orders" panel (room orders:live, a
// live collection) against a running standalone gateway with the demo feed.
//
//   node tests/js/live-orders-browser.mjs http://127.0.0.1:8080/ [any|recover|reset] [HOLD_MS]
//
// Loads the page in headless Chromium (`?transport=websocket`, with the
// page's WebSocket routed through Playwright so the check can break it) and
// checks, each step bounded by $TIMEOUT_MS (default 20000):
//   1. the panel shows rows, in the order of the page's collection;
//   2. a row's status changes in place (the same <tr>, its status cell
//      rewritten) and the row gets the `changed` class and a fresh
//      `data-changed-at`; rows enter and leave as orders arrive and age out;
//   3. the page's socket is closed under it and every reconnect within
//      HOLD_MS (default 1500) is refused; the page reconnects and goes on.
//      With `recover` it must have recovered with `since` (no new
//      snapshot), with `reset` (a gateway whose history is too short) it
//      must have taken a new snapshot; `any` (the default) accepts either;
//   4. a second client (herald.js in Node over WebSocket) takes a fresh
//      snapshot; at every offset both reach, the page's set must equal the
//      second client's and the table's rows (order and status) must equal
//      its sorted() list.
// Fails on uncaught page errors and console errors. Prints one JSON line and
// exits 0, or prints `live orders check FAILED: <reason>` and exits 1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { canonical, heraldClient, recordingCollection, sleep } from './collection-lib.mjs';

const url = process.argv[2];
const mode = process.argv[3] || 'any';
const holdMs = Number(process.argv[4] || 1500);
const timeoutMs = Number(process.env.TIMEOUT_MS || 20000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function fail(reason) {
  console.error(`live orders check FAILED: ${reason}`);
  process.exitCode = 1;
}

// Runs in the page: the panel's hooks and what the table shows.
function panelState() {
  const s = document.querySelector('section[data-room="orders:live"]');
  const rows = [...s.querySelectorAll('tbody tr[data-key]')].map((tr) => [tr.dataset.key, tr.querySelector('[data-col="status"]').textContent]);
  const c = window.liveOrders;
  return {
    offset: c ? c.offset : null,
    docs: c ? [...c.docs.entries()] : [],
    sorted: c ? c.sorted().map((d) => [String(d._id), String(d.status)]) : [],
    rows,
    hooks: { ...s.dataset },
    status: document.querySelector('#status').dataset.state,
    connects: window.herald.stats.connects,
  };
}

async function main() {
  if (!url || !/^https?:\/\//.test(url) || !['any', 'recover', 'reset'].includes(mode)) {
    fail('usage: node live-orders-browser.mjs http://HOST:PORT/ [any|recover|reset] [HOLD_MS]');
    return;
  }
  const started = Date.now();
  const profile = mkdtempSync(join(tmpdir(), 'herald-chromium-'));
  const watchdog = setTimeout(() => {
    fail(`no result within ${6 * timeoutMs} ms`);
    rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }, 6 * timeoutMs);
  const problems = [];
  let context;
  let fresh;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_FLAGS, timeout: timeoutMs });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => problems.push(`uncaught page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });

    // The page's WebSocket goes through here: `current` is the live one;
    // while `refuseUntil` is ahead, new connections are closed at once.
    let current = null;
    let refuseUntil = 0;
    let refused = 0;
    await page.routeWebSocket((u) => u.pathname === '/ws', (ws) => {
      if (Date.now() < refuseUntil) {
        refused += 1;
        ws.close({ code: 4000, reason: 'refused by the test' });
        return;
      }
      ws.connectToServer();
      current = ws;
    });

    const step = async (what, fn, arg) => {
      try {
        return await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 50 });
      } catch {
        const state = await page.evaluate(panelState).catch(() => null);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; panel: ${JSON.stringify(state && { ...state, docs: state.docs.length })}${problems.length ? `; ${problems.join('; ')}` : ''}`);
      }
    };

    const target = new URL(url);
    target.searchParams.set('transport', 'websocket');
    const resp = await page.goto(target.toString(), { timeout: timeoutMs, waitUntil: 'load' });
    if (!resp || !resp.ok()) throw new Error(`GET ${target} answered ${resp ? resp.status() : 'nothing'}`);
    await step('connected', () => document.querySelector('#status')?.dataset.state === 'connected');
    await step('rows in the live orders panel', () => Number(document.querySelector('#live-orders').dataset.rows) > 0);

    // 1. The table shows the collection's order.
    let st = await page.evaluate(panelState);
    if (JSON.stringify(st.rows) !== JSON.stringify(st.sorted)) throw new Error(`rows ${JSON.stringify(st.rows)} are not sorted() ${JSON.stringify(st.sorted)}`);
    const firstKeys = st.rows.map(([k]) => k);

    // 2. A status changes in place, highlighted.
    const marked = await page.evaluate(() => {
      const t = Date.now();
      for (const tr of document.querySelectorAll('#live-orders tbody tr[data-key]')) {
        tr._probe = { status: tr.querySelector('[data-col="status"]').textContent, cell: tr.querySelector('[data-col="status"]') };
      }
      return t;
    });
    const moved = await step('a row whose status changed in place, highlighted', (t0) => {
      for (const tr of document.querySelectorAll('#live-orders tbody tr[data-key]')) {
        const p = tr._probe;
        const cell = tr.querySelector('[data-col="status"]');
        if (p && p.cell === cell && cell.textContent !== p.status && tr.classList.contains('changed') && Number(tr.dataset.changedAt) >= t0) {
          return { key: tr.dataset.key, from: p.status, to: cell.textContent, changedAt: Number(tr.dataset.changedAt) };
        }
      }
      return false;
    }, marked).then((h) => h.jsonValue());
    if (!['pending', 'paid', 'shipped'].includes(moved.to)) throw new Error(`odd status ${JSON.stringify(moved)}`);
    await step('the highlight to fade', (key) => !document.querySelector(`#live-orders tr[data-key="${key}"]`)?.classList.contains('changed'), moved.key);
    const turnover = await step('rows entering and leaving', (keys) => {
      const now = [...document.querySelectorAll('#live-orders tbody tr[data-key]')].map((tr) => tr.dataset.key);
      const entered = now.filter((k) => !keys.includes(k));
      const left = keys.filter((k) => !now.includes(k));
      return entered.length > 0 && left.length > 0 && { entered: entered.length, left: left.length };
    }, firstKeys).then((h) => h.jsonValue());

    // 3. Break the page's socket; refuse reconnects for holdMs.
    st = await page.evaluate(panelState);
    const before = { resets: Number(st.hooks.resets), offset: st.offset, connects: st.connects };
    if (!current) throw new Error('the page has no routed WebSocket');
    refuseUntil = Date.now() + holdMs;
    await current.close({ code: 4000, reason: 'reset by the test' });
    await step('the page to notice', () => document.querySelector('#status').dataset.state !== 'connected');
    await step('the page to reconnect and move on', (b) => window.herald.stats.connects > b.connects && document.querySelector('#status').dataset.state === 'connected' && window.liveOrders.offset > b.offset + 3, before);
    st = await page.evaluate(panelState);
    const after = { resets: Number(st.hooks.resets), offset: st.offset, connects: st.connects, errors: Number(st.hooks.errors) };
    if (mode === 'recover' && after.resets !== before.resets) throw new Error(`expected a recovery with since, got a new snapshot: ${JSON.stringify({ before, after })}`);
    if (mode === 'reset' && after.resets <= before.resets) throw new Error(`expected a new snapshot after the history ran out: ${JSON.stringify({ before, after })}`);
    if (after.errors !== 0) throw new Error(`the collection reported ${after.errors} errors`);

    // 4. A fresh client's snapshot; compare at every offset both reach.
    fresh = heraldClient(url, 'websocket');
    const b = recordingCollection(fresh);
    await Promise.race([b.coll.ready, sleep(timeoutMs).then(() => { throw new Error('no snapshot for the second client'); })]);
    const snapshotOffset = b.coll.offset;
    const compared = new Set();
    const t0 = Date.now();
    while (compared.size < 5) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`only ${compared.size} offsets compared in ${timeoutMs} ms`);
      st = await page.evaluate(panelState);
      const ref = b.at(st.offset);
      if (ref && st.offset >= snapshotOffset) {
        const set = canonical(new Map(st.docs));
        if (set !== ref.set) throw new Error(`at offset ${st.offset} the page's set differs from the fresh snapshot's:\npage:  ${set}\nfresh: ${ref.set}`);
        if (JSON.stringify(st.rows) !== JSON.stringify(ref.rows)) throw new Error(`at offset ${st.offset} the table differs from the fresh client's order:\npage:  ${JSON.stringify(st.rows)}\nfresh: ${JSON.stringify(ref.rows)}`);
        compared.add(st.offset);
      }
      await sleep(30);
    }
    if (problems.length) throw new Error(problems.join('; '));
    console.log(JSON.stringify({
      ok: true,
      mode,
      elapsed_ms: Date.now() - started,
      rows: st.rows.length,
      moved,
      turnover,
      before,
      after,
      refused,
      snapshot_offset: snapshotOffset,
      compared: [...compared],
    }));
  } catch (e) {
    fail(e && e.message ? e.message : String(e));
  } finally {
    clearTimeout(watchdog);
    if (fresh) fresh.close();
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
