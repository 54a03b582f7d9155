// A Socket.IO client that stays connected until its gateway drains.
//
//   node sio-drain.mjs http://CLIENT http://ADMIN
//
// Connects over WebSocket to a gateway started with --socketio-recovery,
// subscribes to `drain:a`, receives one update (so the session has a
// position to recover), prints {"step":"live"} and then waits without
// reconnecting until the gateway closes the connection; the final line
// carries the disconnect reason.
import { io, urls, fail, step, done, publish, until } from './sio-lib.mjs';

const { client, admin } = urls();
const got = [];
const socket = io(client, { transports: ['websocket'], reconnection: false });
socket.on('connect', () => socket.emit('subscribe', { room: 'drain:a' }));
socket.on('update', (data, offset) => got.push({ data, offset }));
socket.on('connect_error', (e) => fail(`connect_error: ${e.message}`));

await until(() => socket.connected, 'the connect');
await new Promise((r) => setTimeout(r, 200));
await publish(admin, 'drain:a', 'update', { n: 1 });
await until(() => got.length === 1, 'the first update');
const reason = new Promise((resolve) => socket.once('disconnect', resolve));
step('live', { got });
done({ reason: await reason, got });
