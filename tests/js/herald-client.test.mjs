// Unit tests of gateway/assets/herald.js under Node (node --test), using the
// `ws` package as the WebSocket and a scripted server that plays the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, WebSocketServer } from 'ws';
import {
  Herald, NO_RECONNECT_CODES, RoomCursor, backoffDelay, defaultUrl,
  SseHerald, StreamFrameCutter, StreamFrameError, TRANSPORTS, WEBTRANSPORT_TIMEOUT_MS, DEFAULTS,
  chooseTransport, encodeStreamFrame, transportFromPage, webTransportUrl, certificateHashUrl,
} from '../../gateway/assets/herald.js';

// ---- pure logic ----

test('backoff grows exponentially up to the cap, with full jitter', () => {
  const top = () => 0.999999;
  const caps = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelay(a, 250, 10000, top));
  assert.deepEqual(caps, [249, 499, 999, 1999, 3999, 7999, 9999, 9999, 9999]);
  for (let a = 0; a < 40; a++) {
    assert.equal(backoffDelay(a, 250, 10000, () => 0), 0, 'full jitter reaches down to 0');
    const d = backoffDelay(a, 250, 10000);
    assert.ok(d >= 0 && d < 10000, `attempt ${a}: ${d}`);
  }
  assert.equal(backoffDelay(3, 250, 10000, () => 0.5), 1000);
  assert.equal(backoffDelay(-5, 250, 10000, top), 249, 'a negative attempt counts as the first');
  assert.equal(backoffDelay(Number.NaN, 250, 10000, top), 249);
  assert.equal(backoffDelay(1e9, 250, 10000, top), 9999, 'huge attempts do not overflow');
});

test('cursor applies consecutive offsets, drops old ones and flags gaps', () => {
  const c = new RoomCursor();
  assert.equal(c.since(), null, 'nothing known: ask for a snapshot');
  assert.equal(c.subscribed('e1', 41, false), true, 'the first subscription resets');
  assert.equal(c.since(), null, 'snapshot not yet seen');
  assert.equal(c.classify(41), 'apply', 'the snapshot sets the baseline whatever its offset');
  c.advance(41);
  assert.equal(c.isReplay(41), true);
  assert.deepEqual(c.since(), { epoch: 'e1', offset: 41 });
  assert.equal(c.classify(41), 'duplicate');
  assert.equal(c.classify(7), 'duplicate');
  assert.equal(c.classify(43), 'gap');
  assert.equal(c.classify(42), 'apply');
  c.advance(42);
  assert.equal(c.isReplay(42), false);
  assert.equal(c.classify(42), 'duplicate');
});

test('cursor keeps its position on a recovered subscription and resets on a new epoch', () => {
  const c = new RoomCursor();
  c.subscribed('e1', 0, false);
  assert.deepEqual(c.since(), { epoch: 'e1', offset: 0 }, 'an empty room: recover from the start');
  c.advance(1);
  c.advance(2);
  assert.equal(c.subscribed('e1', 5, true), false, 'same epoch, recovered: keep going');
  assert.equal(c.classify(3), 'apply');
  assert.equal(c.isReplay(3), true, 'recovered messages are replays');
  assert.equal(c.subscribed('e2', 5, true), true, 'another epoch cannot continue the old one');
  assert.equal(c.classify(1), 'apply');
  c.advance(1);
  assert.equal(c.subscribed('e2', 9, false), true, 'recovered=false always resets');
  assert.equal(c.since(), null);
});

test('default url follows the page scheme and host', () => {
  assert.equal(defaultUrl({ protocol: 'http:', host: 'h:8080' }), 'ws://h:8080/ws');
  assert.equal(defaultUrl({ protocol: 'https:', host: 'example.test' }), 'wss://example.test/ws');
  assert.throws(() => defaultUrl(undefined));
});

test('binary (MessagePack) mode is refused clearly', () => {
  assert.throws(() => new Herald('ws://127.0.0.1:1/ws', { WebSocket, binary: true }), /MessagePack/);
});

// ---- against a scripted gateway ----

