// Unit tests of herald.js's live collections (`h.collection(room)`) under
// Node (node --test): the pure apply and order logic, which mirrors
// protocol/src/collection/, then the collection on a Herald client against
// a scripted WebSocket server and a scripted EventSource. No gateway needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, WebSocketServer } from 'ws';
import {
  Herald, LiveSet, CollectionError, applyPatch, compareValues, compareMembers, compareStrings,
  getPath, parseIndex, patchFields, mapKey, setSpec, MAX_PATH_INDEX, MAX_PATH_DEPTH,
} from '../../gateway/assets/herald.js';

const clone = (v) => JSON.parse(JSON.stringify(v));
const snap = (docs, spec = {}) => ({ room: 'r', key: '_id', descending: false, reset: false, ...spec, docs });

// ---- the pure logic ----

test('the Rust vector: a snapshot, an upsert, a patch, a missing key, a remove', () => {
  // protocol/src/collection/apply.rs, a_snapshot_then_changes_give_the_documents_in_order
  const set = new LiveSet();
  set.applySnapshot(snap([{ _id: 'a', n: 2, tags: [1, 2, 3] }], { sort: 'n' }));
  set.applyChange({ room: 'r', op: 'upsert', key: 'b', doc: { _id: 'b', n: 1 } });
  const ev = set.applyChange({
    room: 'r', op: 'patch', key: 'a',
    truncate: { tags: 1 }, set: { 'tags.2': 9, 'a.b': 1 }, unset: ['n'], paths: { 'a.b': ['a.b'] },
  });
  assert.deepEqual(set.sorted(), [{ _id: 'a', tags: [1, null, 9], 'a.b': 1 }, { _id: 'b', n: 1 }],
    'a lost its sort field, so it sorts first');
  assert.deepEqual(ev.prev, { _id: 'a', n: 2, tags: [1, 2, 3] }, 'the previous document is untouched');
  assert.deepEqual(ev.fields, ['tags', 'tags.2', 'a.b', 'n']);
  assert.throws(() => set.applyChange({ room: 'r', op: 'patch', key: 'zz' }), (e) => e instanceof CollectionError && e.kind === 'missing');
  set.applyChange({ room: 'r', op: 'remove', key: 'a' });
  assert.equal(set.docs.size, 1);
  assert.deepEqual([...set.docs.keys()], ['b']);
});

test('a snapshot replaces the whole set and its shape; sorted() honours sort, descending and limit', () => {
  const set = new LiveSet();
  set.applySnapshot(snap([{ _id: 'x', t: 1 }, { _id: 'y', t: 2 }]));
  const docs = [
    { _id: 'o-1', createdAt: '2026-12-03T18:00:01.000Z' },
    { _id: 'o-3', createdAt: '2026-12-03T18:00:03.000Z' },
    { _id: 'o-2', createdAt: '2026-12-03T18:00:02.000Z' },
    { _id: 'o-4', createdAt: '2026-12-03T18:00:02.000Z' },
    { noKey: true },
  ];
  const out = set.applySnapshot(snap(docs, { sort: 'createdAt', descending: true, limit: 3, reset: true }));
  assert.equal(out.skipped, 1, 'a document without the key is skipped');
  assert.deepEqual([...set.docs.keys()].sort(), ['o-1', 'o-2', 'o-3', 'o-4'], 'x and y are gone');
  assert.deepEqual(set.spec, { key: '_id', sort: 'createdAt', descending: true, limit: 3 });
  assert.deepEqual(set.sorted().map((d) => d._id), ['o-3', 'o-2', 'o-4'],
    'latest first, a tie by key ascending even when descending, cut at the limit');
  assert.equal(set.docs.size, 4, 'docs holds the whole set; only sorted() applies the limit');
});

