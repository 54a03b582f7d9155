// The live dashboard: four sections, each fed by one Herald room. Each room's
// latest message carries the section's whole state, so the snapshot a
// (re)subscription starts with renders the section on its own.
// Payload shapes: see README.md next to this file. The "Live orders" panel
// is a live collection (room `orders:live`): herald.js keeps the set, and the
// table is reconciled with `sorted()` after each snapshot or change.
import { Herald, getPath, mapKey } from '/herald.js';

const ROOMS = ['dashboard:sales', 'dashboard:orders', 'dashboard:inventory', 'dashboard:regions'];
const STALE_AFTER_S = 10;

const statusEl = document.getElementById('status');
const sessionEl = document.getElementById('session');

// ---- formatting ----

const moneyFormats = new Map();
function money(value, currency = 'EUR') {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  let f = moneyFormats.get(currency);
  if (!f) {
    try {
      f = new Intl.NumberFormat(undefined, { style: 'currency', currency, maximumFractionDigits: 2 });
    } catch {
      f = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
    }
    moneyFormats.set(currency, f);
  }
  return f.format(value);
}
const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
function int(value) {
  return typeof value === 'number' && Number.isFinite(value) ? intFormat.format(value) : '–';
}
function text(value) {
  return value === undefined || value === null ? '–' : String(value);
}

// ---- canvas charts (hand-written) ----

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

// Sizes the canvas backing store to its CSS box; returns the 2D context and size.
function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth));
  const h = Math.max(1, Math.round(canvas.clientHeight));
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, w, h };
}

function emptyChart(canvas, message = 'waiting for data') {
  const { ctx, w, h } = prepare(canvas);
  ctx.fillStyle = css('--muted');
  ctx.textAlign = 'center';
  ctx.fillText(message, w / 2, h / 2);
}

function lineChart(canvas, values) {
  if (!values.length) return emptyChart(canvas);
  const { ctx, w, h } = prepare(canvas);
  const pad = 6;
  const max = Math.max(...values, 1e-9);
  const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
  const y = (v) => h - pad - (v / max) * (h - 2 * pad - 12);
  ctx.strokeStyle = css('--line');
  ctx.beginPath();
  ctx.moveTo(pad, h - pad);
  ctx.lineTo(w - pad, h - pad);
  ctx.stroke();
  ctx.beginPath();
  values.forEach((v, i) => (i ? ctx.lineTo(pad + i * step, y(v)) : ctx.moveTo(pad, y(v))));
  ctx.strokeStyle = css('--accent');
  ctx.lineWidth = 2;
  ctx.stroke();
  ctx.lineTo(pad + (values.length - 1) * step, h - pad);
  ctx.lineTo(pad, h - pad);
  ctx.closePath();
  ctx.globalAlpha = 0.15;
  ctx.fillStyle = css('--accent');
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.fillStyle = css('--muted');
  ctx.textAlign = 'right';
  ctx.fillText(`max ${intFormat.format(max)}`, w - pad, 11);
}

// bars: [{label, value, color?, marker?}]; marker draws a tick (e.g. a reorder level).
function barChart(canvas, bars) {
  if (!bars.length) return emptyChart(canvas);
  const { ctx, w, h } = prepare(canvas);
  const labelH = bars.some((b) => b.label) ? 14 : 0;
  const top = 12;
  const max = Math.max(...bars.map((b) => Math.max(b.value, b.marker ?? 0)), 1e-9);
  const slot = w / bars.length;
  const bw = Math.max(1, slot * 0.7);
  const y = (v) => h - labelH - (v / max) * (h - labelH - top);
  bars.forEach((b, i) => {
    const x = i * slot + (slot - bw) / 2;
    ctx.fillStyle = b.color || css('--accent');
    ctx.fillRect(x, y(b.value), bw, h - labelH - y(b.value));
    if (typeof b.marker === 'number') {
      ctx.strokeStyle = css('--warn');
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x - 2, y(b.marker));
      ctx.lineTo(x + bw + 2, y(b.marker));
      ctx.stroke();
    }
    if (b.label && slot > 24) {
      ctx.fillStyle = css('--muted');
      ctx.textAlign = 'center';
      ctx.fillText(b.label, x + bw / 2, h - 2, slot - 2);
    }
    if (b.caption && slot > 40) {
      ctx.fillStyle = css('--text');
      ctx.textAlign = 'center';
      ctx.fillText(b.caption, x + bw / 2, Math.max(top, y(b.value) - 3), slot - 2);
    }
  });
}

