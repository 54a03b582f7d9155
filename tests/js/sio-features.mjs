// Acks, binary attachments and namespaces against a gateway started with
// --allow-client-publish --socketio-namespaces /admin.
//
//   node sio-features.mjs http://CLIENT http://ADMIN
//
// 1. subscribe with an ack: the ack is {room, epoch, offset, recovered};
// 2. an unknown event with an ack: the ack is {error: {code: 102, ...}};
// 3. an invalid room: the ack is {error: {code: 103, ...}};
// 4. publish with a Buffer inside the data: acked with the offset, and the
//    subscribers get the data back with the Buffer as {_binary: base64};
// 5. '/' and '/admin' on one manager (one Engine.IO connection) in the same
//    room both receive it; a namespace not on the list gets
//    connect_error "Invalid namespace".
import { io, urls, fail, step, done, emitAck, until, once } from './sio-lib.mjs';

const { client } = urls();
const main = io(client, { transports: ['websocket'] });
const admin = main.io.socket('/admin');
admin.connect();
for (const s of [main, admin]) s.on('connect_error', (e) => fail(`connect_error on ${s.nsp}: ${e.message}`));
await until(() => main.connected && admin.connected, 'both namespaces to connect');
if (main.io.engine !== admin.io.engine) fail('the namespaces do not share the connection');

const got = { '/': [], '/admin': [] };
main.on('chat:msg', (d) => got['/'].push(d));
admin.on('chat:msg', (d) => got['/admin'].push(d));

const sub = await emitAck(main, 'subscribe', { room: 'chat:1' });
if (sub.room !== 'chat:1' || typeof sub.epoch !== 'string' || sub.offset !== 0 || sub.recovered !== false) {
  fail(`subscribe ack: ${JSON.stringify(sub)}`);
}
const subAdmin = await emitAck(admin, 'subscribe', { room: 'chat:1' });
if (subAdmin.room !== 'chat:1') fail(`admin subscribe ack: ${JSON.stringify(subAdmin)}`);
step('subscribed', { sub, subAdmin });

const unknown = await emitAck(main, 'no-such-event', 1, 2);
if (unknown?.error?.code !== 102 || unknown.error.name !== 'unknown_op') fail(`unknown event ack: ${JSON.stringify(unknown)}`);
const badRoom = await emitAck(main, 'subscribe', { room: 'has space' });
if (badRoom?.error?.code !== 103) fail(`bad room ack: ${JSON.stringify(badRoom)}`);

const bytes = Buffer.from([0, 1, 2, 250, 255]);
const pub = await emitAck(main, 'publish', 'chat:1', 'chat:msg', { text: 'hi', file: bytes });
if (pub.room !== 'chat:1' || pub.offset !== 1) fail(`publish ack: ${JSON.stringify(pub)}`);
await until(() => got['/'].length === 1 && got['/admin'].length === 1, 'the published message in both namespaces');
for (const nsp of ['/', '/admin']) {
  const d = got[nsp][0];
  if (d.text !== 'hi' || d.file?._binary !== bytes.toString('base64')) fail(`${nsp} got ${JSON.stringify(d)}`);
}

// A namespace that is not allowed.
const other = main.io.socket('/secret');
const errP = once(other, 'connect_error');
other.connect();
const [err] = await errP;
if (err.message !== 'Invalid namespace') fail(`/secret: ${err.message}`);

// Leaving /admin keeps / in the room.
admin.disconnect();
await emitAck(main, 'publish', 'chat:1', 'chat:msg', { text: 'second' });
await until(() => got['/'].length === 2, 'the second message on /');
await new Promise((r) => setTimeout(r, 200));
if (got['/admin'].length !== 1) fail('a disconnected namespace still receives');
done({ sub, unknown, badRoom, pub, received: got, invalid: err.message });
