// Presence events over Socket.IO with the real client:
//
//   node sio-presence.mjs http://CLIENT http://ADMIN TOKEN USER
//
// Connects with {auth: {token: TOKEN}}, subscribes to `chat:sio` (a
// presence room) and `lobby` (not one), prints {"step":"ready"}, then
// waits for `herald:presence` {room: "chat:sio", user: USER, action:
// "join"} and then "leave" (USER's sessions are on another gateway). It
// fails on any presence event for `lobby`, and prints every event it got.
import { io, urls, fail, step, done, until } from './sio-lib.mjs';

const { client, rest } = urls();
const [token, user] = rest;
if (!user) fail('usage: node sio-presence.mjs CLIENT ADMIN TOKEN USER');
const s = io(client, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
const events = [];
s.on('herald:presence', (e) => {
  if (e.room === 'lobby') fail(`presence event for lobby: ${JSON.stringify(e)}`);
  events.push(e);
});
s.on('connect_error', (e) => fail(`connect refused: ${e.message}`));
await until(() => s.connected, 'connect');
for (const room of ['chat:sio', 'lobby']) {
  const ack = await s.timeout(5000).emitWithAck('subscribe', { room });
  if (!ack || ack.room !== room) fail(`subscribe ${room}: ${JSON.stringify(ack)}`);
}
step('ready');
const mine = () => events.filter((e) => e.user === user).map((e) => `${e.room}:${e.action}`);
await until(() => mine().length >= 2, `a join and a leave of ${user}`);
// Give a stray third event (a second join, a lobby event) time to arrive.
await new Promise((r) => setTimeout(r, 300));
s.close();
done({ events: mine() });