// A WebSocket server whose connections the test drives frame by frame.
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
    connections: () => wss.clients.size,
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
  send(f) {
    this.ws.send(JSON.stringify(f));
  }
  welcome() {
    this.send({ type: 'welcome', session: 's1', node: 'gw-test', heartbeat_ms: 25000, max_frame_bytes: 65536, max_rooms: 64 });
  }
  msg(room, offset, data = { n: offset }) {
    this.send({ type: 'message', room, event: 'dashboard:update', data, offset, ts: 1700000000000 + offset });
  }
}

// Collects a subscription's callbacks; `until(n)` waits for n messages.
function recorder() {
  const rec = { messages: [], resets: [], subscribed: [], waiters: [] };
  rec.handlers = {
    onMessage(m) {
      rec.messages.push(m);
      rec.waiters = rec.waiters.filter(([n, r]) => (rec.messages.length >= n ? (r(), false) : true));
    },
    onReset(i) { rec.resets.push(i); },
    onSubscribed(i) { rec.subscribed.push(i); },
  };
  rec.until = (n) => (rec.messages.length >= n ? Promise.resolve() : new Promise((r) => rec.waiters.push([n, r])));
  rec.offsets = () => rec.messages.map((m) => m.offset);
  return rec;
}

const FAST = { WebSocket, minBackoffMs: 5, maxBackoffMs: 20, shutdownJitterMs: 5 };

// Records status changes; `until(s)` waits until the status is `s`.
function statusLog(h) {
  const seen = [];
  let waiters = [];
  h.on('status', (s) => {
    seen.push(s);
    waiters = waiters.filter(([want, resolve]) => (s === want ? (resolve(), false) : true));
  });
  const until = (want) => (h.status === want ? Promise.resolve() : new Promise((r) => waiters.push([want, r])));
  return { seen, until };
}

test('reconnects after a lost connection and resubscribes from the last applied message', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const rec = recorder();
  h.subscribe('dashboard:sales', rec.handlers);

  let c = await srv.next();
  c.welcome();
  let sub = await c.frame();
  assert.equal(sub.op, 'subscribe');
  assert.equal(sub.room, 'dashboard:sales');
  assert.equal(sub.since, undefined, 'a first subscribe asks for the snapshot');
  c.send({ type: 'subscribed', room: 'dashboard:sales', epoch: 'e1', offset: 3, recovered: false, id: sub.id });
  c.msg('dashboard:sales', 3);
  c.msg('dashboard:sales', 4);
  await rec.until(2);
  assert.deepEqual(rec.offsets(), [3, 4]);
  assert.deepEqual(rec.messages.map((m) => m.replay), [true, false], 'snapshot is a replay, 4 is live');
  assert.equal(rec.resets.length, 1);

  c.ws.terminate();
  c = await srv.next();
  c.welcome();
  sub = await c.frame();
  assert.equal(sub.op, 'subscribe');
  assert.deepEqual(sub.since, { epoch: 'e1', offset: 4 }, 'resubscribes from the last message applied');
  c.send({ type: 'subscribed', room: 'dashboard:sales', epoch: 'e1', offset: 6, recovered: true, id: sub.id });
  c.msg('dashboard:sales', 4); // an overlap the client must drop
  c.msg('dashboard:sales', 5);
  c.msg('dashboard:sales', 6);
  c.msg('dashboard:sales', 7);
  await rec.until(5);
  assert.deepEqual(rec.offsets(), [3, 4, 5, 6, 7]);
  assert.equal(rec.resets.length, 1, 'a recovered subscription does not reset');
  assert.equal(h.stats.duplicates, 1);
  assert.equal(h.stats.connects, 2);
});

test('drops duplicates and old offsets, and fills a gap by resubscribing with since', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const rec = recorder();
  h.subscribe('r:1', rec.handlers);
  const c = await srv.next();
  c.welcome();
  let sub = await c.frame();
  c.send({ type: 'subscribed', room: 'r:1', epoch: 'e', offset: 0, recovered: false, id: sub.id });
  for (const o of [1, 2, 2, 1, 5]) c.msg('r:1', o);
  sub = await c.frame();
  assert.equal(sub.op, 'subscribe', 'a gap triggers a resubscribe');
  assert.deepEqual(sub.since, { epoch: 'e', offset: 2 });
  c.msg('r:1', 6); // still in flight from the old stream: dropped, the recovery resends it
  c.send({ type: 'subscribed', room: 'r:1', epoch: 'e', offset: 6, recovered: true, id: sub.id });
  for (const o of [3, 4, 5, 6]) c.msg('r:1', o);
  await rec.until(6);
  assert.deepEqual(rec.offsets(), [1, 2, 3, 4, 5, 6]);
  assert.equal(h.stats.gaps, 1);
  assert.equal(h.stats.duplicates, 2);
});

