// The connect and event proxies with the real client, against a gateway
// whose --connect-proxy and --socketio-event-proxy point at
// tests/js/app-backend.mjs (and whose per-session in-flight bound is 2):
//
//   node sio-backend.mjs http://CLIENT http://ADMIN
//
// 1. CONNECT (polling, then the upgrade): the backend's `auth` greeting
//    arrives; its user and the room it joined are the session's.
// 2. Acks, emits back, binary both ways, joins and leaves.
// 3. Replies in arrival order: a slow event's ack comes before a fast
//    one sent after it; the gateway's own events are not held behind it,
//    and another socket's events are not either.
// 4. The in-flight bound: a third event while two wait gets 111 at once.
// 5. Failures: HTTP 500, a garbage body, a too-large reply → 110 in the
//    ack; without an ack, a `herald:error` event. A room outside the
//    grant is refused. A CONNECT the backend refuses gets CONNECT_ERROR.
import { io, urls, fail, step, done, until, emitAck, once, publish } from './sio-lib.mjs';

const { client, admin } = urls();
const opts = { forceNew: true, reconnection: false };

// 1. The connect proxy.
const s = io(client, { ...opts, auth: { user: 'alice', join: 'dashboard:joined' } });
const greeting = await once(s, 'auth');
await until(() => s.connected, 'connect');
await until(() => s.io.engine.transport.name === 'websocket', 'the upgrade');
const whoami = await emitAck(s, 'whoami');
const ticks = [];
s.on('tick', (...args) => ticks.push(args[0]));
await publish(admin, 'dashboard:joined', 'tick', { n: 1 });
await until(() => ticks.length === 1, 'a message in the room the connect proxy joined');
step('connected', { greeting, whoami });

// 2. Acks, emits back, binary, joins, leaves.
// Every ack argument, not only the first.
const echoed = await new Promise((resolve) =>
  s.emit('message-with-ack', 1, '2', { 3: [false] }, (...args) => resolve(args)),
);
const back = once(s, 'message-back');
s.emit('message', 'hello', Buffer.from([1, 2, 3]));
const [text, bytes] = await back;
const joined = await emitAck(s, 'join', 'dashboard:later');
await publish(admin, 'dashboard:later', 'tick', { n: 2 });
await until(() => ticks.length === 2, 'a message in the room the event proxy joined');
const left = await emitAck(s, 'leave', 'dashboard:later');
await publish(admin, 'dashboard:later', 'tick', { n: 3 });
// (Joins leave the socket's other rooms: --socketio-leave-others, the seed's
// leaveAll + join, is on by default.)
await emitAck(s, 'join', 'dashboard:final');
await publish(admin, 'dashboard:final', 'tick', { n: 4 });
await until(() => ticks.length === 3, 'the next message');
step('events', { echoed, text, bytes: [...bytes], joined, left, ticks });

// 3. Order: slow then fast, answered in that order.
const order = [];
const slow = emitAck(s, 'slow', 600, 'slow').then((r) => order.push(r));
const fast = emitAck(s, 'slow', 0, 'fast').then((r) => order.push(r));
// Handled by the gateway itself while both wait for the backend.
const t0 = Date.now();
const own = await emitAck(s, 'subscribe', { room: 'dashboard:own' });
const ownMs = Date.now() - t0;
// Another socket's event while this one's wait.
const other = io(client, { ...opts, transports: ['websocket'] });
await once(other, 'auth');
const t1 = Date.now();
const otherEcho = await emitAck(other, 'message-with-ack', 'other');
const otherMs = Date.now() - t1;
await Promise.all([slow, fast]);
step('order', { order, ownMs, otherMs });

// 4. The per-session bound (2): the third is refused at once.
const a = emitAck(s, 'slow', 500, 'a');
const b = emitAck(s, 'slow', 500, 'b');
const busy = await emitAck(s, 'slow', 0, 'c');
await Promise.all([a, b]);
step('bound', { busy });

// 5. Failures.
const status = await emitAck(s, 'fail');
const garbage = await emitAck(s, 'garbage');
const oversized = await emitAck(s, 'oversized', 20000);
const notice = once(s, 'herald:error');
s.emit('fail');
const [noAckNotice] = await notice;
const refusedJoin = once(s, 'herald:error');
await emitAck(s, 'join', 'secret:room');
const [joinNotice] = await refusedJoin;
const denied = io(client, { ...opts, auth: { deny: 'no entry' } });
const [err] = await once(denied, 'connect_error');
step('failures', { status, garbage, oversized, noAckNotice, joinNotice });

s.close();
other.close();
denied.close();
done({
  greeting,
  whoami,
  ticks,
  echoed,
  text,
  bytes: [...bytes],
  joined,
  left,
  order,
  own,
  ownMs,
  otherEcho,
  otherMs,
  busy,
  status,
  garbage,
  oversized,
  noAckNotice,
  joinNotice,
  denied: { message: err.message, data: err.data },
});
