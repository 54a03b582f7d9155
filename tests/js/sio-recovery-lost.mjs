// Recovery that cannot be exact, against a gateway whose rooms keep only
// 2 messages (--history-size 2):
//
//   node sio-recovery-lost.mjs http://CLIENT http://ADMIN
//
// The socket (in one room) receives n=1, then its transport closes; 5
// updates are published while it is down, more than the history holds.
// The reconnect must not claim recovery (socket.recovered false), and the
// connect handler's re-subscribe brings the room's current state (n=6).
import { io, urls, fail, step, done, publish, until } from './sio-lib.mjs';

const { client, admin } = urls();
const room = 'lost:a';
const got = [];
const recovered = [];
const socket = io(client, { transports: ['websocket'], reconnectionDelay: 500, randomizationFactor: 0 });
socket.on('connect', () => {
  recovered.push(socket.recovered);
  socket.emit('subscribe', { room });
});
socket.on('update', (data) => got.push(data.n));
socket.on('connect_error', (e) => fail(`connect_error: ${e.message}`));

await until(() => recovered.length === 1, 'the first connect');
await new Promise((r) => setTimeout(r, 200));
await publish(admin, room, 'update', { n: 1 });
await until(() => got.includes(1), 'the first update');
step('live', { got });

const down = new Promise((resolve) => socket.once('disconnect', resolve));
socket.io.engine.close();
await down;
for (let n = 2; n <= 6; n++) await publish(admin, room, 'update', { n });
await until(() => recovered.length === 2, 'the reconnect');
await until(() => got.includes(6), 'the current state after the reconnect');
await new Promise((r) => setTimeout(r, 300));
socket.close();
done({ recovered, got });
