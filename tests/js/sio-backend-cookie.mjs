// The connect proxy as a cookie-session login, against a gateway on Redis
// that lets anonymous clients read nothing, whose --connect-proxy points
// at tests/js/app-backend.mjs (and whose token leeway is 0):
//
//   node sio-backend-cookie.mjs http://CLIENT http://ADMIN
//
// 1. A browser-like client with the session cookie: the backend's greeting
//    shows what the gateway passed on; the backend's grant (dashboard:*)
//    opens dashboard:sales and nothing else.
// 2. Without the cookie: the backend refuses, the client gets connect_error.
// 3. A grant with `expires` 2 s ahead: the gateway closes the session at
//    expiry with herald:error 4007, as at a token's exp.
import { io, urls, step, done, until, emitAck, once, publish } from './sio-lib.mjs';

const { client, admin } = urls();
const opts = { forceNew: true, reconnection: false };
const cookie = { extraHeaders: { cookie: 'theme=dark; session=good', 'user-agent': 'herald-test' } };

// 1.
const s = io(client, { ...opts, ...cookie, auth: { mode: 'cookie' } });
const [seen] = await once(s, 'auth');
await until(() => s.connected, 'connect');
await until(() => s.io.engine.transport.name === 'websocket', 'the upgrade');
const updates = [];
s.on('dashboard:update', (data) => updates.push(data));
const granted = await emitAck(s, 'subscribe', 'sales');
await publish(admin, 'dashboard:sales', 'dashboard:update', { n: 1 });
await until(() => updates.length === 1, 'an update in the granted room');
const refused = await emitAck(s, 'subscribe', { room: 'admin:x' });
step('granted', { seen, granted, refused });

// 2.
const anon = io(client, { ...opts, auth: { mode: 'cookie' } });
const [err] = await once(anon, 'connect_error');
step('refused', { message: err.message });

// 3.
const short = io(client, { ...opts, ...cookie, transports: ['websocket'], auth: { mode: 'cookie', expiresIn: 2 } });
await once(short, 'auth');
const t0 = Date.now();
const [notice] = await once(short, 'herald:error');
const [reason] = await once(short, 'disconnect');
const expiredAfterMs = Date.now() - t0;

s.close();
anon.close();
done({ seen, granted, refused, updates, denied: { message: err.message, data: err.data }, notice, reason, expiredAfterMs });
