// herald.js's live collection in Node against a real gateway with the demo
// feed (room orders:live).
//
//   node collection-node.mjs http://CLIENT http://ADMIN websocket|sse [SECONDS]
//
// Client A (the given transport) follows the collection for SECONDS
// (default 3), loses its connection halfway (a TCP reset on WebSocket, a
// dropped stream on SSE) and recovers with `since`. Then client B, a fresh
// WebSocket client, takes a snapshot. At B's snapshot offset and at every
// later offset both reach, A's set must equal B's (every document, every
// field) and so must the order. A must have applied status patches,
// upserts and removes, with no errors and no refresh.
import { fail, step, done, until } from './sio-lib.mjs';
import { heraldClient, recordingCollection, sleep } from './collection-lib.mjs';

const [client] = process.argv.slice(2);
const transport = process.argv[4] || 'websocket';
const seconds = Number(process.argv[5] || 3);
if (!client || !['websocket', 'sse'].includes(transport)) fail('usage: node collection-node.mjs http://CLIENT http://ADMIN websocket|sse [SECONDS]');

const ha = heraldClient(client, transport);
const a = recordingCollection(ha);
await Promise.race([a.coll.ready, sleep(20000).then(() => fail('no snapshot for client A'))]);
step('a-ready', { offset: a.coll.offset, docs: a.coll.docs.size, transport: ha.transport });
if (a.coll.docs.size === 0) fail('the snapshot is empty: is the demo feed running?');

await sleep((seconds * 1000) / 2);
const before = a.coll.offset;
if (transport === 'sse') ha._es.drop();
else ha._ws.terminate();
step('dropped', { offset: before });
await until(() => ha.stats.connects >= 2 && a.coll.offset > before + 3, 'client A to reconnect and catch up', 30000);
await sleep((seconds * 1000) / 2);

const hb = heraldClient(client, 'websocket');
const b = recordingCollection(hb);
await Promise.race([b.coll.ready, sleep(20000).then(() => fail('no snapshot for client B'))]);
const snapshotOffset = b.coll.offset;
step('b-ready', { offset: snapshotOffset });

// Both go on applying changes; compare at every offset both reached.
await until(() => a.at(snapshotOffset) && b.offsets().filter((o) => a.at(o)).length >= 5, 'five offsets both clients reached', 30000);
const common = b.offsets().filter((o) => a.at(o));
for (const o of common) {
  const [x, y] = [a.at(o), b.at(o)];
  if (x.set !== y.set) fail(`at offset ${o} client A's set differs from the fresh snapshot's:\nA: ${x.set}\nB: ${y.set}`);
  if (JSON.stringify(x.rows) !== JSON.stringify(y.rows)) fail(`at offset ${o} the order differs:\nA: ${JSON.stringify(x.rows)}\nB: ${JSON.stringify(y.rows)}`);
}
const c = a.counts;
if (c.statusPatches === 0 || c.upsert === 0 || c.remove === 0) fail(`client A saw too few kinds of change: ${JSON.stringify(c)}`);
if (c.errors !== 0 || a.coll.stats.refreshes !== 0) fail(`client A had errors or refreshes: ${JSON.stringify({ ...c, ...a.coll.stats })}`);
if (a.coll.docs.size === 0) fail('empty set');
const statuses = [...a.coll.docs.values()].map((d) => d.status);
ha.close();
hb.close();
done({
  transport: ha.transport,
  connects: ha.stats.connects,
  snapshot_offset: snapshotOffset,
  compared: common.length,
  docs: a.coll.docs.size,
  limit: a.coll.spec.limit,
  statuses,
  counts: c,
});