test('keys: strings and numbers are Map keys as they are, other values by their JSON text', () => {
  const set = new LiveSet();
  set.applySnapshot(snap([{ _id: 1, v: 'n' }, { _id: '1', v: 's' }, { _id: { a: 1, b: 'x' }, v: 'o' }]));
  assert.equal(set.docs.get(1).v, 'n');
  assert.equal(set.docs.get('1').v, 's');
  assert.equal(set.docs.get('{"a":1,"b":"x"}').v, 'o');
  set.applyChange({ op: 'patch', key: { a: 1, b: 'x' }, set: { v: 'O' } });
  assert.equal(set.docs.get(mapKey({ a: 1, b: 'x' })).v, 'O');
  // A dotted key path.
  set.applySnapshot(snap([{ id: { n: 7 }, v: 1 }], { key: 'id.n' }));
  assert.deepEqual([...set.docs.keys()], [7]);
});

test('numeric parts index arrays and name object members; writes create objects and pad arrays', () => {
  // protocol/src/collection/path.rs
  let doc = { items: [{ qty: 1 }, { qty: 2 }], byId: { 1: { qty: 5 } } };
  doc = applyPatch(doc, { set: { 'items.1.qty': 7, 'byId.1.qty': 9 } });
  assert.deepEqual(doc, { items: [{ qty: 1 }, { qty: 7 }], byId: { 1: { qty: 9 } } });
  assert.equal(getPath(doc, 'items.1.qty'), 7);
  assert.equal(getPath(doc, 'byId.1.qty'), 9);
  assert.equal(getPath(doc, 'items.x'), undefined);
  assert.equal(getPath(doc, 'items.1.qty.deeper'), undefined);

  doc = applyPatch({ a: [1] }, { set: { 'x.y': true, 'a.3': 4 } });
  assert.deepEqual(doc, { a: [1, null, null, 4], x: { y: true } });
  doc = applyPatch(doc, { unset: ['a.0', 'x.y', 'no.such.path', 'a.99'] });
  assert.deepEqual(doc, { a: [null, null, null, 4], x: {} }, 'unset nulls an array slot and deletes a key');
  doc = applyPatch(doc, { truncate: { a: 1 } });
  assert.deepEqual(doc, { a: [null], x: {} });
  // A null on the way becomes an object; a padded slot too.
  assert.deepEqual(applyPatch({ p: null, q: [] }, { set: { 'p.r': 1, 'q.1.s': 2 } }), { p: { r: 1 }, q: [null, { s: 2 }] });
  // Rust's usize parsing: '+1' and '01' are index 1 in an array.
  assert.deepEqual(applyPatch({ a: [0, 0] }, { set: { 'a.+1': 5 } }), { a: [0, 5] });
  assert.deepEqual(applyPatch({ a: [0, 0] }, { set: { 'a.01': 6 } }), { a: [0, 6] });
  assert.deepEqual(applyPatch({ a: {} }, { set: { 'a.01': 6 } }), { a: { '01': 6 } });
});

test('truncate, then set, then unset; the order within a patch matters and is kept', () => {
  const doc = { items: [{ sku: 'a' }, { sku: 'b' }, { sku: 'c' }], note: 'x' };
  // Truncated to 1, then index 2 written: a null pads the removed index 1.
  assert.deepEqual(applyPatch(doc, { truncate: { items: 1 }, set: { 'items.2': { sku: 'z' } } }),
    { items: [{ sku: 'a' }, null, { sku: 'z' }], note: 'x' });
  // set and unset of one path: unset wins (it comes last).
  assert.deepEqual(applyPatch(doc, { set: { note: 'y' }, unset: ['note'] }), { items: doc.items });
  // Truncation to a larger size or of a non-array leaves things alone.
  assert.deepEqual(applyPatch(doc, { truncate: { items: 10, note: 0 } }), doc);
  assert.deepEqual(patchFields({ truncate: { b: 1, a: 2 }, set: { z: 1, a: 1 }, unset: ['z', 'q'] }), ['a', 'b', 'z', 'q']);
});

