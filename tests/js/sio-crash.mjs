// Crash recovery (issue 15): the seed's client code on many clients over two
// gateways that share one Redis, behind a sticky TCP round-robin
// (sio-proxy.mjs), while one gateway is killed with SIGKILL mid-way through
// the publishes. Both gateways run with --socketio-recovery.
//
//   node sio-crash.mjs http://GW-A http://ADMIN-B MODE http://GW-B PID-A [CLIENTS] [UPDATES] [RATE]
//
// MODE is `default` (polling, then the upgrade), `websocket`, or
// `two-rooms`: default transports, each client in dashboard:sales and
// dashboard:ops (rooms on different shards; the gateways need
// --socketio-leave-others false), the updates alternating between them,
// and the initial update n=0 in sales, n=-1 in ops. Before the
// clients connect, update n=0 is published, so each client's subscribe gets
// it as the snapshot and the test knows every client is in the room. Then
// UPDATES (default 500) updates n=1..UPDATES go to dashboard:sales through
// gateway B's admin API at RATE per second (default 50); when half are out,
// gateway A (PID-A) is killed with SIGKILL. The proxy then moves A's clients
// to B when they reconnect.
//
// This script only observes: it prints, per client, what arrived (missing,
// duplicated, out of order), which gateways it was on, and
// `socket.recovered` at each connect. The Rust test (tests/e2e/socketio_crash.rs)
// asserts on that. It fails (exit 1) only when the run itself cannot be made.
process.env.TIMEOUT_MS ??= '90000';
const { io, urls, fail, step, done, publish, until } = await import('./sio-lib.mjs');
const { Backends, StickyProxy } = await import('./sio-proxy.mjs');

const { client: gwA, admin, rest } = urls();
const [mode = 'default', gwB, pidArg, clientsArg, updatesArg, rateArg] = rest;
const pidA = Number(pidArg);
const CLIENTS = Number(clientsArg || 50);
const UPDATES = Number(updatesArg || 500);
const RATE = Number(rateArg || 50);
if (!gwB || !Number.isInteger(pidA) || pidA <= 0) fail('usage: sio-crash.mjs http://A http://ADMIN-B MODE http://B PID-A');
if (!['default', 'websocket', 'two-rooms'].includes(mode)) fail(`unknown mode ${mode}`);

const hostPort = (u) => {
  const url = new URL(u);
  return { host: url.hostname, port: Number(url.port) };
};
const backends = new Backends([
  { ...hostPort(gwA), name: 'A' },
  { ...hostPort(gwB), name: 'B' },
]);

const ROOMS = mode === 'two-rooms' ? ['dashboard:sales', 'dashboard:ops'] : ['dashboard:sales'];
for (let k = 0; k < ROOMS.length; k++) await publish(admin, ROOMS[k], 'dashboard:update', { n: -k });

// One client: the seed's code in a function of its own, as on a page.
function startClient(i, url, proxy) {
  const c = { i, proxy, received: [], connects: [] };
  function updateCharts(data) {
    c.received.push(data.n);
  }
  const opts = mode === 'websocket' ? { transports: ['websocket'] } : {};

  // --- the seed's code ---
  var socket = io(url, opts);
  socket.on('connect', () => socket.emit('subscribe', 'sales'));
  socket.on('dashboard:update', data => updateCharts(data));
  // --- end ---
  if (mode === 'two-rooms') socket.on('connect', () => socket.emit('subscribe', 'ops'));

  socket.on('connect', () => c.connects.push({ on: proxy.backendName(), recovered: socket.recovered }));
  c.socket = socket;
  return c;
}

const clients = [];
for (let i = 0; i < CLIENTS; i++) {
  const proxy = new StickyProxy(backends, i);
  clients.push(startClient(i, await proxy.listen(), proxy));
}

await until(() => clients.every((c) => c.received.length >= ROOMS.length), 'the snapshots on every client');
if (mode !== 'websocket') {
  await until(
    () => clients.every((c) => c.socket.io.engine?.transport?.name === 'websocket'),
    'the upgrade to websocket on every client',
  );
}
step('ready', { clients: CLIENTS, onA: clients.filter((c) => c.proxy.backendName() === 'A').length });

const t0 = Date.now();
let killedAt = null;
for (let n = 1; n <= UPDATES; n++) {
  const due = t0 + ((n - 1) * 1000) / RATE;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await publish(admin, ROOMS[n % ROOMS.length], 'dashboard:update', { n });
  if (n === Math.floor(UPDATES / 2)) {
    process.kill(pidA, 'SIGKILL');
    killedAt = n;
    step('killed A', { after: n });
  }
}
const publishMs = Date.now() - t0;
step('published', { updates: UPDATES, ms: publishMs });

// Wait for every client to have the last update (or give up after 20 s:
// a client that missed it is reported, not waited for), then a little
// longer so late duplicates show.
const allLast = () => clients.every((c) => c.received.includes(UPDATES) && c.socket.connected);
await new Promise((resolve) => {
  const t = Date.now();
  const tick = () => (allLast() || Date.now() - t > 20000 ? resolve() : setTimeout(tick, 20));
  tick();
});
await new Promise((r) => setTimeout(r, 500));

// Every update once; in two rooms, in order within each room.
const expected = Array.from({ length: UPDATES + ROOMS.length }, (_, n) => n - ROOMS.length + 1);
const report = clients.map((c) => {
  const got = c.received;
  const seen = new Set(got);
  const missing = expected.filter((n) => !seen.has(n));
  let outOfOrder = 0;
  for (let r = 0; r < ROOMS.length; r++) {
    const mine = got.filter((n) => (n <= 0 ? -n === r : n % ROOMS.length === r));
    for (let k = 1; k < mine.length; k++) if (mine[k] <= mine[k - 1]) outOfOrder++;
  }
  const sorted = [...got].sort((x, y) => x - y);
  const onA = c.connects.some((x) => x.on === 'A');
  const moved = onA && c.connects.some((x) => x.on === 'B');
  return {
    i: c.i,
    exact: outOfOrder === 0 && JSON.stringify(sorted) === JSON.stringify(expected),
    received: got.length,
    missing: missing.length,
    missingRange: missing.length ? [missing[0], missing[missing.length - 1]] : null,
    duplicates: got.length - seen.size,
    outOfOrder,
    moved,
    connects: c.connects,
    recovered: c.socket.recovered,
    connected: c.socket.connected,
    transport: c.socket.io.engine?.transport?.name ?? null,
    upstreams: c.proxy.history.map((k) => backends.list[k].name).join(''),
  };
});
for (const c of clients) {
  c.socket.disconnect();
  c.proxy.close();
}
const moved = report.filter((r) => r.moved);
done({
  mode,
  clients: CLIENTS,
  updates: UPDATES,
  killedAt,
  publishMs,
  exact: report.filter((r) => r.exact).length,
  moved: moved.length,
  movedRecovered: moved.filter((r) => r.recovered === true).length,
  movedMissing: moved.map((r) => r.missing),
  stayedExact: report.filter((r) => !r.moved && r.exact).length,
  report,
});
