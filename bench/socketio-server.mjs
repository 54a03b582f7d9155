// The Node.js Socket.IO 4 server Herald is benchmarked against
// (scripts/bench.sh). It does the seed dashboard's job the plain way:
//
// - a client emits `subscribe` with a section name; the socket leaves every
//   other `dashboard:*` room and joins `dashboard:<section>`;
// - a publish broadcasts `dashboard:update` (or the event given) to the room.
//
// Its admin listener speaks the part of Herald's admin API herald-loadtest
// uses, so the same loadtest commands drive both servers:
//
// - POST /api/publish        {"room","event","data"}        -> {"offset"}
// - POST /api/publish/batch  {"messages":[{room,event,data}]} -> {"results":[{"offset"}|{"error"}]}
// - GET  /metrics  process_resident_memory_bytes, process_cpu_seconds_total,
//                  herald_gateway_connections (same name as Herald's gauge)
// - GET  /healthz
//
// Usage: node socketio-server.mjs [--listen HOST:PORT] [--admin-listen HOST:PORT] [--recovery]
//                                 [--ping-interval MS] [--ping-timeout MS]
//   --recovery turns on connection state recovery (broadcasts then carry an
//   offset as their last argument, as Herald's do). The ping options default
//   to Socket.IO's (25000 and 20000).
//
// Prints one line when ready:
//   socketio-server: clients http://HOST:PORT/socket.io/ admin http://HOST:PORT/
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_SECTION_BYTES = 200;

function parseArgs(argv) {
  const opts = {
    listen: '127.0.0.1:3000',
    admin: '127.0.0.1:3001',
    recovery: false,
    pingInterval: 25_000,
    pingTimeout: 20_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--listen') opts.listen = argv[++i];
    else if (a === '--admin-listen') opts.admin = argv[++i];
    else if (a === '--recovery') opts.recovery = true;
    else if (a === '--ping-interval') opts.pingInterval = Number(argv[++i]);
    else if (a === '--ping-timeout') opts.pingTimeout = Number(argv[++i]);
    else {
      console.error(`unknown argument ${a}`);
      process.exit(64);
    }
  }
  return opts;
}

function hostPort(s) {
  const i = s.lastIndexOf(':');
  if (i < 0) throw new Error(`bad address ${s}: use HOST:PORT`);
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const opts = parseArgs(process.argv.slice(2));
const clientAddr = hostPort(opts.listen);
const adminAddr = hostPort(opts.admin);

const httpServer = createServer((req, res) => {
  res.writeHead(404).end();
});
const io = new Server(httpServer, {
  serveClient: false,
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  ...(opts.recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 120_000 } } : {}),
});

io.on('connection', (socket) => {
  socket.on('subscribe', (section) => {
    if (typeof section !== 'string' || section.length === 0 || section.length > MAX_SECTION_BYTES) {
      return;
    }
    for (const room of socket.rooms) {
      if (room.startsWith('dashboard:')) socket.leave(room);
    }
    socket.join(`dashboard:${section}`);
  });
});

// Per-room publish counters: the offsets the publish API answers with.
const offsets = new Map();

function publishOne(msg) {
  if (!msg || typeof msg.room !== 'string' || msg.room.length === 0 || typeof msg.event !== 'string') {
    return { error: 'need room and event strings' };
  }
  const offset = (offsets.get(msg.room) ?? 0) + 1;
  offsets.set(msg.room, offset);
  io.to(msg.room).emit(msg.event, msg.data ?? null);
  return { offset };
}

function metricsText() {
  const cpu = process.cpuUsage();
  return [
    '# HELP process_resident_memory_bytes Resident memory size in bytes.',
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${process.memoryUsage().rss}`,
    '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
    '# TYPE process_cpu_seconds_total counter',
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    '# HELP herald_gateway_connections Open client connections.',
    '# TYPE herald_gateway_connections gauge',
    `herald_gateway_connections ${io.engine.clientsCount}`,
    '',
  ].join('\n');
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let len = 0;
    req.on('data', (c) => {
      len += c.length;
      if (len > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

const admin = createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metricsText());
    } else if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz')) {
      res.writeHead(200).end('ok\n');
    } else if (req.method === 'POST' && req.url === '/api/publish') {
      const r = publishOne(JSON.parse(await readBody(req)));
      json(res, r.error ? 400 : 200, r);
    } else if (req.method === 'POST' && req.url === '/api/publish/batch') {
      const body = JSON.parse(await readBody(req));
      if (!body || !Array.isArray(body.messages)) {
        json(res, 400, { error: 'need {"messages":[...]}' });
        return;
      }
      json(res, 200, { results: body.messages.map(publishOne) });
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    json(res, 400, { error: String(e && e.message ? e.message : e) });
  }
});

httpServer.listen(clientAddr.port, clientAddr.host, () => {
  admin.listen(adminAddr.port, adminAddr.host, () => {
    const c = httpServer.address();
    const a = admin.address();
    console.log(
      `socketio-server: clients http://${c.address}:${c.port}/socket.io/ admin http://${a.address}:${a.port}/` +
        ` (socket.io ${opts.recovery ? 'with' : 'without'} connection state recovery)`,
    );
  });
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    io.close();
    admin.close();
    process.exit(0);
  });
}