// ---- per-room renderers: each takes the latest `data` alone ----

// `items` is a count, or a list of lines with a `qty` each.
function itemCount(items) {
  if (Array.isArray(items)) return items.reduce((n, l) => n + (Number(l && l.qty) || 1), 0);
  return items;
}

// A bounded series of values seen since load, keyed by message offset so a
// re-render does not add a point twice.
class LocalSeries {
  constructor(max = 60) {
    this.max = max;
    this.points = [];
    this.lastKey = null;
  }
  add(key, value) {
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.points.push(value);
    if (this.points.length > this.max) this.points.shift();
  }
  clear() {
    this.points = [];
    this.lastKey = null;
  }
}

function setField(section, name, value) {
  const el = section.querySelector(`[data-field="${name}"]`);
  if (el) el.textContent = value;
}

const renderers = {
  'dashboard:sales'(section, d) {
    const cur = d.currency || 'EUR';
    setField(section, 'revenue_total', money(d.revenue_total, cur));
    setField(section, 'orders_total', int(d.orders_total));
    setField(section, 'revenue_last_minute', money(d.revenue_last_minute, cur));
    setField(section, 'avg_order_value', money(d.avg_order_value, cur));
    // `history` makes the chart whole from one message; without it the page
    // falls back to what it has seen since load.
    const values = Array.isArray(d.history)
      ? d.history.map((p) => Number(p && p.revenue) || 0)
      : section.local.push(Number(d.revenue_last_minute) || 0);
    lineChart(section.querySelector('canvas'), values);
  },

  'dashboard:orders'(section, d) {
    const o = d.order || {};
    const recent = Array.isArray(d.recent) ? d.recent.slice(0, 10) : [];
    const cur = d.currency || 'EUR';
    setField(section, 'latest_id', text(o.id));
    setField(section, 'latest_amount', money(o.amount, cur));
    setField(section, 'latest_customer', text(o.customer));
    setField(section, 'orders_total', int(d.orders_total));
    const values = Array.isArray(d.history)
      ? d.history.map((p) => Number(p && p.count) || 0)
      : section.local.push(Number(o.amount) || 0);
    barChart(section.querySelector('canvas'), values.map((value) => ({ value })));
    const body = section.querySelector('[data-field="recent"]');
    body.replaceChildren(
      ...recent.map((r) => {
        const tr = document.createElement('tr');
        tr.dataset.orderId = text(r.id);
        for (const v of [text(r.id), text(r.customer), text(r.region), int(itemCount(r.items)), money(r.amount, cur), text(r.status)]) {
          const td = document.createElement('td');
          td.textContent = v;
          tr.append(td);
        }
        return tr;
      }),
    );
  },

  'dashboard:inventory'(section, d) {
    const items = Array.isArray(d.items) ? d.items : [];
    const low = items.filter((i) => i.stock <= i.reorder_at);
    setField(section, 'skus', int(items.length));
    setField(section, 'units', int(items.reduce((s, i) => s + (Number(i.stock) || 0), 0)));
    setField(section, 'low', int(low.length));
    barChart(
      section.querySelector('canvas'),
      items.map((i) => ({
        label: text(i.sku),
        value: Math.max(0, Number(i.stock) || 0),
        marker: typeof i.reorder_at === 'number' ? i.reorder_at : undefined,
        color: i.stock <= i.reorder_at ? css('--bad') : css('--good'),
        caption: int(i.stock),
      })),
    );
  },

  'dashboard:regions'(section, d) {
    const rev = d.revenue_by_region && typeof d.revenue_by_region === 'object' ? d.revenue_by_region : {};
    const entries = Object.entries(rev).filter(([, v]) => typeof v === 'number');
    const total = entries.reduce((s, [, v]) => s + v, 0);
    const top = entries.reduce((best, e) => (!best || e[1] > best[1] ? e : best), null);
    setField(section, 'top_region', top ? top[0].toUpperCase() : '–');
    setField(section, 'top_share', top && total > 0 ? `${((top[1] / total) * 100).toFixed(1)} %` : '–');
    setField(section, 'region_count', int(entries.length));
    const cur = d.currency || 'EUR';
    barChart(
      section.querySelector('canvas'),
      entries.map(([k, v]) => ({ label: k.toUpperCase(), value: v, caption: money(v, cur) })),
    );
  },
};