test('paths: dotted field names are written as the parts listed, others split at dots', () => {
  const doc = { 'a.b': { c: 1 }, a: { b: 2 } };
  const out = applyPatch(doc, {
    set: { 'a.b.c': 5, 'a.b': 3, 'x.y.z': 1 },
    unset: ['k.l'],
    paths: { 'a.b.c': ['a.b', 'c'], 'x.y.z': ['x.y', 'z'], 'k.l': ['k.l'] },
  });
  assert.deepEqual(out, { 'a.b': { c: 5 }, a: { b: 3 }, 'x.y': { z: 1 } });
  const out2 = applyPatch({ 'k.l': 1, k: { l: 2 } }, { unset: ['k.l'], paths: { 'k.l': ['k.l'] } });
  assert.deepEqual(out2, { k: { l: 2 } });
  assert.throws(() => applyPatch({}, { set: { a: 1 }, paths: { a: 'a' } }), (e) => e.kind === 'invalid');
});

test('a patch never changes the previous document and shares only what it did not touch', () => {
  const prev = { a: { b: { c: 1 } }, keep: { deep: [1, 2] }, arr: [{ x: 1 }, { x: 2 }] };
  const frozen = clone(prev);
  const next = applyPatch(prev, { set: { 'a.b.c': 2, 'arr.1.x': 3 }, unset: ['arr.0.x'], truncate: { 'keep.deep': 1 } });
  assert.deepEqual(prev, frozen, 'prev is unchanged');
  assert.deepEqual(next, { a: { b: { c: 2 } }, keep: { deep: [1] }, arr: [{}, { x: 3 }] });
  const untouched = applyPatch(prev, { set: { 'a.z': 1 } });
  assert.equal(untouched.keep, prev.keep, 'an untouched branch is shared, not copied');
  assert.notEqual(untouched.a, prev.a);
});

test('hostile paths are refused, write nothing, and never hang', () => {
  const set = new LiveSet();
  set.applySnapshot(snap([{ _id: 'k', a: [], s: 1 }]));
  const before = clone(set.docs.get('k'));
  const refused = (patch, re) => {
    assert.throws(() => set.applyChange({ op: 'patch', key: 'k', ...patch }), (e) => e instanceof CollectionError && e.kind === 'path' && re.test(e.message));
    assert.deepEqual(set.docs.get('k'), before, `nothing was written for ${JSON.stringify(patch).slice(0, 80)}`);
  };
  refused({ set: { 'a.999999999': 1 } }, /over the limit/);
  refused({ set: { [`a.${MAX_PATH_INDEX + 1}`]: 1 } }, /over the limit/);
  refused({ set: { 'a.18446744073709551616': 1 } }, /scalar/); // past usize: not an index at all
  refused({ set: { 'a.100001.x': 1 } }, /over the limit/);
  refused({ set: { ok: 1, 's.t': 1 } }, /scalar/); // the first write is dropped with the patch
  refused({ set: { 'a..b': 1 } }, /empty/);
  refused({ set: { '': 1 } }, /empty/);
  refused({ set: { [Array(MAX_PATH_DEPTH + 1).fill('d').join('.')]: 1 } }, /deeper/);
  refused({ unset: ['x.'] }, /empty/);
  refused({ set: { d: 1 }, paths: { d: [] } }, /empty/);
  const t0 = Date.now();
  refused({ set: { [Array(1_000_000).fill('d').join('.')]: 1 } }, /deeper/);
  refused({ set: { [`a.${'9'.repeat(1_000_000)}`]: 1 } }, /scalar/);
  assert.ok(Date.now() - t0 < 2000, 'a million-part path is refused quickly');
  // Exactly at the limits is fine.
  const ok = applyPatch({ a: [] }, { set: { [`a.${MAX_PATH_INDEX}`]: 1 } });
  assert.equal(ok.a.length, MAX_PATH_INDEX + 1);
  const deep = applyPatch({}, { set: { [Array(MAX_PATH_DEPTH).fill('d').join('.')]: 1 } });
  assert.equal(getPath(deep, Array(MAX_PATH_DEPTH).fill('d').join('.')), 1);
  // Unset and truncate through huge indexes are no-ops, not errors.
  assert.deepEqual(applyPatch({ a: [1] }, { unset: ['a.999999999.x'], truncate: { 'a.999999999': 0 } }), { a: [1] });
  // Prototype names are plain data keys.
  const p = applyPatch({}, { set: { '__proto__.polluted': 1, 'constructor.prototype.x': 2 } });
  assert.equal({}.polluted, undefined);
  assert.equal(Object.prototype.x, undefined);
  assert.deepEqual(Object.keys(p).sort(), ['__proto__', 'constructor']);
  assert.equal(Object.getPrototypeOf(p), Object.prototype);
  assert.equal(getPath({}, 'constructor'), undefined, 'inherited members are not fields');
  // Malformed payloads.
  for (const bad of [{ op: 'explode', key: 'k' }, { op: 'upsert', key: 'k' }, { op: 'remove' }, null, 'x',
    { op: 'patch', key: 'k', set: [1] }, { op: 'patch', key: 'k', unset: 'a' }, { op: 'patch', key: 'k', truncate: { a: -1 } }]) {
    assert.throws(() => set.applyChange(bad), (e) => e.kind === 'invalid', JSON.stringify(bad));
  }
  assert.throws(() => set.applySnapshot({ docs: 'no' }), (e) => e.kind === 'invalid');
  assert.deepEqual(set.docs.get('k'), before);
  assert.equal(parseIndex('-1'), null);
  assert.equal(parseIndex('+'), null);
  assert.equal(parseIndex('1e3'), null);
  assert.equal(parseIndex('0001'), 1);
});