test('an unprompted subscribed with recovered=false resets the room and takes a new snapshot', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const rec = recorder();
  h.subscribe('r:1', rec.handlers);
  const c = await srv.next();
  c.welcome();
  const sub = await c.frame();
  c.send({ type: 'subscribed', room: 'r:1', epoch: 'e1', offset: 10, recovered: false, id: sub.id });
  c.msg('r:1', 10);
  c.send({ type: 'subscribed', room: 'r:1', epoch: 'e2', offset: 2, recovered: false });
  c.msg('r:1', 2, { fresh: true });
  c.msg('r:1', 3);
  await rec.until(3);
  assert.deepEqual(rec.offsets(), [10, 2, 3]);
  assert.equal(rec.resets.length, 2);
  assert.deepEqual(rec.resets[1], { recovered: false, epoch: 'e2', offset: 2 });
  assert.deepEqual(rec.messages[1].data, { fresh: true });
});

test('disconnect with reconnect=false stays closed', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const log = statusLog(h);
  const disconnects = [];
  h.on('disconnect', (d) => disconnects.push(d));
  const c = await srv.next();
  c.welcome();
  await log.until('open');
  c.send({ type: 'disconnect', code: 4005, reason: 'kicked', reconnect: false });
  c.ws.close(4005, 'kicked');
  await log.until('closed');
  assert.deepEqual(disconnects, [{ code: 4005, reason: 'kicked', reconnect: false }]);
  assert.equal(h._timers.reconnect, null, 'no reconnect is scheduled');
  assert.throws(() => h.subscribe('r:1'), /closed/);
});

test('shutdown (4001) reconnects at once when the jitter draws 0, and resets the attempt count', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, { ...FAST, random: () => 0, shutdownJitterMs: 60000 });
  t.after(() => h.close());
  const log = statusLog(h);
  let c = await srv.next();
  c.welcome();
  await log.until('open');
  c.send({ type: 'disconnect', code: 4001, reason: 'shutdown', reconnect: true });
  c.ws.close(4001, 'shutdown');
  c = await srv.next();
  c.welcome();
  await log.until('open');
  assert.deepEqual(log.seen, ['open', 'reconnecting', 'open']);
  assert.equal(h.stats.connects, 2);
});

test('publish resolves with the reply position, and rejects on an error reply', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const errors = [];
  h.on('error', (e) => errors.push(e));
  const queued = h.publish('chat:1', 'msg', { text: 'hi' }); // sent once connected
  const c = await srv.next();
  c.welcome();
  const p1 = await c.frame();
  assert.deepEqual({ ...p1, id: 0 }, { op: 'publish', room: 'chat:1', event: 'msg', data: { text: 'hi' }, id: 0 });
  c.send({ type: 'published', room: 'chat:1', epoch: 'e', offset: 7, id: p1.id });
  assert.deepEqual(await queued, { room: 'chat:1', epoch: 'e', offset: 7 });

  const denied = h.publish('chat:1', 'msg', 1);
  const p2 = await c.frame();
  assert.notEqual(p2.id, p1.id, 'request ids are unique');
  c.send({ type: 'error', code: 105, reason: 'permission_denied', id: p2.id });
  await assert.rejects(denied, (e) => e.code === 105);
  assert.equal(errors.length, 1);
});

