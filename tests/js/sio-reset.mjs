// A TCP connection lost without a WebSocket close frame (issue 11): the
// seed's client code against one gateway started with --socketio-recovery.
//
//   node sio-reset.mjs http://CLIENT http://ADMIN [rst|fin] [websocket|default]
//
// Update n=0 is published first (the snapshot), then n=1 live. Then the
// client's TCP connection under its WebSocket transport is cut without a
// close frame: `rst` resets it (RST, net.Socket#resetAndDestroy), `fin`
// destroys it (FIN). While the client is disconnected, n=2..6 are
// published. The client reconnects by itself.
//
// This script only observes and prints what happened: the disconnect
// reason, `socket.recovered` after the reconnect, and every update received.
// The Rust test (tests/e2e/socketio_crash.rs) asserts on that. On the
// gateway of 2026-12-01, `rst` is recovered, and `fin` is not (the gateway
// counts it as `protocol_violation`): the reconnect gets the snapshot, n=6,
// and n=2..5 are lost.
process.env.TIMEOUT_MS ??= '30000';
const { io, urls, fail, step, done, publish, until } = await import('./sio-lib.mjs');

const { client, admin, rest } = urls();
const cut = rest[0] || 'rst';
const mode = rest[1] || 'websocket';
if (cut !== 'rst' && cut !== 'fin') fail(`unknown cut ${cut}`);
const ROOM = 'dashboard:sales';
const LAST = 6;

await publish(admin, ROOM, 'dashboard:update', { n: 0 });

const received = [];
function updateCharts(data) {
  received.push(data.n);
}
const opts = mode === 'default' ? {} : { transports: ['websocket'] };

// --- the seed's code ---
var socket = io(client, opts);
socket.on('connect', () => socket.emit('subscribe', 'sales'));
socket.on('dashboard:update', data => updateCharts(data));
// --- end ---

const connects = [];
socket.on('connect', () => connects.push({ recovered: socket.recovered, transport: socket.io.engine.transport.name }));

await until(() => received.includes(0), 'the snapshot');
if (mode === 'default') {
  await until(() => socket.io.engine.transport.name === 'websocket', 'the upgrade to websocket');
}
await publish(admin, ROOM, 'dashboard:update', { n: 1 });
await until(() => received.includes(1), 'the first live update');
step('live', { received: [...received] });

const tcp = socket.io.engine.transport.ws?._socket;
if (!tcp) fail('no TCP socket under the WebSocket transport');
const down = new Promise((resolve) => socket.once('disconnect', resolve));
if (cut === 'rst') tcp.resetAndDestroy();
else tcp.destroy();
const reason = await down;
for (let n = 2; n <= LAST; n++) await publish(admin, ROOM, 'dashboard:update', { n });
step('published during the gap', { reason });

await until(() => connects.length === 2, 'the reconnect');
// Give the missed updates (if any come) time to arrive.
await new Promise((resolve) => {
  const t = Date.now();
  const tick = () => (received.includes(LAST) || Date.now() - t > 3000 ? resolve() : setTimeout(tick, 20));
  tick();
});
await new Promise((r) => setTimeout(r, 300));
const expected = Array.from({ length: LAST + 1 }, (_, n) => n);
const seen = new Set(received);
socket.disconnect();
done({
  cut,
  mode,
  reason,
  recovered: socket.recovered,
  connects,
  received,
  exact: JSON.stringify(received) === JSON.stringify(expected),
  missing: expected.filter((n) => !seen.has(n)),
});