test('values order as MongoDB orders their types, numbers by total order, strings by code point', () => {
  // protocol/src/collection/order.rs
  const vals = [null, -1.5, -0, 0, 3, '2026-01-01T00:00:00.000Z', 'b', '\uffff', '\u{1f600}', { a: 1 }, {}, [1], [], false, true];
  for (let i = 0; i + 1 < vals.length; i++) {
    assert.equal(compareValues(vals[i], vals[i + 1]), -1, `${JSON.stringify(vals[i])} < ${JSON.stringify(vals[i + 1])}`);
    assert.equal(compareValues(vals[i + 1], vals[i]), 1);
  }
  assert.equal(compareValues(undefined, null), 0, 'missing equals null');
  assert.equal(compareValues({ a: 1 }, { a: 1 }), 0);
  assert.equal(compareStrings('\uffff', '\u{10000}'), -1, 'U+FFFF before U+10000 (UTF-16 order says otherwise)');
  assert.ok('\uffff' > '\u{10000}', 'which is why the plain < is not used');
  const spec = setSpec({ key: '_id', sort: 't', descending: true, limit: 2 });
  assert.equal(compareMembers(spec, { t: 2 }, '1', { t: 1 }, '2'), -1, 'descending: larger first');
  assert.equal(compareMembers(spec, { t: 2 }, '2', { t: 2 }, '1'), 1, 'tie: by key');
  // Ties go by the key's JSON text: "a" (0x22 after a) before "a\"" (0x5c).
  const set = new LiveSet();
  set.applySnapshot(snap([{ _id: 'a"', v: 0 }, { _id: 'a', v: 0 }, { _id: 10, v: 0 }, { _id: 9, v: 0 }], { sort: 'v' }));
  assert.deepEqual(set.sorted().map((d) => d._id), ['a', 'a"', 10, 9], 'by JSON text: "\\"a\\"" < "\\"a\\\\\\"\\"" < "10" < "9"');
});

// ---- randomized: the client's set equals a reference recomputation ----

