// Shared helpers of the live-collection checks (collection-*.mjs,
// live-orders-browser.mjs): comparable views of a set, and a herald.js
// client that records what its set was at every offset, so a client that is
// behind or ahead can still be compared at the same offset.
import { WebSocket } from 'ws';
import { Herald } from '../../gateway/assets/herald.js';
import { NodeEventSource } from './node-eventsource.mjs';

export const ROOM = 'orders:live';

/** The set as comparable text: [key, document] pairs, sorted by key. */
export function canonical(docs) {
  const entries = docs instanceof Map ? [...docs.entries()] : Object.entries(docs);
  return JSON.stringify(entries.map(([k, d]) => [String(k), d]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** The rows a table should show: [key, status] in set order. */
export function rowsOf(sorted) {
  return sorted.map((d) => [String(d._id), String(d.status)]);
}

/** A herald.js client of `base` (http://host:port) over `transport` ('websocket' or 'sse'). */
export function heraldClient(base, transport = 'websocket') {
  const u = new URL(base);
  if (transport === 'sse') {
    return new Herald(`http://${u.host}/sse`, { transport: 'sse', EventSource: NodeEventSource, minBackoffMs: 50, maxBackoffMs: 500 });
  }
  return new Herald(`ws://${u.host}/ws`, { transport: 'websocket', WebSocket, minBackoffMs: 50, maxBackoffMs: 500 });
}

/**
 * A collection of ROOM that records, for every offset it reaches, the set
 * (canonical text) and the rows in order. `at(offset)` answers {set, rows}
 * or undefined.
 */
export function recordingCollection(h) {
  const coll = h.collection(ROOM);
  const byOffset = new Map();
  const counts = { upsert: 0, patch: 0, remove: 0, resets: 0, errors: 0, statusPatches: 0 };
  const record = () => byOffset.set(coll.offset, { set: canonical(coll.docs), rows: rowsOf(coll.sorted()) });
  coll.on('reset', () => { counts.resets += 1; record(); });
  coll.on('change', (c) => {
    counts[c.op] += 1;
    if (c.op === 'patch' && c.fields.includes('status')) counts.statusPatches += 1;
    record();
  });
  coll.on('error', () => { counts.errors += 1; });
  return { coll, counts, at: (offset) => byOffset.get(offset), offsets: () => [...byOffset.keys()] };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