test('an idle connection is pinged, and one that does not answer is replaced', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, { ...FAST, pingIntervalMs: 30, pongTimeoutMs: 50 });
  t.after(() => h.close());
  const rec = recorder();
  h.subscribe('r:1', rec.handlers);
  let c = await srv.next();
  c.welcome();
  let f = await c.frame();
  c.send({ type: 'subscribed', room: 'r:1', epoch: 'e', offset: 0, recovered: false, id: f.id });
  f = await c.frame();
  assert.equal(f.op, 'ping');
  c.send({ type: 'pong', id: f.id });
  f = await c.frame();
  assert.equal(f.op, 'ping', 'pings again after the next idle period');
  // No pong this time: the client must give up on this socket and reconnect.
  c = await srv.next();
  c.welcome();
  f = await c.frame();
  assert.equal(f.op, 'subscribe');
  assert.deepEqual(f.since, { epoch: 'e', offset: 0 });
});

test('leaveOthers sends one subscribe that leaves the other rooms, locally too', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const h = new Herald(srv.url, FAST);
  t.after(() => h.close());
  const a = recorder();
  h.subscribe('r:a', a.handlers);
  const c = await srv.next();
  c.welcome();
  const fa = await c.frame();
  c.send({ type: 'subscribed', room: 'r:a', epoch: 'e', offset: 0, recovered: false, id: fa.id });
  const b = recorder();
  h.subscribe('r:b', b.handlers, { leaveOthers: true });
  const fb = await c.frame();
  assert.equal(fb.op, 'subscribe');
  assert.equal(fb.leave_others, true);
  assert.deepEqual(h.rooms(), ['r:b']);
  c.send({ type: 'subscribed', room: 'r:b', epoch: 'e', offset: 0, recovered: false, id: fb.id });
  c.msg('r:a', 1); // late message for the room just left: ignored
  c.msg('r:b', 1);
  await b.until(1);
  assert.equal(a.messages.length, 0);
  h.leaveAll();
  assert.deepEqual(await c.frame(), { op: 'leave_all' });
  assert.deepEqual(h.rooms(), []);
});

test('getToken is called before each connect, its token is the first frame, and a refresh comes before expiry', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  let calls = 0;
  const getToken = async () => `tok-${++calls}`;
  const h = new Herald(srv.url, { ...FAST, getToken, refreshBeforeMs: 1000 });
  t.after(() => h.close());
  const log = statusLog(h);
  const rec = recorder();
  h.subscribe('r:1', rec.handlers);
  let c = await srv.next();
  c.welcome();
  await log.until('open');
  assert.deepEqual(await c.frame(), { op: 'auth', token: 'tok-1' }, 'the token goes first');
  assert.equal((await c.frame()).op, 'subscribe');
  // Expires 1.05 s from now: the refresh is due ~50 ms from now.
  c.send({ type: 'authenticated', user: 'ana', expires: (Date.now() + 1050) / 1000 });
  assert.deepEqual(await c.frame(), { op: 'refresh', token: 'tok-2' });
  // A lost connection asks for a fresh token again.
  c.ws.terminate();
  c = await srv.next();
  c.welcome();
  assert.deepEqual(await c.frame(), { op: 'auth', token: 'tok-3' });
});

test('a refused token (4008) and a missed auth deadline (4009) stay closed; an expired one (4007) reconnects', async (t) => {
  for (const [code, reconnect] of [[4008, false], [4009, false], [4007, true]]) {
    const srv = await scriptedServer();
    const h = new Herald(srv.url, { ...FAST, token: 'static' });
    const log = statusLog(h);
    const c = await srv.next();
    c.welcome();
    await log.until('open');
    c.send({ type: 'disconnect', code, reason: 'x', reconnect });
    c.ws.close(code, 'x');
    if (reconnect) {
      const again = await srv.next();
      again.welcome();
      assert.deepEqual(await again.frame(), { op: 'auth', token: 'static' });
    } else {
      await log.until('closed');
      assert.equal(h._timers.reconnect, null, `no reconnect after ${code}`);
    }
    // Without the disconnect frame, the close code alone decides.
    assert.equal(NO_RECONNECT_CODES.includes(code), !reconnect);
    h.close();
    await srv.close();
  }
});

// ---- transport selection ----