function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The reference order, written independently: UTF-8 bytes, explicit ranks.
function refRank(v) {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return 1;
  if (typeof v === 'string') return 2;
  if (typeof v === 'boolean') return 5;
  return Array.isArray(v) ? 4 : 3;
}
function refCmpValues(a, b) {
  const d = refRank(a) - refRank(b);
  if (d !== 0) return Math.sign(d);
  const r = refRank(a);
  if (r === 0) return 0;
  if (r === 1) {
    const fa = new Float64Array([a]);
    const fb = new Float64Array([b]);
    const key = (f) => { const bi = new BigInt64Array(f.buffer)[0]; return bi >= 0n ? bi : -(bi & ((1n << 63n) - 1n)) - 1n; };
    return key(fa) < key(fb) ? -1 : key(fa) > key(fb) ? 1 : 0;
  }
  if (r === 5) return Number(a) - Number(b);
  const [x, y] = r === 2 ? [a, b] : [JSON.stringify(a), JSON.stringify(b)];
  return Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));
}
function refSorted(docs, spec) {
  const all = [...docs.values()].map((d) => ({ text: JSON.stringify(d._id), d }));
  all.sort((p, q) => {
    let o = spec.sort ? refCmpValues(p.d[spec.sort], q.d[spec.sort]) : 0;
    if (spec.descending) o = -o;
    return o || Buffer.compare(Buffer.from(p.text, 'utf8'), Buffer.from(q.text, 'utf8'));
  });
  const out = all.map((x) => x.d);
  return spec.limit == null ? out : out.slice(0, spec.limit);
}

const SORT_VALUES = [undefined, null, -0, 0, 1, -2.5, 1e21, 'a', 'B', '\u00e9', '\uffff', '\u{1f600}',
  '2026-12-03T18:00:00.000Z', {}, { z: 1 }, [], [2], true, false];

test('randomized: applying random change sequences equals the reference recomputation', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rnd = prng(seed);
    const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
    const spec = { key: '_id', sort: pick(['t', null]), descending: rnd() < 0.5, limit: pick([null, 5, 50]) };
    const keys = ['a', 'b', 'c', 'd', 'e', 1, 2, 10, { o: 1 }, 'a"', '\u{1f600}'];
    const ref = new Map(); // the server's set, by key value's JSON text
    const newDoc = (k) => ({
      _id: k, t: pick(SORT_VALUES), items: Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => ({ sku: `s${i}`, qty: i })),
      customer: { name: pick(['Ada', 'Alan']), address: { city: 'x' } }, 'dot.ted': { v: 1 },
    });
    for (const k of keys.slice(0, 6)) ref.set(JSON.stringify(k), clone(newDoc(k)));
    const set = new LiveSet();
    set.applySnapshot({ room: 'r', ...spec, reset: false, docs: [...ref.values()].map(clone) });
    const history = []; // every document the client held, with its JSON at the time
    for (let step = 0; step < 300; step++) {
      const k = pick(keys);
      const kt = JSON.stringify(k);
      const held = ref.get(kt);
      const r = rnd();
      let change;
      if (!held || r < 0.15) {
        const d = clone(newDoc(k));
        ref.set(kt, d);
        change = { op: 'upsert', key: k, doc: clone(d) };
      } else if (r < 0.25) {
        ref.delete(kt);
        change = { op: 'remove', key: k };
      } else {
        // The reference applies the patch by hand to a deep copy.
        const d = clone(held);
        const patch = { op: 'patch', key: k, set: {}, unset: [], truncate: {}, paths: {} };
        const n = d.items.length;
        if (n > 0 && rnd() < 0.3) {
          const size = Math.floor(rnd() * n);
          d.items.length = size;
          patch.truncate.items = size;
        }
        const what = Math.floor(rnd() * 6);
        if (what === 0) { d.t = clone(pick(SORT_VALUES) ?? null); if (rnd() < 0.3) d.t = undefined; if (d.t === undefined) { delete d.t; patch.unset.push('t'); } else patch.set.t = clone(d.t); }
        if (what === 1) { const i = Math.floor(rnd() * 5); while (d.items.length < i) d.items.push(null); d.items[i] = { ...(d.items[i] || {}), qty: step }; patch.set[`items.${i}.qty`] = step; }
        if (what === 2) { d.customer.name = `n${step}`; patch.set['customer.name'] = `n${step}`; }
        if (what === 3) { delete d.customer.address; patch.unset.push('customer.address'); }
        if (what === 4) { d['dot.ted'].v = step; patch.set['dot.ted.v'] = step; patch.paths['dot.ted.v'] = ['dot.ted', 'v']; }
        if (what === 5 && d.items.length > 0) { d.items[0] = null; patch.unset.push('items.0'); }
        ref.set(kt, d);
        change = patch;
      }
      const prev = set.docs.get(mapKey(k));
      if (prev) history.push([prev, JSON.stringify(prev)]);
      set.applyChange(JSON.parse(JSON.stringify(change)));
      const expected = new Map([...ref.values()].map((d) => [mapKey(d._id), d]));
      assert.deepEqual(set.docs, expected, `seed ${seed} step ${step}: ${JSON.stringify(change)}`);
      assert.deepEqual(set.sorted().map((d) => [d._id, d.t]), refSorted(expected, spec).map((d) => [d._id, d.t]), `seed ${seed} step ${step}: order ${JSON.stringify(spec)}`);
      assert.deepEqual(set.sorted(), refSorted(expected, spec));
    }
    for (const [d, text] of history) assert.equal(JSON.stringify(d), text, `seed ${seed}: a previous document was mutated`);
  }
});