// ---- sections ----

class Section {
  constructor(room) {
    this.room = room;
    this.el = document.querySelector(`section[data-room="${room}"]`);
    this.ageEl = this.el.querySelector('[data-age]');
    this.data = null;
    this.ts = null;
    this.lastMsg = null;
    this.updates = 0;
    this.resets = 0;
    this.sub = null;
    this.series = new LocalSeries();
  }

  handlers() {
    return {
      onReset: () => {
        this.series.clear();
        this.resets += 1;
        this.el.dataset.resets = String(this.resets);
      },
      onSubscribed: (info) => {
        this.el.dataset.epoch = info.epoch;
        // An empty room has no snapshot to wait for.
        if (info.offset === 0 && !this.data) this.render();
      },
      onMessage: (msg) => this.apply(msg),
    };
  }

  apply(msg) {
    if (msg === this.lastMsg) return; // the same message handed to a second subscription
    this.lastMsg = msg;
    this.data = msg.data && typeof msg.data === 'object' ? msg.data : {};
    this.ts = typeof this.data.ts === 'number' ? this.data.ts : msg.ts ?? Date.now();
    if (!msg.replay) this.updates += 1;
    this.el.dataset.offset = String(msg.offset);
    this.el.dataset.updates = String(this.updates);
    this.render();
    this.tick();
  }

  render() {
    const canvas = this.el.querySelector('canvas');
    if (!this.data) return emptyChart(canvas, 'room is empty; waiting for the first update');
    const series = this.series;
    const offset = this.lastMsg ? this.lastMsg.offset : null;
    const view = {
      querySelector: (sel) => this.el.querySelector(sel),
      local: { push: (v) => (series.add(offset, v), series.points) },
    };
    renderers[this.room](view, this.data);
  }

  tick() {
    if (this.ts === null) return;
    const s = Math.max(0, Math.round((Date.now() - this.ts) / 1000));
    this.ageEl.textContent = `updated ${s}s ago`;
    this.ageEl.dataset.age = String(s);
    this.ageEl.classList.toggle('stale', s >= STALE_AFTER_S);
  }

  setActive(active) {
    this.el.dataset.active = String(active);
  }
}

const sections = new Map(ROOMS.map((r) => [r, new Section(r)]));

// ---- the live orders panel: a live collection ----

const LIVE_ROOM = 'orders:live';
// How long a changed row keeps its highlight.
const CHANGED_MS = 1500;

