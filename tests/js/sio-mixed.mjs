// A Socket.IO client in a room, for comparison with a native client.
//
//   node sio-mixed.mjs http://CLIENT http://ADMIN ROOM COUNT
//
// Subscribes to ROOM (verbatim, object form), prints {"step":"ready"},
// then collects COUNT events (any name) and prints them as
// [{event, data}] in arrival order. The snapshot is not counted: the room
// must be empty when the script starts.
import { io, urls, fail, step, done, emitAck, until } from './sio-lib.mjs';

const { client, rest } = urls();
const [room, count] = [rest[0], Number(rest[1])];
const socket = io(client);
const got = [];
socket.onAny((event, data) => got.push({ event, data }));
socket.on('connect_error', (e) => fail(`connect_error: ${e.message}`));
const ack = await emitAck(socket, 'subscribe', { room });
if (ack.room !== room) fail(`subscribe ack: ${JSON.stringify(ack)}`);
step('ready', { ack });
await until(() => got.length >= count, `${count} events`);
await new Promise((r) => setTimeout(r, 200));
if (got.length !== count) fail(`${got.length} events; expected ${count}`);
done({ got });
