// Unit tests of herald.js's SSE transport (`transport: 'sse'`) under Node
// (node --test), with a scripted EventSource that plays the gateway. No
// dependencies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Herald, SseHerald, sseEpochCheck, sseStreamId, RoomCursor } from '../../gateway/assets/herald.js';

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

const tick = () => new Promise((r) => setTimeout(r, 5));

test('the epoch check matches the gateway (FNV-1a over room, 0, epoch)', () => {
  // The same vector as protocol/src/sse/id.rs computes.
  assert.equal(sseEpochCheck('dashboard:sales', 'm1f9'), 2600035860);
  const c = new RoomCursor();
  c.subscribed('m1f9', 51, false);
  c.advance(51);
  assert.equal(sseStreamId([['dashboard:sales', c], ['other', new RoomCursor()]]),
    `1f.${(2600035860).toString(36)}-`);
});

test('sse streams every room in one EventSource, recovers with since, and resets', async () => {
  FakeEventSource.all = [];
  const h = new Herald('http://gw/sse', { transport: 'sse', EventSource: FakeEventSource, token: 't k', random: () => 0 });
  assert.ok(h instanceof SseHerald);
  const got = [];
  const resets = [];
  h.subscribe('a', { onMessage: (m) => got.push([m.room, m.offset]), onReset: () => resets.push('a') });
  h.subscribe('b:1', { onMessage: (m) => got.push([m.room, m.offset]) });
  await tick();
  assert.equal(FakeEventSource.all.length, 1, 'subscribes in one tick share one stream');
  const es = FakeEventSource.all[0];
  assert.equal(es.url, 'http://gw/sse?room=a&room=b%3A1&token=t%20k');
  es.emit('subscribed', { type: 'subscribed', room: 'a', epoch: 'e', offset: 1, recovered: false });
  es.emit('message', { type: 'message', room: 'a', event: 'x', data: 1, offset: 1 });
  es.emit('subscribed', { type: 'subscribed', room: 'b:1', epoch: 'f', offset: 0, recovered: false });
  es.emit('message', { type: 'message', room: 'b:1', event: 'x', data: 1, offset: 1 });
  es.emit('message', { type: 'message', room: 'a', event: 'x', data: 1, offset: 1 });
  assert.deepEqual(got, [['a', 1], ['b:1', 1]], 'duplicates are dropped');
  // The gateway drains: the stream is reopened with each room's position.
  es.emit('disconnect', { type: 'disconnect', code: 4001, reason: 'shutdown', reconnect: true });
  await tick();
  const es2 = FakeEventSource.all[1];
  assert.ok(es.closed);
  const since = `1.${sseEpochCheck('a', 'e').toString(36)}-1.${sseEpochCheck('b:1', 'f').toString(36)}`;
  assert.equal(es2.url, `http://gw/sse?room=a&room=b%3A1&since=${since}&token=t%20k`);
  es2.emit('reset', { type: 'subscribed', room: 'a', epoch: 'e2', offset: 1, recovered: false });
  es2.emit('message', { type: 'message', room: 'a', event: 'x', data: 2, offset: 1 });
  assert.deepEqual(resets, ['a', 'a'], 'the first subscription and the reset');
  assert.deepEqual(got.at(-1), ['a', 1]);
  // A new room reopens the stream; a kick closes the client.
  h.subscribe('c');
  await tick();
  assert.match(FakeEventSource.all[2].url, /room=a&room=b%3A1&room=c&since=/);
  FakeEventSource.all[2].emit('disconnect', { type: 'disconnect', code: 4005, reason: 'kicked', reconnect: false });
  assert.equal(h.status, 'closed');
  await assert.rejects(h.publish('a', 'e', 1), /one-way/);
});