function clock(iso) {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
  if (!Number.isFinite(t)) return '–';
  return new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// The cells of one order row, by column.
const LIVE_COLUMNS = [
  ['id', (d) => text(d._id)],
  ['customer', (d) => text(d.customer)],
  ['region', (d) => (typeof d.region === 'string' ? d.region.toUpperCase() : '–')],
  ['total', (d) => money(d.total, d.currency || 'EUR')],
  ['status', (d) => text(d.status)],
  ['created', (d) => clock(d.createdAt)],
];

class LiveOrders {
  constructor() {
    this.room = LIVE_ROOM;
    this.el = document.querySelector(`section[data-room="${LIVE_ROOM}"]`);
    this.body = this.el.querySelector('[data-field="live"]');
    this.ageEl = this.el.querySelector('[data-age]');
    this.coll = null;
    this.rows = new Map(); // Map key -> <tr>
    this.changes = 0;
    this.resets = 0;
    this.errors = 0;
    this.ts = null;
    this.queued = null; // keys changed since the last render
  }

  /** Whether the collection is live (not left by a focus on another room). */
  get active() {
    return !!this.coll && this.coll._sub.active;
  }

  start(opts = {}) {
    if (this.coll) this.coll.close();
    const coll = herald.collection(LIVE_ROOM, opts);
    this.coll = coll;
    window.liveOrders = coll; // for debugging and tests
    coll.on('reset', () => {
      this.resets += 1;
      this.el.dataset.resets = String(this.resets);
      this.el.dataset.epoch = coll.epoch ?? '';
      this.queue(null);
    });
    coll.on('change', (c) => {
      this.changes += 1;
      this.el.dataset.changes = String(this.changes);
      this.queue(mapKey(c.key));
    });
    coll.on('error', (e) => {
      this.errors += 1;
      this.el.dataset.errors = String(this.errors);
      console.warn('live orders:', e.message);
    });
  }

  stop() {
    if (this.coll) this.coll.close();
    this.coll = null;
  }

  // Renders once per turn, however many changes arrived in it.
  queue(key) {
    if (!this.queued) {
      this.queued = new Set();
      queueMicrotask(() => {
        const keys = this.queued;
        this.queued = null;
        this.render(keys);
      });
    }
    if (key !== null) this.queued.add(key);
  }

  // Reconciles the table with the set's order: rows stay the same elements
  // while their order is in the set, cells change only when their text does.
  render(changed = new Set()) {
    if (!this.coll) return;
    const coll = this.coll;
    const docs = coll.sorted();
    const keep = new Set();
    let at = this.body.firstElementChild;
    if (at && at.classList.contains('empty')) {
      at.remove();
      at = null;
    }
    const now = Date.now();
    for (const d of docs) {
      const key = mapKey(getPath(d, coll.spec.key));
      keep.add(key);
      let tr = this.rows.get(key);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.key = String(key);
        for (const [col] of LIVE_COLUMNS) {
          const td = document.createElement('td');
          td.dataset.col = col;
          if (col === 'total') td.className = 'num';
          if (col === 'status') {
            const badge = document.createElement('span');
            badge.className = 'status';
            td.append(badge);
          }
          tr.append(td);
        }
        this.rows.set(key, tr);
      }
      for (const [i, [col, fmt]] of LIVE_COLUMNS.entries()) {
        const cell = col === 'status' ? tr.children[i].firstElementChild : tr.children[i];
        const v = fmt(d);
        if (cell.textContent !== v) cell.textContent = v;
        if (col === 'status' && cell.dataset.status !== v) cell.dataset.status = v;
      }
      tr.dataset.status = text(d.status);
      if (changed.has(key)) this.flash(tr, now);
      if (tr !== at) this.body.insertBefore(tr, at);
      at = tr.nextElementSibling;
    }
    for (const [key, tr] of this.rows) {
      if (keep.has(key)) continue;
      tr.remove();
      clearTimeout(tr._flash);
      this.rows.delete(key);
    }
    if (docs.length === 0 && !this.body.firstElementChild) {
      const tr = document.createElement('tr');
      tr.className = 'empty';
      tr.innerHTML = '<td colspan="6">no orders yet</td>';
      this.body.append(tr);
    }
    this.el.dataset.rows = String(docs.length);
    this.el.dataset.offset = String(coll.offset ?? 0);
    this.ts = now;
    this.tick();
  }

  // A brief highlight: class `changed` and `data-changed-at` (ms).
  flash(tr, now) {
    tr.classList.add('changed');
    tr.dataset.changedAt = String(now);
    clearTimeout(tr._flash);
    tr._flash = setTimeout(() => tr.classList.remove('changed'), CHANGED_MS);
  }

  tick() {
    if (this.ts === null) return;
    const s = Math.max(0, Math.round((Date.now() - this.ts) / 1000));
    this.ageEl.textContent = `updated ${s}s ago`;
    this.ageEl.dataset.age = String(s);
    this.ageEl.classList.toggle('stale', s >= STALE_AFTER_S);
  }

  setActive(active) {
    this.el.dataset.active = String(active);
  }
}

const liveOrders = new LiveOrders();

// ---- connection ----

// herald.js picks the transport; `/?transport=webtransport|websocket|sse`
// on this page's URL forces one (herald.js reads it).
const herald = new Herald();
window.herald = herald; // for debugging and tests

