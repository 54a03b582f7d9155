// A live collection over Socket.IO, in the seed application's browser-code
// style: plain `socket.on('herald:snapshot' | 'herald:change')` handlers
// keep a Map of the orders (room orders:live, fed by the demo).
//
//   node sio-collection.mjs http://CLIENT http://ADMIN [SECONDS]
//
// Client A follows the room for SECONDS (default 3); halfway its Engine.IO
// connection is closed and Socket.IO reconnects: with connection state
// recovery the missed events are replayed, without it `connect` subscribes
// again and a new snapshot replaces the Map. Once A has applied status patches
// since that snapshot, client B connects and takes a fresh snapshot; A's
// Map must then equal B's (same keys, same documents, so same statuses)
// while both keep applying changes. Ignored patches would leave statuses
// behind and the two would never agree.
import { io, urls, fail, step, done, until } from './sio-lib.mjs';
import { canonical, sleep } from './collection-lib.mjs';

const { client, rest } = urls();
const seconds = Number(rest[0] || 3);
const ROOM = 'orders:live';

function follower(name) {
  const state = { orders: new Map(), snapshots: 0, patchesSinceSnapshot: 0, counts: { upsert: 0, patch: 0, remove: 0 }, missing: 0 };

  // --- the seed-style code ---
  const socket = io(client);
  socket.on('connect', () => socket.emit('subscribe', { room: ROOM }));
  socket.on('herald:snapshot', (s) => {
    state.orders = new Map(s.docs.map((d) => [d._id, d]));
    state.snapshots += 1;
    state.patchesSinceSnapshot = 0;
  });
  socket.on('herald:change', (c) => {
    state.counts[c.op] += 1;
    if (c.op === 'upsert') state.orders.set(c.key, c.doc);
    else if (c.op === 'remove') state.orders.delete(c.key);
    else if (c.op === 'patch') {
      const order = state.orders.get(c.key);
      if (!order) {
        // Lost track: subscribing again brings a fresh snapshot.
        state.missing += 1;
        socket.emit('subscribe', { room: ROOM });
        return;
      }
      // The demo's patches name top-level fields only.
      state.orders.set(c.key, { ...order, ...c.set });
      for (const f of c.unset || []) delete state.orders.get(c.key)[f];
      if (c.set && 'status' in c.set) state.patchesSinceSnapshot += 1;
    }
  });
  // --- end ---

  socket.on('connect_error', (e) => fail(`${name}: connect_error: ${e.message}`));
  return { socket, state };
}

const a = follower('A');
await until(() => a.state.snapshots >= 1, 'the snapshot of client A');
if (a.state.orders.size === 0) fail('the snapshot is empty: is the demo feed running?');
step('a-ready', { docs: a.state.orders.size });
await sleep((seconds * 1000) / 2);
const sid = a.socket.id;
a.socket.io.engine.close(); // Socket.IO reconnects by itself
// Either Socket.IO recovered the session (the missed events are replayed)
// or the new session's subscribe brought a new snapshot.
await until(() => a.socket.connected && a.socket.id !== sid && (a.socket.recovered || a.state.snapshots >= 2), 'client A to reconnect (recovered, or with a new snapshot)', 30000);
const recovered = a.socket.recovered;
step('a-reconnected', { snapshots: a.state.snapshots, recovered });
await sleep((seconds * 1000) / 2);
await until(() => a.state.patchesSinceSnapshot >= 3, 'three status patches on client A since its snapshot', 30000);

const b = follower('B');
await until(() => b.state.snapshots >= 1, 'the snapshot of client B');
// Both keep applying changes; between two demo ticks they must agree.
const t0 = Date.now();
for (;;) {
  const [x, y] = [canonical(a.state.orders), canonical(b.state.orders)];
  if (x === y) break;
  if (Date.now() - t0 > 5000) fail(`client A's set never equalled the fresh snapshot's:\nA: ${x}\nB: ${y}`);
  await sleep(5);
}
const statuses = [...a.state.orders.values()].map((o) => o.status);
if (a.state.missing !== 0) fail(`client A lost track ${a.state.missing} times`);
if (a.state.counts.remove === 0 || a.state.counts.upsert === 0) fail(`too few kinds of change: ${JSON.stringify(a.state.counts)}`);
done({
  docs: a.state.orders.size,
  keys: [...a.state.orders.keys()].sort(),
  statuses,
  snapshots: a.state.snapshots,
  recovered,
  patches_since_snapshot: a.state.patchesSinceSnapshot,
  counts: a.state.counts,
});