// ---- the collection on a Herald client ----

async function scriptedServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const waiting = [];
  const ready = [];
  wss.on('connection', (ws) => {
    const conn = new Conn(ws);
    const w = waiting.shift();
    if (w) w(conn);
    else ready.push(conn);
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/ws`,
    next: () => (ready.length ? Promise.resolve(ready.shift()) : new Promise((r) => waiting.push(r))),
    close: () => new Promise((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close(r);
    }),
  };
}

class Conn {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.waiters = [];
    ws.on('message', (buf) => {
      const f = JSON.parse(buf.toString());
      const w = this.waiters.shift();
      if (w) w(f);
      else this.inbox.push(f);
    });
  }
  frame() {
    return this.inbox.length ? Promise.resolve(this.inbox.shift()) : new Promise((r) => this.waiters.push(r));
  }
  send(f) { this.ws.send(JSON.stringify(f)); }
  welcome() { this.send({ type: 'welcome', session: 's1', node: 'gw-test', heartbeat_ms: 25000, max_frame_bytes: 65536, max_rooms: 64 }); }
  subscribed(sub, epoch, offset, recovered) { this.send({ type: 'subscribed', room: sub.room, epoch, offset, recovered, id: sub.id }); }
  snapshot(room, offset, docs, extra = {}) {
    this.send({ type: 'message', room, event: 'herald:snapshot', offset, ts: 1, data: { room, key: '_id', sort: 'n', descending: true, limit: 10, reset: false, ...extra, docs } });
  }
  change(room, offset, data) { this.send({ type: 'message', room, event: 'herald:change', offset, ts: 1, data: { room, ...data } }); }
}

const FAST = { WebSocket, minBackoffMs: 5, maxBackoffMs: 20, shutdownJitterMs: 5 };
const until = async (pred, what, ms = 3000) => {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('a collection: snapshot, changes, recovery with since, and a lost key answered by a fresh snapshot', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const orders = h.collection('orders:live');
  const changes = [];
  const resets = [];
  const errors = [];
  orders.on('change', (c) => changes.push(c));
  orders.on('reset', (r) => resets.push(r));
  orders.on('error', (e) => errors.push(e));

  let c = await srv.next();
  c.welcome();
  let sub = await c.frame();
  assert.equal(sub.op, 'subscribe');
  assert.equal(sub.since, undefined);
  c.subscribed(sub, 'e1', 5, false);
  // A change before any snapshot has no set to apply to: ignored.
  c.change('orders:live', 4, { op: 'upsert', key: 'early', doc: { _id: 'early' } });
  let settled = false;
  orders.ready.then(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(settled, false, 'not ready before a snapshot');
  assert.equal(orders.docs.size, 0);
  c.ws.terminate();
  c = await srv.next();
  c.welcome();
  sub = await c.frame();
  c.subscribed(sub, 'e2', 5, false);
  c.snapshot('orders:live', 5, [{ _id: 'o-2', n: 2, status: 'pending' }, { _id: 'o-1', n: 1, status: 'paid' }]);
  await orders.ready;
  assert.equal(changes.length, 0, 'the change before any snapshot was not applied');
  assert.deepEqual([...orders.docs.keys()], ['o-2', 'o-1']);
  assert.equal(resets.length, 1);
  assert.equal(resets[0].reset, false);

  c.change('orders:live', 6, { op: 'patch', key: 'o-2', set: { status: 'paid' } });
  c.change('orders:live', 7, { op: 'upsert', key: 'o-3', doc: { _id: 'o-3', n: 3, status: 'pending' } });
  c.change('orders:live', 8, { op: 'remove', key: 'o-1' });
  await until(() => changes.length === 3, 'three changes');
  assert.deepEqual(changes.map((x) => [x.op, x.key]), [['patch', 'o-2'], ['upsert', 'o-3'], ['remove', 'o-1']]);
  assert.deepEqual(changes[0].fields, ['status']);
  assert.equal(changes[0].prev.status, 'pending');
  assert.equal(changes[0].doc.status, 'paid');
  assert.equal(changes[2].doc, undefined);
  assert.deepEqual(orders.sorted().map((d) => d._id), ['o-3', 'o-2']);
  assert.equal(orders.offset, 8);

  // A lost connection: resubscribed with since; the missed changes apply.
  c.ws.terminate();
  c = await srv.next();
  c.welcome();
  sub = await c.frame();
  assert.deepEqual(sub.since, { epoch: 'e2', offset: 8 });
  c.subscribed(sub, 'e2', 9, true);
  c.change('orders:live', 9, { op: 'patch', key: 'o-3', set: { status: 'paid' } });
  await until(() => changes.length === 4, 'the recovered change');
  assert.equal(orders.docs.get('o-3').status, 'paid');

  // A patch for a key not held: the set stays, an error, and a subscribe without since.
  const held = JSON.stringify([...orders.docs]);
  c.change('orders:live', 10, { op: 'patch', key: 'o-9', set: { status: 'paid' } });
  const again = await c.frame();
  assert.equal(again.op, 'subscribe');
  assert.equal(again.room, 'orders:live');
  assert.equal(again.since, undefined, 'a fresh snapshot is asked for');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].kind, 'missing');
  assert.match(errors[0].message, /o-9.*does not hold/);
  assert.equal(JSON.stringify([...orders.docs]), held, 'the set is unchanged');
  c.change('orders:live', 11, { op: 'upsert', key: 'stale', doc: { _id: 'stale' } }); // before the answer: dropped
  c.subscribed(again, 'e2', 12, false);
  c.snapshot('orders:live', 12, [{ _id: 'o-9', n: 9, status: 'paid' }], { reset: true });
  await until(() => resets.length === 2, 'the fresh snapshot');
  assert.deepEqual([...orders.docs.keys()], ['o-9'], 'the snapshot replaced the set');
  assert.equal(resets[1].reset, true);
  c.change('orders:live', 13, { op: 'patch', key: 'o-9', set: { status: 'shipped' } });
  await until(() => orders.docs.get('o-9').status === 'shipped', 'a change after the fresh snapshot');
  assert.equal(orders.stats.refreshes, 1);

  // A hostile patch: ignored, reported, no resubscribe.
  c.change('orders:live', 14, { op: 'patch', key: 'o-9', set: { 'status.x': 1 } });
  c.change('orders:live', 15, { op: 'patch', key: 'o-9', set: { note: 'ok' } });
  await until(() => orders.docs.get('o-9').note === 'ok', 'the next patch');
  assert.equal(errors.length, 2);
  assert.equal(errors[1].kind, 'path');
  assert.equal(orders.docs.get('o-9').status, 'shipped');

  orders.close();
  const un = await c.frame();
  assert.deepEqual(un, { op: 'unsubscribe', room: 'orders:live' });
});

test('a collection of a room the client is already in asks for its own snapshot', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const plain = [];
  h.subscribe('orders:live', { onMessage: (m) => plain.push(m.offset) });
  const c = await srv.next();
  c.welcome();
  const sub = await c.frame();
  c.subscribed(sub, 'e1', 3, false);
  c.snapshot('orders:live', 3, [{ _id: 'a', n: 1 }]);
  c.change('orders:live', 4, { op: 'patch', key: 'a', set: { n: 2 } });
  await until(() => plain.length === 2, 'the plain subscriber');
  const orders = h.collection('orders:live');
  const again = await c.frame();
  assert.equal(again.op, 'subscribe');
  assert.equal(again.since, undefined);
  c.subscribed(again, 'e1', 4, false);
  c.snapshot('orders:live', 4, [{ _id: 'a', n: 2 }]);
  await orders.ready;
  assert.deepEqual([...orders.docs.values()], [{ _id: 'a', n: 2 }]);
  assert.equal(orders.stats.errors, 0, 'the latest change handed to the newcomer was not applied to nothing');
});

test('an empty room starts an empty set that changes build up', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const orders = h.collection('orders:live');
  const c = await srv.next();
  c.welcome();
  const sub = await c.frame();
  c.subscribed(sub, 'e1', 0, false);
  await orders.ready;
  assert.equal(orders.docs.size, 0);
  c.change('orders:live', 1, { op: 'upsert', key: 'a', doc: { _id: 'a', n: 1 } });
  await until(() => orders.docs.size === 1, 'the first upsert');
});

class FakeEventSource {
  static all = [];
  constructor(url) {
    this.url = url;
    this.listeners = new Map();
    this.closed = false;
    FakeEventSource.all.push(this);
    queueMicrotask(() => this.onopen && this.onopen());
  }
  addEventListener(name, fn) { this.listeners.set(name, fn); }
  close() { this.closed = true; }
  emit(name, data) { this.listeners.get(name)?.({ data: JSON.stringify(data) }); }
}

test('over SSE, a lost key reopens the stream without a position for that room', async () => {
  FakeEventSource.all = [];
  const h = new Herald('http://gw/sse', { transport: 'sse', EventSource: FakeEventSource, random: () => 0 });
  const orders = h.collection('orders:live');
  const errors = [];
  orders.on('error', (e) => errors.push(e));
  await new Promise((r) => setTimeout(r, 5));
  const es = FakeEventSource.all[0];
  assert.equal(es.url, 'http://gw/sse?room=orders%3Alive');
  es.emit('subscribed', { type: 'subscribed', room: 'orders:live', epoch: 'e', offset: 2, recovered: false });
  const msg = (offset, event, data) => es.emit('message', { type: 'message', room: 'orders:live', event, offset, data: { room: 'orders:live', ...data } });
  msg(2, 'herald:snapshot', { key: '_id', descending: false, reset: false, docs: [{ _id: 'a', s: 'pending' }] });
  await orders.ready;
  msg(3, 'herald:change', { op: 'patch', key: 'a', set: { s: 'paid' } });
  assert.equal(orders.docs.get('a').s, 'paid');
  msg(4, 'herald:change', { op: 'patch', key: 'zz', set: { s: 'paid' } });
  assert.equal(errors.length, 1);
  await new Promise((r) => setTimeout(r, 5));
  assert.ok(es.closed, 'the stream was closed');
  const es2 = FakeEventSource.all[1];
  assert.equal(es2.url, 'http://gw/sse?room=orders%3Alive', 'no since: a fresh snapshot');
  es2.emit('reset', { type: 'subscribed', room: 'orders:live', epoch: 'e', offset: 4, recovered: false });
  es2.emit('message', { type: 'message', room: 'orders:live', event: 'herald:snapshot', offset: 4, data: { room: 'orders:live', key: '_id', descending: false, reset: false, docs: [{ _id: 'zz', s: 'paid' }] } });
  assert.deepEqual([...orders.docs.keys()], ['zz']);
  h.close();
});
