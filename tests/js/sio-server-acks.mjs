// Server-to-client acks: POST /api/emit sends an event with an ack id to
// every socket in a room and answers with their acknowledgements.
//
//   node sio-server-acks.mjs http://CLIENT http://ADMIN [http://OTHER_CLIENT]
//
// Four sockets join dashboard:sales by emitting `subscribe` with "sales":
//   ws       WebSocket, acks with {me, got: data};
//   polling  long-polling only, acks with {me, got: data};
//   binary   on OTHER_CLIENT when given (another gateway), acks with a
//            Buffer, which travels as a BINARY_ACK with one attachment;
//   silent   has a listener that never calls the ack.
// Then:
// 1. POST /api/emit {room, event: "poll", data, timeout_ms: 1500}: prints
//    the response as `room`;
// 2. POST /api/emit {session: <ws's Engine.IO id>}: prints it as `session`;
// and `calls` counts the events each socket got.
import { io, urls, fail, step, done, emitAck, until } from './sio-lib.mjs';


const { client, admin, rest } = urls();
const other = rest[0] || client;

async function api(body) {
  const r = await fetch(`${admin}/api/emit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) fail(`/api/emit answered ${r.status}: ${text}`);
  return JSON.parse(text);
}

const sockets = {
  ws: io(client, { transports: ['websocket'] }),
  polling: io(client, { transports: ['polling'] }),
  binary: io(other, { transports: ['websocket'] }),
  silent: io(client, { transports: ['websocket'] }),
};
const calls = {};
for (const [name, s] of Object.entries(sockets)) {
  calls[name] = 0;
  s.on('connect_error', (e) => fail(`${name}: connect_error ${e.message}`));
  s.on('poll', (data, ack) => {
    calls[name] += 1;
    if (typeof ack !== 'function') fail(`${name}: the event came without an ack callback`);
    if (name === 'silent') return;
    if (name === 'binary') ack({ me: name, file: Buffer.from([1, 2, 3]) });
    else ack({ me: name, got: data });
  });
}
await until(() => Object.values(sockets).every((s) => s.connected), 'every socket to connect');
for (const s of Object.values(sockets)) {
  const reply = await emitAck(s, 'subscribe', 'sales');
  if (reply?.room !== 'dashboard:sales') fail(`subscribe ack: ${JSON.stringify(reply)}`);
}
step('subscribed');

const room = await api({ room: 'dashboard:sales', event: 'poll', data: { q: 1 }, timeout_ms: 1500 });
step('room', room);
const session = await api({ session: sockets.ws.io.engine.id, event: 'poll', data: { q: 2 }, timeout_ms: 3000 });
done({ room, session, calls, polling_transport: sockets.polling.io.engine.transport.name });
