// Shared helpers of the Socket.IO compatibility scripts (sio-*.mjs).
//
// Every script prints JSON lines on stdout: progress lines ({"step":...})
// and a final {"ok":true,...}; on failure it prints `FAILED: <reason>` on
// stderr and exits 1. A watchdog bounds every script by TIMEOUT_MS
// (default 15000).
import { io } from 'socket.io-client';

export { io };

export const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 15000);

const started = Date.now();
const watchdog = setTimeout(() => fail(`no result within ${TIMEOUT_MS} ms`), TIMEOUT_MS);

/// Prints the reason and exits 1.
export function fail(reason) {
  console.error(`FAILED: ${reason}`);
  process.exit(1);
}

/// Prints a progress line.
export function step(name, extra = {}) {
  console.log(JSON.stringify({ step: name, ...extra }));
}

/// Prints the result and exits 0.
export function done(result) {
  clearTimeout(watchdog);
  console.log(JSON.stringify({ ok: true, ms: Date.now() - started, ...result }));
  process.exit(0);
}

/// The client and admin URLs from argv.
export function urls() {
  const [client, admin] = process.argv.slice(2);
  if (!client || !/^https?:\/\//.test(client)) fail('usage: node sio-<case>.mjs http(s)://CLIENT [http://ADMIN] ...');
  return { client, admin, rest: process.argv.slice(4) };
}

/// Publishes through the admin HTTP API; returns {epoch, offset}.
export async function publish(admin, room, event, data) {
  const r = await fetch(`${admin}/api/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room, event, data }),
  });
  if (!r.ok) fail(`publish to ${room} answered ${r.status}`);
  return r.json();
}

/// Resolves when `pred()` is true (checked every 10 ms), or fails with `what`.
export function until(pred, what, ms = TIMEOUT_MS - 1000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - t0 > ms) fail(`timed out waiting for ${what}`);
      setTimeout(tick, 10);
    };
    tick();
  });
}

/// `socket.emit(...args)` with an ack, as a promise.
export function emitAck(socket, ...args) {
  return new Promise((resolve) => socket.emit(...args, (reply) => resolve(reply)));
}

/// Resolves with the first `name` event's arguments.
export function once(emitter, name) {
  return new Promise((resolve) => emitter.once(name, (...args) => resolve(args)));
}
