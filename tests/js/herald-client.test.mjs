// Unit tests of gateway/assets/herald.js under Node (node --test), using the
// `ws` package as the WebSocket and a scripted server that plays the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, WebSocketServer } from 'ws';
import { Herald, NO_RECONNECT_CODES, RoomCursor, backoffDelay, defaultUrl } from '../../gateway/assets/herald.js';

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