test('auto picks WebTransport only with the constructor and a secure context', () => {
  const WT = function WebTransport() {};
  assert.equal(WEBTRANSPORT_TIMEOUT_MS, 3000);
  assert.equal(DEFAULTS.webTransportTimeoutMs, WEBTRANSPORT_TIMEOUT_MS);
  assert.deepEqual(TRANSPORTS, ['auto', 'webtransport', 'websocket', 'sse']);
  assert.equal(chooseTransport({ WebTransport: WT, isSecureContext: true }).transport, 'webtransport');
  const insecure = chooseTransport({ WebTransport: WT, isSecureContext: false });
  assert.equal(insecure.transport, 'websocket');
  assert.match(insecure.reason, /secure context/);
  assert.equal(insecure.fallback, null, 'auto choosing WebSocket is no fallback');
  const none = chooseTransport({ WebTransport: undefined, isSecureContext: true });
  assert.equal(none.transport, 'websocket');
  assert.match(none.reason, /no WebTransport/);
  assert.equal(chooseTransport({ WebTransport: {}, isSecureContext: true }).transport, 'websocket', 'not a function');
  assert.equal(chooseTransport({ WebTransport: WT, isSecureContext: 'yes' }).transport, 'websocket', 'only true counts');
});

test('the option, then the page URL, force a transport', () => {
  const WT = function WebTransport() {};
  const env = { WebTransport: WT, isSecureContext: true };
  assert.equal(chooseTransport({ ...env, requested: 'websocket' }).transport, 'websocket');
  assert.equal(chooseTransport({ ...env, requested: 'sse' }).transport, 'sse');
  assert.equal(chooseTransport({ ...env, page: 'sse' }).transport, 'sse', 'the page decides under auto');
  assert.equal(chooseTransport({ ...env, page: 'websocket' }).transport, 'websocket');
  assert.equal(chooseTransport({ ...env, requested: 'websocket', page: 'webtransport' }).transport, 'websocket', 'an explicit option wins');
  const wt = chooseTransport({ ...env, page: 'webtransport' });
  assert.deepEqual([wt.transport, wt.forced], ['webtransport', true]);
  const cannot = chooseTransport({ requested: 'webtransport', WebTransport: undefined, isSecureContext: true });
  assert.equal(cannot.transport, 'websocket');
  assert.deepEqual(cannot.fallback, { from: 'webtransport', reason: 'this browser has no WebTransport' });
  assert.throws(() => chooseTransport({ requested: 'carrier-pigeon' }), /unknown transport/);
  assert.equal(transportFromPage({ search: '?transport=webtransport&x=1' }), 'webtransport');
  assert.equal(transportFromPage({ search: '?transport=bogus' }), null, 'unknown values are ignored');
  assert.equal(transportFromPage({ search: '' }), null);
  assert.equal(transportFromPage(undefined), null);
  assert.equal(webTransportUrl('ws://127.0.0.1:8080/ws'), 'https://127.0.0.1:8080/wt');
  assert.equal(certificateHashUrl('ws://127.0.0.1:8080/ws'), 'http://127.0.0.1:8080/wt/certificate-hash');
  assert.equal(certificateHashUrl('wss://h.example/ws'), 'https://h.example/wt/certificate-hash');
});

test('?transport=sse on the page gives the SSE client on the same host', () => {
  class FakeEventSource { constructor(u) { this.url = u; } addEventListener() {} close() {} }
  const h = new Herald('ws://127.0.0.1:9/ws', { location: { search: '?transport=sse' }, EventSource: FakeEventSource });
  assert.ok(h instanceof SseHerald);
  assert.equal(h.url, 'http://127.0.0.1:9/sse');
  assert.equal(h.transport, 'sse');
  h.close();
});

// ---- stream frames ----

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
}
const dec = (f) => new TextDecoder().decode(f.payload);

