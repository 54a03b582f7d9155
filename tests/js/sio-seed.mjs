// The seed app's browser code, verbatim but for the URL, against a gateway.
//
//   node sio-seed.mjs http://CLIENT http://ADMIN [polling|websocket|default] [live] [path] [token]
//
// With `path`, the client is created with `{path}` (a gateway started with
// --socketio-path); with `token`, with `{auth: {token}}` (a gateway that
// verifies tokens). Those options are the only changes to the seed's code.
//
// Subscribes to 'sales' on connect, waits for the snapshot (one
// dashboard:update), publishes `live` updates (default 5) to dashboard:sales
// through the admin API, and checks they all arrive in order. Prints the
// received data and the final Engine.IO transport name.
import { io, urls, fail, step, done, publish, until } from './sio-lib.mjs';

const { client, admin, rest } = urls();
const mode = rest[0] || 'default';
const live = Number(rest[1] || 5);
const opts = mode === 'default' ? {} : { transports: [mode] };
if (rest[2]) opts.path = rest[2];
if (rest[3]) opts.auth = { token: rest[3] };

const received = [];
function updateCharts(data) {
  received.push(data);
}

// --- the seed's code ---
var socket = io(client, opts);
socket.on('connect', () => socket.emit('subscribe', 'sales'));
socket.on('dashboard:update', data => updateCharts(data));
// --- end ---

socket.on('connect_error', (e) => fail(`connect_error: ${e.message}`));

await until(() => received.length >= 1, 'the snapshot');
const snapshot = received[0];
step('snapshot', { snapshot });
for (let n = 1; n <= live; n++) {
  await publish(admin, 'dashboard:sales', 'dashboard:update', { live: n });
}
await until(() => received.length >= 1 + live, `${live} live updates`);
const liveData = received.slice(1);
const expected = Array.from({ length: live }, (_, i) => i + 1);
if (JSON.stringify(liveData.map((d) => d.live)) !== JSON.stringify(expected)) {
  fail(`live updates out of order or wrong: ${JSON.stringify(liveData)}`);
}
if (mode === 'default') {
  await until(() => socket.io.engine.transport.name === 'websocket', 'the upgrade to websocket');
}
// Nothing more than expected arrives.
await new Promise((r) => setTimeout(r, 200));
if (received.length !== 1 + live) fail(`${received.length} events; expected ${1 + live}`);
done({ snapshot, live: liveData, transport: socket.io.engine.transport.name });
