// An application backend for Herald's connect and event proxies
// (docs/proxy.md): the three handlers the official Socket.IO v5 suite
// expects of a server, plus a few the gateway's own tests use.
//
//   node app-backend.mjs [PORT] [SECRET]
//
// Prints `app-backend listening on http://127.0.0.1:PORT/` once ready
// (PORT 0 or absent: any free port). With SECRET, a request without
// `Authorization: Bearer SECRET` is answered 401.
//
// POST /  {kind: "connect", nsp, auth, ...}  → emits ["auth", auth || {}]
//         (the suite's `socket.emit("auth", socket.handshake.auth)`);
//         auth.deny refuses the CONNECT, auth.user names the user,
//         auth.join joins that room. With auth.mode "cookie", a cookie
//         `session=good` is a cookie-session login: user "cookie-user",
//         the grant rooms ["dashboard:*"] (expiring in auth.expiresIn
//         seconds, if given), and the greeting carries what the gateway
//         passed on (remote_addr, headers); without it, a refusal.
//         Native connects (transport "ws") always log in by cookie.
// POST /  {kind: "event", event, args, ack, user, ...}:
//   message            → emit message-back with the same arguments
//   message-with-ack   → ack with the same arguments
//   join / leave       → join or leave room args[0], ack {joined|left}
//   whoami             → ack {user, sid, nsp, auth}
//   slow               → wait args[0] ms, then ack args[1]
//   fail               → HTTP 500
//   garbage            → a 200 body that is not JSON
//   oversized          → a 200 body of args[0] bytes
//   anything else      → ack ["unhandled", event]
// GET /stats → {requests, inFlight, maxInFlight} (what the tests assert on).
import http from 'node:http';

const port = Number(process.argv[2] || 0);
const secret = process.argv[3] || '';
let requests = 0;
let inFlight = 0;
let maxInFlight = 0;

const json = (res, value) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

async function handle(req, res, body) {
  if (req.method === 'GET' && req.url === '/stats') {
    return json(res, { requests, inFlight, maxInFlight });
  }
  if (secret && req.headers.authorization !== `Bearer ${secret}`) {
    res.writeHead(401);
    return res.end('unauthorized');
  }
  let call;
  try {
    call = JSON.parse(body);
  } catch {
    res.writeHead(400);
    return res.end('not json');
  }
  if (call.kind === 'connect') {
    const auth = call.auth || {};
    if (auth.deny) return json(res, { allow: false, message: 'denied by the backend', data: { why: auth.deny } });
    // The native transport sends no auth: it logs in by cookie only.
    if (auth.mode === 'cookie' || call.transport === 'ws') {
      const cookie = (call.headers || {}).cookie || '';
      if (!cookie.split(/;\s*/).includes('session=good')) {
        return json(res, { allow: false, message: 'no session', data: { login: '/login' } });
      }
      const seen = { user: 'cookie-user', remote_addr: call.remote_addr, headers: call.headers };
      return json(res, {
        user: 'cookie-user',
        rooms: ['dashboard:*'],
        expires: auth.expiresIn ? Math.floor(Date.now() / 1000) + auth.expiresIn : undefined,
        emits: [{ event: 'auth', args: [seen] }],
      });
    }
    return json(res, {
      user: auth.user,
      emits: [{ event: 'auth', args: [auth] }],
      join: auth.join ? [auth.join] : [],
    });
  }
  const args = call.args || [];
  switch (call.event) {
    case 'message':
      return json(res, { emits: [{ event: 'message-back', args }] });
    case 'message-with-ack':
      return json(res, { ack: args });
    case 'join':
      return json(res, { join: [args[0]], ack: [{ joined: args[0] }] });
    case 'leave':
      return json(res, { leave: [args[0]], ack: [{ left: args[0] }] });
    case 'whoami':
      return json(res, { ack: [{ user: call.user, sid: call.sid, nsp: call.nsp, auth: call.auth }] });
    case 'slow':
      await new Promise((r) => setTimeout(r, Number(args[0]) || 0));
      return json(res, { ack: [args[1]] });
    case 'fail':
      res.writeHead(500);
      return res.end('backend exploded');
    case 'garbage':
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"ack": [1, 2');
    case 'oversized':
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(`{"ack": ["${'x'.repeat(Number(args[0]) || 0)}"]}`);
    default:
      return json(res, { ack: ['unhandled', call.event] });
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const counted = req.url !== '/stats';
    if (counted) {
      requests += 1;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
    }
    try {
      await handle(req, res, Buffer.concat(chunks).toString('utf8'));
    } finally {
      if (counted) inFlight -= 1;
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  console.log(`app-backend listening on http://127.0.0.1:${server.address().port}/`);
});