test('the frame cutter joins frames split across reads and splits reads holding several', () => {
  const a = encodeStreamFrame('{"type":"welcome","é":1}');
  assert.deepEqual([...a.slice(0, 5)], [1, 0, 0, 0, a.length - 5], 'kind 1, u32 big-endian length');
  const b = encodeStreamFrame('{"type":"pong"}');
  const c = encodeStreamFrame('');
  const all = concat(a, b, c);
  // Byte by byte: every split point, the head's included.
  const cut = new StreamFrameCutter(1024);
  const got = [];
  for (const byte of all) got.push(...cut.push(Uint8Array.of(byte)));
  assert.deepEqual(got.map(dec), ['{"type":"welcome","é":1}', '{"type":"pong"}', '']);
  assert.equal(cut.buffered, 0);
  // All in one read.
  assert.deepEqual(new StreamFrameCutter(1024).push(all).map(dec), got.map(dec));
  // Split inside the head of the second frame.
  const cut2 = new StreamFrameCutter(1024);
  const at = a.length + 2;
  assert.deepEqual(cut2.push(all.slice(0, at)).map(dec), ['{"type":"welcome","é":1}']);
  assert.equal(cut2.buffered, 2);
  assert.deepEqual(cut2.push(all.slice(at)).map(dec), ['{"type":"pong"}', '']);
  // A large frame in many small reads, through the buffer's growth.
  const big = 'x'.repeat(100000);
  const cut3 = new StreamFrameCutter(200000);
  const bytes = encodeStreamFrame(big);
  const out = [];
  for (let i = 0; i < bytes.length; i += 777) out.push(...cut3.push(bytes.slice(i, i + 777)));
  assert.equal(out.length, 1);
  assert.equal(dec(out[0]), big);
});

test('the frame cutter refuses an oversized head before its payload, and unknown kinds', () => {
  const cut = new StreamFrameCutter(64);
  assert.equal(cut.push(encodeStreamFrame('y'.repeat(64))).length, 1, 'exactly the limit passes');
  const head = Uint8Array.of(1, 0, 0, 0, 65);
  assert.throws(() => cut.push(head), (e) => e instanceof StreamFrameError && e.code === 1009);
  const huge = Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff);
  const cut2 = new StreamFrameCutter(1 << 20);
  assert.deepEqual(cut2.push(huge.slice(0, 3)), [], 'half a head waits');
  assert.throws(() => cut2.push(huge.slice(3)), (e) => e.code === 1009, 'a 4 GiB head is refused at once');
  assert.ok(cut2.buffered <= 5, 'nothing of the payload was buffered');
  assert.throws(() => new StreamFrameCutter(64).push(Uint8Array.of(9, 0, 0, 0, 1, 0)), (e) => e.code === 4006);
});

// ---- WebTransport against a fake browser API ----

// A fake `WebTransport`: each instance is one session the test drives.
function fakeWebTransport({ ready = 'open' } = {}) {
  const sessions = [];
  const waiting = [];
  class FakeWebTransport {
    constructor(url, options) {
      this.url = url;
      this.options = options;
      this.written = new StreamFrameCutter(1 << 20);
      this.frames = [];
      this.frameWaiters = [];
      this.closeInfo = null;
      let closedResolve;
      this.closed = new Promise((r) => { closedResolve = r; });
      this._closedResolve = closedResolve;
      this.ready = ready === 'open' ? Promise.resolve() : ready === 'never' ? new Promise(() => {}) : Promise.reject(new Error('handshake failed'));
      this.ready.catch(() => {});
      if (ready === 'fail') this._closedResolve(Promise.reject(new Error('handshake failed')));
      const w = waiting.shift();
      if (w) w(this);
      else sessions.push(this);
    }
    async createBidirectionalStream() {
      const self = this;
      const readable = new ReadableStream({ start(c) { self.controller = c; } });
      const writable = new WritableStream({
        write(chunk) {
          for (const f of self.written.push(chunk)) {
            const frame = JSON.parse(new TextDecoder().decode(f.payload));
            const fw = self.frameWaiters.shift();
            if (fw) fw(frame);
            else self.frames.push(frame);
          }
        },
      });
      return { readable, writable };
    }
    // Test side: bytes from the gateway.
    push(bytes) { this.controller.enqueue(bytes); }
    sendFrame(f) { this.push(encodeStreamFrame(JSON.stringify(f))); }
    frame() { return this.frames.length ? Promise.resolve(this.frames.shift()) : new Promise((r) => this.frameWaiters.push(r)); }
    serverClose(closeCode, reason = '') {
      try { this.controller.close(); } catch { /* closed */ }
      this._closedResolve({ closeCode, reason });
    }
    close(info) {
      this.closeInfo = info;
      this._closedResolve(info);
    }
  }
  FakeWebTransport.next = () => (sessions.length ? Promise.resolve(sessions.shift()) : new Promise((r) => waiting.push(r)));
  return FakeWebTransport;
}

