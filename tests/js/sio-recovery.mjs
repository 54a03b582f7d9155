// Connection state recovery against a gateway started with
// --socketio-recovery --socketio-leave-others false.
//
//   node sio-recovery.mjs http://CLIENT http://ADMIN [polling|websocket] [http://OTHER-CLIENT]
//
// With OTHER-CLIENT, the reconnect goes to that gateway instead (both
// gateways share one Redis): recovery across gateways.
// Subscribes to two rooms on every connect (like the seed code does),
// receives a first update in each, then closes the transport
// (socket.io.engine.close()). While it is down, 3 updates per room are
// published; after the automatic reconnect socket.recovered must be true
// and exactly the missed updates arrive, each once, in order per room.
// Every update carries its recovery offset as a last string argument.
import { io, urls, fail, step, done, publish, until } from './sio-lib.mjs';

const { client, admin, rest } = urls();
const transports = rest[0] ? [rest[0]] : ['websocket'];
const other = rest[1];
const rooms = ['rec:a', 'rec:b'];
const got = [];
let connects = 0;
const socket = io(client, { transports, reconnectionDelay: 1500, randomizationFactor: 0 });
socket.on('connect', () => {
  connects++;
  for (const r of rooms) socket.emit('subscribe', { room: r });
});
socket.on('update', (data, offset) => got.push({ data, offset, after: connects }));
socket.on('connect_error', (e) => fail(`connect_error: ${e.message}`));

await until(() => connects === 1, 'the first connect');
await new Promise((r) => setTimeout(r, 200));
for (const r of rooms) await publish(admin, r, 'update', { room: r, n: 1 });
await until(() => got.length === 2, 'the first update of each room');
if (!got.every((g) => typeof g.offset === 'string')) fail(`no offset argument: ${JSON.stringify(got)}`);
if (socket.recovered) fail('recovered on the first connect');
step('live', { got });

const down = new Promise((resolve) => socket.once('disconnect', resolve));
// The manager builds its next engine from `uri`: point it at the other gateway.
if (other) socket.io.uri = other;
socket.io.engine.close();
const reason = await down;
for (let n = 2; n <= 4; n++) {
  for (const r of rooms) await publish(admin, r, 'update', { room: r, n });
}
step('published during the gap', { reason });
await until(() => connects === 2, 'the reconnect');
if (socket.recovered !== true) fail('socket.recovered is not true after the reconnect');
await until(() => got.length >= 8, 'the missed updates');
await new Promise((r) => setTimeout(r, 300));
const after = got.filter((g) => g.after === 2);
for (const r of rooms) {
  const ns = after.filter((g) => g.data.room === r).map((g) => g.data.n);
  if (JSON.stringify(ns) !== '[2,3,4]') fail(`room ${r} after the reconnect got ${JSON.stringify(ns)}; expected [2,3,4]`);
}
if (got.length !== 8) fail(`${got.length} updates in all; expected 8: ${JSON.stringify(got)}`);
done({ recovered: socket.recovered, reason, got, reconnected_to: socket.io.engine.hostname + ':' + socket.io.engine.port });