const TRANSPORT_NAMES = { webtransport: 'WebTransport', websocket: 'WebSocket', sse: 'SSE' };

function showStatus(state, label, attempt = 0) {
  statusEl.dataset.state = state;
  statusEl.dataset.attempt = String(attempt);
  statusEl.dataset.transport = herald.transport || '';
  const fallback = herald.fallback;
  statusEl.title = fallback ? `${TRANSPORT_NAMES[fallback.from] || fallback.from} not used: ${fallback.reason}` : '';
  statusEl.dataset.fallback = fallback ? fallback.reason : '';
  statusEl.querySelector('.label').textContent = label;
}

function onStatus(status, info = {}) {
  switch (status) {
    case 'connecting':
      return showStatus('connecting', 'Connecting…');
    case 'open':
      sessionEl.textContent = `session ${herald.welcome?.session ?? '?'} on ${herald.welcome?.node ?? '?'}`;
      sessionEl.dataset.session = herald.welcome?.session ?? '';
      return showStatus('connected', `Connected · ${TRANSPORT_NAMES[herald.transport] || herald.transport}`);
    case 'reconnecting':
      if (typeof navigator !== 'undefined' && navigator.onLine === false) {
        return showStatus('offline', 'Offline (no network)', info.attempt ?? herald.attempt);
      }
      return showStatus('reconnecting', `Reconnecting (attempt ${info.attempt ?? herald.attempt})…`, info.attempt ?? herald.attempt);
    case 'closed':
      return showStatus('offline', info.reason ? `Offline (${info.reason})` : 'Offline');
    default:
      return undefined;
  }
}
herald.on('status', onStatus);
herald.on('error', (e) => console.warn('herald:', e.message));
onStatus(herald.status);

// ---- focus: all sections, or one (switching with leaveOthers) ----

let focus = 'all';

function setFocus(target) {
  if (target === focus) return;
  if (target === 'all') {
    for (const s of sections.values()) {
      s.setActive(true);
      if (!s.sub || !s.sub.active) s.sub = herald.subscribe(s.room, s.handlers());
    }
    liveOrders.setActive(true);
    if (!liveOrders.active) liveOrders.start();
  } else if (target === LIVE_ROOM) {
    // The collection stays; the sections' rooms are left.
    if (!liveOrders.active) liveOrders.start({ leaveOthers: true });
    for (const s of sections.values()) {
      if (s.sub) s.sub.unsubscribe();
      s.sub = null;
      s.setActive(false);
    }
    liveOrders.setActive(true);
  } else {
    const s = sections.get(target);
    if (!s) return;
    // One subscribe that also leaves every other room on the gateway.
    const old = s.sub;
    s.sub = herald.subscribe(s.room, s.handlers(), { leaveOthers: true });
    if (old) old.unsubscribe();
    for (const other of sections.values()) {
      other.setActive(other === s);
      if (other !== s) other.sub = null;
    }
    // leaveOthers left the live orders room too.
    liveOrders.stop();
    liveOrders.setActive(false);
  }
  focus = target;
  document.body.dataset.focus = target;
  for (const b of document.querySelectorAll('#focus button')) {
    b.setAttribute('aria-pressed', String(b.dataset.focus === target));
  }
  for (const s of sections.values()) if (s.el.dataset.active === 'true') s.render();
}

document.getElementById('focus').addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-focus]');
  if (b) setFocus(b.dataset.focus);
});

for (const s of sections.values()) {
  s.sub = herald.subscribe(s.room, s.handlers());
  s.render();
}
liveOrders.start();

setInterval(() => {
  for (const s of sections.values()) s.tick();
  liveOrders.tick();
}, 1000);

let resizeQueued = false;
window.addEventListener('resize', () => {
  if (resizeQueued) return;
  resizeQueued = true;
  requestAnimationFrame(() => {
    resizeQueued = false;
    for (const s of sections.values()) if (s.el.dataset.active === 'true') s.render();
  });
});
window.addEventListener('offline', () => herald.status !== 'open' && onStatus(herald.status, { attempt: herald.attempt }));