// A fake `fetch` for /wt/certificate-hash answering from `answers` in turn (the last repeats).
function fakeFetch(answers) {
  const calls = [];
  const fn = async (url) => {
    calls.push(url);
    const a = answers[Math.min(calls.length - 1, answers.length - 1)];
    if (a === 404) return { status: 404, ok: false, json: async () => ({}) };
    return { status: 200, ok: true, json: async () => a };
  };
  fn.calls = calls;
  return fn;
}
const hashBody = (bytes, port = 4433) => ({ algorithm: 'sha-256', value: Buffer.from(bytes).toString('base64'), hex: '', expires: Date.now() + 1e9, port });

function statusInfos(h) {
  const infos = [];
  h.on('status', (s, info) => infos.push([s, info]));
  return infos;
}

test('webtransport: pins the fetched hash, frames both ways, and refetches it on reconnect', async (t) => {
  const WT = fakeWebTransport();
  const hash1 = Uint8Array.from({ length: 32 }, (_, i) => i);
  const hash2 = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const fetch = fakeFetch([hashBody(hash1), hashBody(hash2)]);
  const h = new Herald('ws://127.0.0.1:8080/ws', { ...FAST, WebTransport: WT, isSecureContext: true, fetch });
  t.after(() => h.close());
  const infos = statusInfos(h);
  assert.equal(h.transport, 'webtransport');
  const rec = recorder();
  h.subscribe('r', rec.handlers);
  const s1 = await WT.next();
  assert.equal(fetch.calls[0], 'http://127.0.0.1:8080/wt/certificate-hash');
  assert.equal(s1.url, 'https://127.0.0.1:4433/wt', 'the port the gateway names');
  assert.equal(s1.options.allowPooling, false);
  const pinned = s1.options.serverCertificateHashes;
  assert.equal(pinned.length, 1);
  assert.equal(pinned[0].algorithm, 'sha-256');
  assert.ok(pinned[0].value instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(pinned[0].value)], [...hash1]);
  await new Promise((r) => setTimeout(r, 10));
  // The welcome split across two reads, mid-head.
  const w = encodeStreamFrame(JSON.stringify({ type: 'welcome', session: 's1', node: 'gw', heartbeat_ms: 25000, max_frame_bytes: 65536, max_rooms: 64 }));
  s1.push(w.slice(0, 3));
  s1.push(w.slice(3));
  const sub = await s1.frame();
  assert.equal(sub.op, 'subscribe');
  assert.equal(h.status, 'open');
  const open = infos.find(([s]) => s === 'open');
  assert.equal(open[1].transport, 'webtransport');
  assert.equal(open[1].fallback, undefined);
  s1.sendFrame({ type: 'subscribed', room: 'r', id: sub.id, epoch: 'e1', offset: 3, recovered: false });
  s1.sendFrame({ type: 'message', room: 'r', event: 'u', data: { n: 3 }, offset: 3 });
  s1.sendFrame({ type: 'message', room: 'r', event: 'u', data: { n: 4 }, offset: 4 });
  await rec.until(2);
  assert.deepEqual(rec.offsets(), [3, 4]);
  // The gateway drains: disconnect frame, then the session closes with 4001.
  s1.sendFrame({ type: 'disconnect', code: 4001, reason: 'shutdown', reconnect: true });
  await new Promise((r) => setTimeout(r, 10));
  s1.serverClose(4001, 'shutdown');
  const s2 = await WT.next();
  assert.equal(fetch.calls.length, 2, 'the hash is fetched again on the reconnect');
  assert.deepEqual([...new Uint8Array(s2.options.serverCertificateHashes[0].value)], [...hash2], 'the rotated certificate');
  await new Promise((r) => setTimeout(r, 10));
  s2.sendFrame({ type: 'welcome', session: 's2', node: 'gw', heartbeat_ms: 25000, max_frame_bytes: 65536, max_rooms: 64 });
  const resub = await s2.frame();
  assert.deepEqual(resub.since, { epoch: 'e1', offset: 4 }, 'recovery from the last applied message');
  assert.equal(h.transport, 'webtransport');
});

test('webtransport: a 404 hash (real certificate) connects without pinning', async (t) => {
  const WT = fakeWebTransport();
  const h = new Herald('wss://gw.example/ws', { ...FAST, WebTransport: WT, isSecureContext: true, fetch: fakeFetch([404]) });
  t.after(() => h.close());
  const s = await WT.next();
  assert.equal(s.url, 'https://gw.example/wt');
  assert.deepEqual(s.options, {});
});

test('webtransport: an oversized frame from the gateway closes the connection with 1009', async (t) => {
  const WT = fakeWebTransport();
  const h = new Herald('ws://127.0.0.1:8080/ws', { ...FAST, WebTransport: WT, isSecureContext: true, fetch: fakeFetch([404]), maxStreamFrameBytes: 1024 });
  t.after(() => h.close());
  const s = await WT.next();
  await new Promise((r) => setTimeout(r, 10));
  s.sendFrame({ type: 'welcome', session: 's1', node: 'gw', heartbeat_ms: 25000, max_frame_bytes: 65536, max_rooms: 64 });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.status, 'open');
  s.push(Uint8Array.of(1, 0, 0, 0x10, 0)); // 4096 bytes announced
  const again = await WT.next();
  assert.equal(s.closeInfo.closeCode, 1009);
  assert.ok(again, 'and reconnects');
  assert.equal(h.transport, 'webtransport', 'an open WebTransport that broke is no reason to fall back');
});

test('webtransport that never answers falls back to WebSocket within the timeout, visibly', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const WT = fakeWebTransport({ ready: 'never' });
  const h = new Herald(srv.url, { ...FAST, WebTransport: WT, isSecureContext: true, fetch: fakeFetch([404]), webTransportTimeoutMs: 80 });
  t.after(() => h.close());
  const infos = statusInfos(h);
  const fallbacks = [];
  h.on('fallback', (f) => fallbacks.push(f));
  const started = Date.now();
  const stuck = await WT.next();
  const conn = await srv.next();
  assert.ok(Date.now() - started >= 70, 'waited for the timeout');
  assert.equal(stuck.closeInfo.closeCode, 4000, 'the stuck attempt is closed');
  conn.welcome();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(h.status, 'open');
  assert.equal(h.transport, 'websocket');
  assert.match(h.fallback.reason, /within 80 ms/);
  assert.deepEqual(fallbacks, [h.fallback]);
  const open = infos.find(([s]) => s === 'open')[1];
  assert.equal(open.transport, 'websocket');
  assert.deepEqual(open.fallback, { from: 'webtransport', reason: h.fallback.reason });
  // It stays on WebSocket for this page load.
  conn.ws.terminate();
  await srv.next();
  assert.equal(h.transport, 'websocket');
});

test('webtransport that fails to open falls back at once; not secure or absent, it is not tried', async (t) => {
  const srv = await scriptedServer();
  t.after(() => srv.close());
  const WT = fakeWebTransport({ ready: 'fail' });
  const h = new Herald(srv.url, { ...FAST, WebTransport: WT, isSecureContext: true, fetch: fakeFetch([404]), webTransportTimeoutMs: 5000 });
  t.after(() => h.close());
  const started = Date.now();
  await srv.next();
  assert.ok(Date.now() - started < 2000, 'no waiting for the timeout');
  assert.equal(h.transport, 'websocket');
  assert.match(h.fallback.reason, /failed to open/);

  let constructed = 0;
  const Counting = function WebTransport() { constructed += 1; };
  const insecure = new Herald(srv.url, { ...FAST, WebTransport: Counting, isSecureContext: false });
  t.after(() => insecure.close());
  await srv.next();
  assert.equal(insecure.transport, 'websocket');
  assert.equal(insecure.fallback, null);
  assert.equal(constructed, 0);

  const forced = new Herald(srv.url, { ...FAST, WebTransport: undefined, location: { search: '?transport=webtransport' } });
  t.after(() => forced.close());
  await srv.next();
  assert.equal(forced.transport, 'websocket');
  assert.deepEqual(forced.fallback, { from: 'webtransport', reason: 'this browser has no WebTransport' });
});
