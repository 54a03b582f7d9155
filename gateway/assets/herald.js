// herald.js: the browser client for Herald's native protocol, over
// WebTransport, WebSocket or Server-Sent Events.
//
// A plain ES module with no dependencies and no build step. It runs in
// browsers as is, and under Node when given a WebSocket constructor
// (`new Herald(url, { WebSocket })`, e.g. from the `ws` package).
//
// Transport (`transport` option, or `?transport=` on the page URL when the
// option is 'auto', the default):
// - 'auto': WebTransport when the browser has it (`typeof WebTransport ===
//   'function'`) and the page is a secure context (`isSecureContext`), else
//   WebSocket. A WebTransport that does not deliver `welcome` within
//   `webTransportTimeoutMs` (WEBTRANSPORT_TIMEOUT_MS, 3 s), or fails to
//   open, is given up for WebSocket for the rest of this client's life (the
//   page load); status info then carries `fallback: {from, reason}`.
// - 'webtransport', 'websocket', 'sse': that one. A forced WebTransport the
//   browser cannot do (no constructor, not a secure context) falls back to
//   WebSocket with the same `fallback` info; one that fails to open is
//   retried with backoff like any lost connection.
// WebTransport connects to `https://<host>:<port>/wt`. Before every attempt
// it fetches `/wt/certificate-hash` from the same host: a standalone
// gateway's self-signed certificate is then pinned with
// `serverCertificateHashes` (and `allowPooling: false`); a 404 means a real
// certificate, verified as usual. `h.transport` is the transport in use, and
// every status event's info carries `transport`.
//
//   import { Herald } from '/herald.js';
//   const h = new Herald();                      // ws(s)://<page host>/ws
//   const sub = h.subscribe('dashboard:sales', {
//     onMessage(msg) {},    // {room, event, data, offset, ts, replay}
//     onReset(info) {},     // {recovered:false, epoch, offset}: drop state, a snapshot follows
//     onSubscribed(info) {} // {epoch, offset, recovered}
//   });
//   h.on('status', (s, info) => {});  // 'connecting' | 'open' | 'reconnecting' | 'closed'
//   h.on('error', (e) => {});         // server `error` frames and client-side problems
//   h.on('presence', (p) => {});      // {room, user, action: 'join'|'leave'} in --presence-rooms rooms
//   sub.unsubscribe(); h.leaveAll(); h.close();
//   await h.publish(room, event, data); // -> {room, epoch, offset}
//
// Gateways that verify tokens: `new Herald(url, { getToken })`, where
// `getToken()` returns (or resolves to) a connection token. It is called
// before every connect and again `refreshBeforeMs` before the token expires;
// the token goes in the first frame (`auth`), never in the URL. A static
// `token` option works too, without refresh.
//
// What it does for you:
// - reconnects with exponential backoff and full jitter, and on every new
//   connection resubscribes each room with `since: {epoch, offset}` of the last
//   message it applied, so the gateway replays what was missed;
// - drops duplicates (offset <= last applied in the same epoch) and, on a gap
//   (offset > last + 1), resubscribes with `since` so the gateway fills it;
// - honours the `disconnect` frame: `reconnect: false` keeps it closed, close
//   code 4001 (shutdown) reconnects promptly after a short random delay;
//   4007 (token expired) reconnects with a fresh token, 4008 (token refused)
//   and 4009 (no token in time) stay closed rather than retry in a loop;
// - sends an application-level `ping` when the connection has been idle for
//   `pingIntervalMs`, and reconnects when nothing answers within `pongTimeoutMs`.
//
// Server-Sent Events, for networks that block WebSockets:
// `new Herald(url, { transport: 'sse' })` (see the SSE block below).
//
// Encoding: JSON text frames only. The gateway also speaks MessagePack in
// binary frames, but this client has no MessagePack codec (no dependencies);
// `binary: true` is rejected.

/** Default options; every one can be overridden in `new Herald(url, options)`. */
export const DEFAULTS = Object.freeze({
  binary: false,
  minBackoffMs: 250,
  maxBackoffMs: 10000,
  // Reconnect delay after a `shutdown` (4001): uniform in [0, shutdownJitterMs].
  shutdownJitterMs: 1000,
  // A connection that lived this long resets the backoff attempt counter.
  stableMs: 5000,
  // Send a `ping` after this long without any frame from the gateway.
  pingIntervalMs: 20000,
  // Reconnect when nothing arrives this long after a `ping`.
  pongTimeoutMs: 10000,
  // Give up on a connection attempt that got no `welcome` in this time.
  connectTimeoutMs: 10000,
  // Reject a `publish` Promise that got no reply in this time.
  requestTimeoutMs: 10000,
  // Most publishes held while disconnected.
  maxQueued: 256,
  // A static connection token (no refresh), or null.
  token: null,
  // A function returning (or resolving to) a fresh connection token, or null.
  getToken: null,
  // Refresh the token this long before it expires.
  refreshBeforeMs: 30000,
  // 'auto' | 'webtransport' | 'websocket' | 'sse' (see the top of this file).
  transport: 'auto',
  // A WebTransport attempt without `welcome` in this time falls back to WebSocket.
  webTransportTimeoutMs: 3000,
  // Largest stream frame accepted from the gateway on WebTransport; a larger
  // head closes the connection (1009) before its payload is buffered.
  maxStreamFrameBytes: 16 * 1024 * 1024,
});

/** How long (ms) an automatic WebTransport attempt may take before herald.js uses WebSocket. */
export const WEBTRANSPORT_TIMEOUT_MS = DEFAULTS.webTransportTimeoutMs;

/** The values of the `transport` option and of `?transport=` on the page URL. */
export const TRANSPORTS = Object.freeze(['auto', 'webtransport', 'websocket', 'sse']);

/** The `?transport=` of the page URL (`loc`: a Location or URL), or null when absent or unknown. */
export function transportFromPage(loc = globalThis.location) {
  if (!loc || typeof loc.search !== 'string') return null;
  const v = new URLSearchParams(loc.search).get('transport');
  return v && TRANSPORTS.includes(v) ? v : null;
}

/**
 * Picks the transport. `requested`: the option ('auto' when absent); `page`:
 * the page URL's `?transport=` (used when `requested` is 'auto'). Returns
 * {transport, forced, fallback}, where `fallback` ({from, reason}) says why a
 * forced WebTransport became WebSocket, and `reason` why 'auto' did not pick
 * WebTransport.
 */
export function chooseTransport({ requested = 'auto', page = null, WebTransport, isSecureContext } = {}) {
  const req = requested || 'auto';
  if (!TRANSPORTS.includes(req)) throw new TypeError(`herald: unknown transport ${JSON.stringify(req)}`);
  const want = req !== 'auto' ? req : (page && TRANSPORTS.includes(page) ? page : 'auto');
  const forced = want !== 'auto';
  if (want === 'websocket' || want === 'sse') return { transport: want, forced, fallback: null, reason: null };
  let reason = null;
  if (typeof WebTransport !== 'function') reason = 'this browser has no WebTransport';
  else if (isSecureContext !== true) reason = 'the page is not a secure context';
  if (!reason) return { transport: 'webtransport', forced, fallback: null, reason: null };
  if (forced) return { transport: 'websocket', forced, fallback: { from: 'webtransport', reason }, reason };
  return { transport: 'websocket', forced, fallback: null, reason };
}

/** `https://<host>/wt` for a `ws(s)://` or `http(s)://` endpoint URL. */
export function webTransportUrl(url) {
  const u = new URL(url);
  return `https://${u.host}/wt`;
}

/** The `/wt/certificate-hash` URL on the same host as an endpoint URL (same scheme family). */
export function certificateHashUrl(url) {
  const u = new URL(url);
  const scheme = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
  return `${scheme}//${u.host}/wt/certificate-hash`;
}

// ---- stream frames (WebTransport): kind byte, u32 big-endian length, payload ----

/** Bytes in a stream frame head. */
export const STREAM_HEAD_BYTES = 5;
/** Stream frame kinds: JSON and MessagePack. */
export const STREAM_KIND = Object.freeze({ JSON: 1, MSGPACK: 2 });

const utf8 = new TextEncoder();

/** One stream frame: the 5-byte head and the UTF-8 of `text` (kind JSON). */
export function encodeStreamFrame(text, kind = STREAM_KIND.JSON) {
  const payload = typeof text === 'string' ? utf8.encode(text) : text;
  const out = new Uint8Array(STREAM_HEAD_BYTES + payload.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, payload.length, false);
  out.set(payload, STREAM_HEAD_BYTES);
  return out;
}

/** A stream that cannot go on: `code` is the close code (1009 too large, 4006 unknown kind). */
export class StreamFrameError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'StreamFrameError';
    this.code = code;
  }
}

/**
 * Cuts stream frames out of the bytes read from a stream, whatever the read
 * boundaries. A head announcing more than `maxBytes`, or an unknown kind,
 * throws a StreamFrameError before the payload is buffered, so the buffer
 * stays under `maxBytes` + a head + one read.
 */
export class StreamFrameCutter {
  constructor(maxBytes = DEFAULTS.maxStreamFrameBytes) {
    this.maxBytes = maxBytes;
    this._buf = new Uint8Array(1024);
    this._start = 0;
    this._end = 0;
  }

  /** Bytes held, waiting for the rest of a frame. */
  get buffered() {
    return this._end - this._start;
  }

  /** Adds `chunk` (a Uint8Array); returns the frames it completed: [{kind, payload}]. */
  push(chunk) {
    this._append(chunk);
    const frames = [];
    for (;;) {
      const have = this._end - this._start;
      if (have < STREAM_HEAD_BYTES) break;
      const kind = this._buf[this._start];
      if (kind !== STREAM_KIND.JSON && kind !== STREAM_KIND.MSGPACK) {
        throw new StreamFrameError(`unknown stream frame kind ${kind}`, 4006);
      }
      const len = new DataView(this._buf.buffer, this._buf.byteOffset + this._start + 1, 4).getUint32(0, false);
      if (len > this.maxBytes) {
        throw new StreamFrameError(`stream frame of ${len} bytes exceeds the limit of ${this.maxBytes}`, 1009);
      }
      if (have < STREAM_HEAD_BYTES + len) break;
      const from = this._start + STREAM_HEAD_BYTES;
      frames.push({ kind, payload: this._buf.slice(from, from + len) });
      this._start = from + len;
    }
    if (this._start === this._end) this._start = this._end = 0;
    return frames;
  }

  _append(chunk) {
    if (!chunk || chunk.length === 0) return;
    if (this._end + chunk.length > this._buf.length) {
      const live = this._end - this._start;
      let cap = this._buf.length;
      while (cap < live + chunk.length) cap *= 2;
      const next = cap === this._buf.length ? this._buf : new Uint8Array(cap);
      if (next === this._buf) this._buf.copyWithin(0, this._start, this._end);
      else next.set(this._buf.subarray(this._start, this._end), 0);
      this._buf = next;
      this._start = 0;
      this._end = live;
    }
    this._buf.set(chunk, this._end);
    this._end += chunk.length;
  }
}

function base64Bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Fetches the standalone gateway's certificate hash. Resolves with
 * {hash: ArrayBuffer, port} or null (404: a real certificate, no pinning).
 */
export async function fetchCertificateHash(url, fetchFn = globalThis.fetch) {
  if (typeof fetchFn !== 'function') return null;
  const resp = await fetchFn(url, { cache: 'no-store' });
  if (resp.status === 404) return null;
  if (!resp.ok) throw new Error(`GET ${url} answered ${resp.status}`);
  const body = await resp.json();
  if (!body || body.algorithm !== 'sha-256' || typeof body.value !== 'string') throw new Error('unexpected certificate-hash body');
  const bytes = base64Bytes(body.value);
  return { hash: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), port: typeof body.port === 'number' ? body.port : null, expires: body.expires ?? null };
}

/**
 * A WebTransport session with one bidirectional stream, behind the small
 * interface herald.js drives every socket with (a WebSocket has it natively):
 * `send(text)`, `close(code, reason)`, and the callbacks `onopen()`,
 * `onmessage({data})`, `onclose({code, reason})`, `onerror()`.
 */
export class WebTransportSocket {
  constructor(url, { WebTransport, fetch, hashUrl, maxFrameBytes = DEFAULTS.maxStreamFrameBytes } = {}) {
    this.url = url;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    /** The hash pinned on this attempt, or null. */
    this.pinned = null;
    this._WebTransport = WebTransport;
    this._fetch = fetch;
    this._hashUrl = hashUrl;
    this._cutter = new StreamFrameCutter(maxFrameBytes);
    this._wt = null;
    this._writer = null;
    this._ended = false;
    this._decoder = new TextDecoder('utf-8', { fatal: true });
    this._run().catch((e) => this._end(undefined, (e && e.message) || String(e)));
  }

  /** Sends one JSON text as a stream frame. */
  send(text) {
    if (!this._writer || this._ended) throw new Error('WebTransport stream not open');
    this._writer.write(encodeStreamFrame(text)).catch(() => { /* the close follows */ });
  }

  /** Closes the session with a native close code. */
  close(code = 1000, reason = '') {
    const wt = this._wt;
    this._end(code, reason);
    if (wt) {
      try { wt.close({ closeCode: code, reason: String(reason).slice(0, 100) }); } catch { /* already closed */ }
    }
  }

  async _run() {
    let url = this.url;
    if (this._hashUrl) {
      const h = await fetchCertificateHash(this._hashUrl, this._fetch);
      if (this._ended) return;
      if (h) {
        this.pinned = h;
        if (h.port) {
          const u = new URL(url);
          u.port = String(h.port);
          url = u.toString();
        }
      }
    }
    const opts = this.pinned
      ? { serverCertificateHashes: [{ algorithm: 'sha-256', value: this.pinned.hash }], allowPooling: false }
      : {};
    const wt = new this._WebTransport(url, opts);
    this._wt = wt;
    wt.closed.then(
      (info) => this._end(info && info.closeCode, info && info.reason),
      (e) => this._end(undefined, (e && e.message) || 'WebTransport session failed'),
    );
    await wt.ready;
    if (this._ended) return;
    const stream = await wt.createBidirectionalStream();
    if (this._ended) return;
    this._writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    if (this.onopen) this.onopen();
    for (;;) {
      const { value, done } = await reader.read();
      if (this._ended) return;
      if (done) break;
      let frames;
      try {
        frames = this._cutter.push(value);
      } catch (e) {
        this.close(e.code || 1009, e.message);
        return;
      }
      for (const f of frames) {
        if (this._ended) return;
        let data = f.payload;
        if (f.kind === STREAM_KIND.JSON) {
          try { data = this._decoder.decode(f.payload); } catch { this.close(1007, 'invalid UTF-8'); return; }
        }
        if (this.onmessage) this.onmessage({ data });
      }
    }
    // The gateway finished the stream; the session's close (with its code) follows.
    await Promise.race([wt.closed.catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
    this._end(undefined, 'stream finished');
  }

  _end(code, reason) {
    if (this._ended) return;
    this._ended = true;
    try { if (this._writer) this._writer.releaseLock(); } catch { /* ignore */ }
    const cb = this.onclose;
    if (cb) cb({ code, reason: reason || '' });
  }
}

/**
 * Close codes after which the client must not reconnect: kicked, protocol
 * violation, token refused, no token in time.
 */
export const NO_RECONNECT_CODES = Object.freeze([4005, 4006, 4008, 4009]);

/** Close code the gateway uses when it shuts down. */
export const SHUTDOWN_CODE = 4001;

/**
 * The reconnect delay for the given attempt (0 for the first retry): "full
 * jitter", uniform in [0, min(maxMs, minMs * 2^attempt)).
 */
export function backoffDelay(attempt, minMs, maxMs, random = Math.random) {
  const a = Math.max(0, Math.min(Math.floor(attempt) || 0, 30));
  const cap = Math.max(0, Math.min(maxMs, minMs * 2 ** a));
  return Math.min(cap, Math.floor(random() * cap));
}

/** The default endpoint: `/ws` on the page's own host, `wss` under https. */
export function defaultUrl(loc = globalThis.location) {
  if (!loc || !loc.host) throw new Error('herald: no url given and no page location to derive one from');
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

/**
 * What the client knows of one room's position: the epoch and the offset of
 * the last message applied. Pure logic, no I/O.
 */
export class RoomCursor {
  constructor() {
    /** The room's epoch, from the latest `subscribed`; null before the first. */
    this.epoch = null;
    /** The offset of the last applied message (meaningful when `known`). */
    this.offset = 0;
    /** False after a reset until the first message sets the baseline. */
    this.known = false;
    /** The room's latest offset when the current subscription started. */
    this.latest = 0;
  }

  /** A `subscribed` frame arrived. Returns true when the client must reset its state. */
  subscribed(epoch, latest, recovered) {
    const keep = recovered && this.known && this.epoch === epoch;
    this.latest = latest;
    if (keep) return false;
    this.epoch = epoch;
    this.offset = 0;
    this.known = false;
    return true;
  }

  /** 'apply', 'duplicate' (already applied) or 'gap' (messages are missing before it). */
  classify(offset) {
    if (!this.known) return 'apply';
    if (offset <= this.offset) return 'duplicate';
    if (offset > this.offset + 1) return 'gap';
    return 'apply';
  }

  /** Records `offset` as applied. */
  advance(offset) {
    this.offset = offset;
    this.known = true;
  }

  /** True when a message at `offset` replays history rather than being new. */
  isReplay(offset) {
    return offset <= this.latest;
  }

  /** The `since` to resubscribe with, or null when a fresh snapshot is wanted. */
  since() {
    if (this.epoch === null) return null;
    if (this.known) return { epoch: this.epoch, offset: this.offset };
    // Subscribed to an empty room and saw nothing yet: everything from 1 is new.
    if (this.latest === 0) return { epoch: this.epoch, offset: 0 };
    return null;
  }
}

function report(err) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(err);
  else setTimeout(() => { throw err; });
}

class HeraldError extends Error {
  constructor(message, { code = null, id = null, room = null } = {}) {
    super(message);
    this.name = 'HeraldError';
    this.code = code;
    this.id = id;
    this.room = room;
  }
}

/** One room the client is in, with its listeners and position. */
class Room {
  constructor(name) {
    this.name = name;
    this.cursor = new RoomCursor();
    this.subs = new Set();
    /** 'pending' until the gateway confirms the (re)subscription. */
    this.state = 'pending';
    this.last = null;
    this.readyWaiters = [];
  }
}

/** A handle on one `subscribe` call. */
class Subscription {
  constructor(herald, room, handlers) {
    this._herald = herald;
    this.room = room;
    this.handlers = handlers || {};
    this.active = true;
    /** Resolves with {epoch, offset, recovered} when the gateway confirms the room. */
    this.ready = null;
  }

  /** Stops this subscription; the room is left when no other subscription holds it. */
  unsubscribe() {
    if (!this.active) return;
    this.active = false;
    this._herald._drop(this);
  }
}

/** A Herald connection that keeps itself alive and its rooms in sync. */
export class Herald {
  constructor(url, options = {}) {
    // Server-Sent Events (`transport: 'sse'`): the same API, one-way.
    if (options.transport === 'sse') return new SseHerald(url, options);
    const choice = chooseTransport({
      requested: options.transport || 'auto',
      page: 'location' in options ? transportFromPage(options.location) : transportFromPage(),
      WebTransport: 'WebTransport' in options ? options.WebTransport : globalThis.WebTransport,
      isSecureContext: 'isSecureContext' in options ? options.isSecureContext : globalThis.isSecureContext,
    });
    if (choice.transport === 'sse') return new SseHerald(url ? sseUrlFor(url) : undefined, { ...options, transport: 'sse' });
    this.options = { ...DEFAULTS, ...options };
    if (this.options.binary) {
      throw new Error('herald: MessagePack (binary: true) is not supported by herald.js; use JSON');
    }
    this.url = url || defaultUrl();
    this.WebSocket = this.options.WebSocket || globalThis.WebSocket;
    if (typeof this.WebSocket !== 'function') {
      throw new Error('herald: no WebSocket constructor; pass options.WebSocket');
    }
    this.WebTransport = 'WebTransport' in options ? options.WebTransport : globalThis.WebTransport;
    /** The transport in use: 'webtransport' or 'websocket'. */
    this.transport = choice.transport;
    /** {from, reason} once WebTransport was given up for WebSocket, else null. */
    this.fallback = choice.fallback;
    this._transportForced = choice.forced;
    /** Why 'auto' did not pick WebTransport, or null. */
    this.transportReason = choice.reason;
    this.random = this.options.random || Math.random;
    this.status = 'connecting';
    /** Reconnect attempts since the last stable connection. */
    this.attempt = 0;
    /** The latest `welcome` frame. */
    this.welcome = null;
    /** Counters, for tests and debugging. */
    this.stats = { connects: 0, messages: 0, duplicates: 0, gaps: 0, resets: 0 };
    this._rooms = new Map();
    this._listeners = new Map();
    this._pending = new Map();
    this._outbox = [];
    this._nextId = 1;
    this._ws = null;
    this._open = false;
    this._closed = false;
    this._openedAt = 0;
    this._lastRx = 0;
    this._disconnectFrame = null;
    this._timers = { reconnect: null, connect: null, idle: null, pong: null, refresh: null };
    /** The token sent on the current connection, if any. */
    this._token = null;
    this._onOnline = () => {
      if (this._timers.reconnect !== null) {
        this._clear('reconnect');
        this._connect();
      }
    };
    if (typeof globalThis.addEventListener === 'function') globalThis.addEventListener('online', this._onOnline);
    this._connect();
  }

  // ---- public API ----

  /** Listens to 'status', 'error', 'welcome', 'authenticated', 'presence', 'disconnect' or 'fallback' ({from, reason}: WebTransport given up for WebSocket). Returns a function that stops listening. */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event)?.delete(fn);
  }

  /**
   * Joins `room`. `handlers`: {onMessage, onReset, onSubscribed, onError}.
   * `opts.leaveOthers`: leave every other room at the same time.
   */
  subscribe(room, handlers = {}, opts = {}) {
    if (this._closed) throw new Error('herald: closed');
    if (typeof room !== 'string' || room === '') throw new TypeError('herald: room must be a non-empty string');
    if (opts.leaveOthers) {
      for (const [name, r] of this._rooms) {
        if (name === room) continue;
        this._rooms.delete(name);
        for (const s of r.subs) s.active = false;
        // A new room's subscribe carries leave_others; an existing room's does not.
        if (this._rooms.has(room)) this._send({ op: 'unsubscribe', room: name });
      }
    }
    const sub = new Subscription(this, room, handlers);
    let r = this._rooms.get(room);
    if (r) {
      r.subs.add(sub);
      if (r.state === 'active') {
        const info = { epoch: r.cursor.epoch, offset: r.cursor.latest, recovered: true };
        sub.ready = Promise.resolve(info);
        // Hand the newcomer the room's latest message so it can render at once.
        const last = r.last;
        if (last) queueMicrotask(() => sub.active && this._call(sub, 'onMessage', last));
      } else {
        sub.ready = new Promise((resolve, reject) => r.readyWaiters.push({ resolve, reject }));
        sub.ready.catch(() => {});
      }
      return sub;
    }
    r = new Room(room);
    r.subs.add(sub);
    sub.ready = new Promise((resolve, reject) => r.readyWaiters.push({ resolve, reject }));
    sub.ready.catch(() => {});
    this._rooms.set(room, r);
    if (this._open) this._sendSubscribe(r, { leaveOthers: !!opts.leaveOthers });
    return sub;
  }

  /** Leaves every room. */
  leaveAll() {
    for (const r of this._rooms.values()) {
      for (const s of r.subs) s.active = false;
      this._rejectReady(r, new HeraldError('left', { room: r.name }));
    }
    this._rooms.clear();
    this._send({ op: 'leave_all' });
  }

  /** The rooms the client is in. */
  rooms() {
    return [...this._rooms.keys()];
  }

  /**
   * Publishes through the gateway (when it allows client publishes).
   * Resolves with {room, epoch, offset}; rejects on an `error` reply, a timeout,
   * or a connection lost before the reply (the publish may then have happened).
   */
  publish(room, event, data) {
    if (this._closed) return Promise.reject(new Error('herald: closed'));
    return new Promise((resolve, reject) => {
      const id = this._nextId++;
      const frame = { op: 'publish', room, event, data: data === undefined ? null : data, id };
      const entry = { kind: 'publish', room, resolve, reject, timer: null, frame, sent: false };
      entry.timer = setTimeout(() => {
        this._pending.delete(id);
        const i = this._outbox.indexOf(id);
        if (i >= 0) this._outbox.splice(i, 1);
        reject(new HeraldError('publish timed out', { id, room }));
      }, this.options.requestTimeoutMs);
      this._pending.set(id, entry);
      if (this._open) {
        entry.sent = true;
        this._send(frame);
      } else if (this._outbox.length < this.options.maxQueued) {
        this._outbox.push(id);
      } else {
        clearTimeout(entry.timer);
        this._pending.delete(id);
        reject(new HeraldError('publish queue full while disconnected', { id, room }));
      }
    });
  }

  /** Closes the connection for good. */
  close() {
    if (this._closed) return;
    this._closed = true;
    for (const k of Object.keys(this._timers)) this._clear(k);
    if (typeof globalThis.removeEventListener === 'function') globalThis.removeEventListener('online', this._onOnline);
    const ws = this._ws;
    this._detach();
    if (ws) {
      try { ws.close(1000); } catch { /* already closing */ }
    }
    this._failPending(new Error('herald: closed'), true);
    for (const r of this._rooms.values()) this._rejectReady(r, new Error('herald: closed'));
    this._setStatus('closed', { reason: 'client' });
  }

  // ---- connection lifecycle ----

  _connect() {
    if (this._closed) return;
    this._timers.reconnect = null;
    // The first attempt is 'connecting'; later ones were announced as
    // 'reconnecting' (with their attempt number) when they were scheduled.
    if (this.stats.connects === 0 && this.attempt === 0) this._setStatus('connecting', { attempt: 0 });
    const { getToken, token } = this.options;
    if (typeof getToken !== 'function') {
      this._token = token || null;
      this._openSocket();
      return;
    }
    Promise.resolve()
      .then(() => getToken())
      .then((t) => {
        if (this._closed) return;
        this._token = t || null;
        this._openSocket();
      }, (e) => {
        this._emit('error', new HeraldError(`getToken failed: ${e && e.message}`));
        this._scheduleReconnect(null);
      });
  }

  _openSocket() {
    if (this._closed) return;
    const wt = this.transport === 'webtransport';
    let ws;
    try {
      ws = wt
        ? new WebTransportSocket(this.options.webTransportUrl || webTransportUrl(this.url), {
          WebTransport: this.WebTransport,
          fetch: this.options.fetch || globalThis.fetch,
          hashUrl: this.options.certificateHashUrl === undefined ? certificateHashUrl(this.url) : this.options.certificateHashUrl,
          maxFrameBytes: this.options.maxStreamFrameBytes,
        })
        : new this.WebSocket(this.url);
    } catch (e) {
      if (wt && this._mayFallBack()) return this._fallBack(`cannot open WebTransport: ${e && e.message}`);
      this._emit('error', new HeraldError(`cannot connect: ${e && e.message}`));
      this._scheduleReconnect(null);
      return undefined;
    }
    this._ws = ws;
    this._disconnectFrame = null;
    ws.onopen = () => { this._lastRx = Date.now(); };
    ws.onmessage = (ev) => this._onData(ev.data);
    ws.onerror = () => { /* a close event follows */ };
    ws.onclose = (ev) => {
      if (wt && !this._open && this._mayFallBack()) {
        this._detach();
        this._fallBack(`WebTransport failed to open${ev && ev.reason ? `: ${ev.reason}` : ''}`);
        return;
      }
      this._onClose(ev && ev.code, ev && ev.reason);
    };
    const auto = wt && this._mayFallBack();
    this._timers.connect = setTimeout(() => {
      this._timers.connect = null;
      if (this._ws !== ws || this._open) return;
      if (auto) {
        this._detach();
        try { ws.close(4000, 'timeout'); } catch { /* ignore */ }
        this._fallBack(`WebTransport did not answer within ${this.options.webTransportTimeoutMs} ms`);
        return;
      }
      this._abandon('connect timeout');
    }, auto ? this.options.webTransportTimeoutMs : this.options.connectTimeoutMs);
    return undefined;
  }

  // An automatic WebTransport that fails before `welcome` gives way to WebSocket.
  _mayFallBack() {
    return this.transport === 'webtransport' && !this._transportForced;
  }

  _fallBack(reason) {
    this._clear('connect');
    this.transport = 'websocket';
    this.fallback = { from: 'webtransport', reason };
    this._emit('fallback', this.fallback);
    this._openSocket();
  }

  _detach() {
    const ws = this._ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {};
    }
    this._ws = null;
  }

  // Gives up on the current socket without waiting for its close event
  // (which a dead TCP connection may not deliver for minutes).
  _abandon(reason) {
    const ws = this._ws;
    if (!ws) return;
    this._detach();
    try { ws.close(4000, reason); } catch { /* ignore */ }
    this._lost(null, reason);
  }

  _onClose(code, reason) {
    this._detach();
    this._lost(code, reason);
  }

  _lost(code, reason) {
    const wasOpen = this._open;
    this._open = false;
    for (const k of ['connect', 'idle', 'pong', 'refresh']) this._clear(k);
    if (wasOpen && Date.now() - this._openedAt >= this.options.stableMs) this.attempt = 0;
    this._failPending(new HeraldError('connection lost before the reply'), false);
    for (const r of this._rooms.values()) r.state = 'pending';
    if (this._closed) return;
    const frame = this._disconnectFrame;
    const effective = frame ? frame.code : code;
    const reconnect = frame ? frame.reconnect !== false : !NO_RECONNECT_CODES.includes(code);
    if (frame || code !== undefined) this._emit('disconnect', { code: effective, reason: frame ? frame.reason : reason, reconnect });
    if (!reconnect) {
      this._closed = true;
      this._failPending(new HeraldError(`disconnected: ${frame ? frame.reason : reason}`, { code: effective }), true);
      this._setStatus('closed', { code: effective, reason: frame ? frame.reason : reason });
      return;
    }
    this._scheduleReconnect(effective);
  }

  _scheduleReconnect(code) {
    if (this._closed || this._timers.reconnect !== null) return;
    let delayMs;
    if (code === SHUTDOWN_CODE) {
      // The node is going away, not overloaded: come back soon, spread out.
      delayMs = Math.floor(this.random() * this.options.shutdownJitterMs);
      this.attempt = 0;
    } else {
      delayMs = backoffDelay(this.attempt, this.options.minBackoffMs, this.options.maxBackoffMs, this.random);
    }
    this.attempt += 1;
    this._setStatus('reconnecting', { attempt: this.attempt, delayMs, code });
    this._timers.reconnect = setTimeout(() => this._connect(), delayMs);
  }

  _onWelcome(frame) {
    this._clear('connect');
    this.welcome = frame;
    this._open = true;
    this._openedAt = Date.now();
    this.stats.connects += 1;
    this._setStatus('open', { session: frame.session, node: frame.node, attempt: this.attempt });
    this._emit('welcome', frame);
    // Frames are applied in order: the token before any subscribe.
    if (this._token) this._send({ op: 'auth', token: this._token });
    for (const r of this._rooms.values()) this._sendSubscribe(r, {});
    const queued = this._outbox.splice(0);
    for (const id of queued) {
      const entry = this._pending.get(id);
      if (!entry) continue;
      entry.sent = true;
      this._send(entry.frame);
    }
    this._armIdle();
  }

  _armIdle() {
    this._clear('idle');
    if (!this._open) return;
    const wait = Math.max(0, this._lastRx + this.options.pingIntervalMs - Date.now());
    this._timers.idle = setTimeout(() => {
      this._timers.idle = null;
      if (!this._open) return;
      if (Date.now() - this._lastRx >= this.options.pingIntervalMs && this._timers.pong === null) {
        this._send({ op: 'ping', id: this._nextId++ });
        this._timers.pong = setTimeout(() => {
          this._timers.pong = null;
          this._abandon('pong timeout');
        }, this.options.pongTimeoutMs);
      }
      this._armIdle();
    }, wait);
  }

  // ---- frames in ----

  _onData(data) {
    this._lastRx = Date.now();
    this._clear('pong');
    if (typeof data !== 'string') {
      this._emit('error', new HeraldError('binary frame received; herald.js speaks JSON only'));
      return;
    }
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      this._emit('error', new HeraldError('unparseable frame from the gateway'));
      return;
    }
    if (!f || typeof f !== 'object') return;
    switch (f.type) {
      case 'welcome': return this._onWelcome(f);
      case 'subscribed': return this._onSubscribed(f);
      case 'message': return this._onMessage(f);
      case 'published': return this._settle(f.id, null, { room: f.room, epoch: f.epoch, offset: f.offset });
      case 'pong': return undefined;
      case 'authenticated': return this._onAuthenticated(f);
      case 'unsubscribed': return undefined;
      case 'presence': return this._emit('presence', { room: f.room, user: f.user, action: f.action });
      case 'error': return this._onError(f);
      case 'disconnect':
        this._disconnectFrame = { code: f.code, reason: f.reason, reconnect: f.reconnect };
        return undefined;
      default:
        return undefined; // unknown frame types are ignored, for forward compatibility
    }
  }

  _onAuthenticated(f) {
    this._clear('refresh');
    this._emit('authenticated', { user: f.user ?? null, expires: f.expires ?? null });
    if (typeof this.options.getToken !== 'function' || typeof f.expires !== 'number') return;
    const wait = Math.max(0, f.expires * 1000 - Date.now() - this.options.refreshBeforeMs);
    this._timers.refresh = setTimeout(() => {
      this._timers.refresh = null;
      Promise.resolve()
        .then(() => this.options.getToken())
        .then((t) => { if (t) this._send({ op: 'refresh', token: t }); },
          (e) => this._emit('error', new HeraldError(`getToken failed: ${e && e.message}`)));
    }, wait);
  }

  _onSubscribed(f) {
    const entry = f.id !== undefined ? this._pending.get(f.id) : undefined;
    if (entry && entry.kind === 'subscribe') {
      clearTimeout(entry.timer);
      this._pending.delete(f.id);
    }
    const r = this._rooms.get(f.room);
    if (!r) return; // left meanwhile
    const reset = r.cursor.subscribed(f.epoch, f.offset, !!f.recovered);
    r.state = 'active';
    const info = { epoch: f.epoch, offset: f.offset, recovered: !reset };
    if (reset) {
      this.stats.resets += 1;
      r.last = null;
      for (const s of r.subs) this._call(s, 'onReset', { recovered: false, epoch: f.epoch, offset: f.offset });
    }
    for (const s of r.subs) this._call(s, 'onSubscribed', info);
    for (const w of r.readyWaiters.splice(0)) w.resolve(info);
  }

  _onMessage(f) {
    const r = this._rooms.get(f.room);
    if (!r || r.state !== 'active' || typeof f.offset !== 'number') return;
    const verdict = r.cursor.classify(f.offset);
    if (verdict === 'duplicate') {
      this.stats.duplicates += 1;
      return;
    }
    if (verdict === 'gap') {
      this.stats.gaps += 1;
      this._resync(r);
      return;
    }
    r.cursor.advance(f.offset);
    this.stats.messages += 1;
    const msg = { room: f.room, event: f.event, data: f.data, offset: f.offset, ts: f.ts ?? null, replay: r.cursor.isReplay(f.offset) };
    r.last = msg;
    for (const s of [...r.subs]) this._call(s, 'onMessage', msg);
  }

  _onError(f) {
    const err = new HeraldError(`${f.reason || 'error'} (${f.code})`, { code: f.code, id: f.id ?? null });
    const entry = f.id !== undefined && f.id !== null ? this._pending.get(f.id) : undefined;
    if (entry) {
      clearTimeout(entry.timer);
      this._pending.delete(f.id);
      err.room = entry.room;
      if (entry.kind === 'publish') entry.reject(err);
      if (entry.kind === 'subscribe') this._subscribeFailed(entry, err);
    }
    this._emit('error', err);
  }

  _subscribeFailed(entry, err) {
    const r = this._rooms.get(entry.room);
    if (!r) return;
    if (entry.resync) {
      // The gateway refused a subscribe for a room already joined: leave and
      // join again, still asking for what came after our position.
      this._send({ op: 'unsubscribe', room: r.name });
      this._sendSubscribe(r, {});
      return;
    }
    if (err.code === 100 || err.code === 106) {
      // Internal or bus trouble: retry on the next connection or in a while.
      const delay = backoffDelay(3, this.options.minBackoffMs, this.options.maxBackoffMs, this.random);
      setTimeout(() => {
        if (this._rooms.get(r.name) === r && this._open && r.state === 'pending') this._sendSubscribe(r, {});
      }, delay);
      return;
    }
    this._rooms.delete(r.name);
    for (const s of r.subs) {
      s.active = false;
      this._call(s, 'onError', err);
    }
    this._rejectReady(r, err);
  }

  // ---- frames out ----

  _sendSubscribe(r, { leaveOthers = false, resync = false }) {
    const id = this._nextId++;
    r.state = 'pending';
    const frame = { op: 'subscribe', room: r.name, id };
    const since = r.cursor.since();
    if (since) frame.since = since;
    if (leaveOthers) frame.leave_others = true;
    const entry = { kind: 'subscribe', room: r.name, resync, timer: null };
    entry.timer = setTimeout(() => {
      this._pending.delete(id);
      // No answer: the connection is likely broken; start over.
      if (this._open && this._rooms.get(r.name) === r && r.state === 'pending') this._abandon('subscribe timeout');
    }, this.options.requestTimeoutMs);
    this._pending.set(id, entry);
    this._send(frame);
  }

  // A gap: ask the gateway again from our position; what arrives before its
  // answer belongs to the old stream and is dropped (the recovery resends it).
  _resync(r) {
    if (r.state !== 'active') return;
    this._sendSubscribe(r, { resync: true });
  }

  _drop(sub) {
    const r = this._rooms.get(sub.room);
    if (!r || !r.subs.has(sub)) return;
    r.subs.delete(sub);
    if (r.subs.size > 0) return;
    this._rooms.delete(sub.room);
    this._rejectReady(r, new HeraldError('unsubscribed', { room: sub.room }));
    this._send({ op: 'unsubscribe', room: sub.room });
  }

  _send(frame) {
    if (!this._open || !this._ws) return false;
    try {
      this._ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      this._emit('error', new HeraldError(`send failed: ${e && e.message}`));
      return false;
    }
  }

  // ---- helpers ----

  _settle(id, err, value) {
    if (id === undefined || id === null) return;
    const entry = this._pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this._pending.delete(id);
    if (entry.kind !== 'publish') return;
    if (err) entry.reject(err);
    else entry.resolve(value);
  }

  // Rejects requests whose reply can no longer come. Publishes still in the
  // outbox (never sent) survive a reconnect unless `all`.
  _failPending(err, all) {
    for (const [id, entry] of this._pending) {
      if (!all && entry.kind === 'publish' && !entry.sent) continue;
      clearTimeout(entry.timer);
      this._pending.delete(id);
      if (entry.kind === 'publish') entry.reject(err);
    }
    if (all) this._outbox.length = 0;
  }

  _rejectReady(r, err) {
    for (const w of r.readyWaiters.splice(0)) w.reject(err);
  }

  _call(sub, name, arg) {
    const fn = sub.handlers[name];
    if (!sub.active || typeof fn !== 'function') return;
    try {
      fn.call(sub.handlers, arg);
    } catch (e) {
      report(e);
    }
  }

  _emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (e) {
        report(e);
      }
    }
  }

  _setStatus(status, info = {}) {
    const changed = this.status !== status;
    this.status = status;
    const full = { ...info, transport: this.transport };
    if (this.fallback) full.fallback = this.fallback;
    // 'reconnecting' repeats with a new attempt count; other states fire once.
    if (changed || status === 'reconnecting') this._emit('status', status, full);
  }

  _clear(name) {
    if (this._timers[name] !== null) {
      clearTimeout(this._timers[name]);
      this._timers[name] = null;
    }
  }
}

// ---- Server-Sent Events transport (`transport: 'sse'`) ----
//
// For networks that block WebSockets: `new Herald(url, { transport: 'sse' })`
// (url: http(s)://<host>/sse, default the page's host) streams the rooms
// from `GET /sse` with the browser's EventSource (or `options.EventSource`).
// The API is the same; it is one-way, so `publish` rejects. Every change of
// the set of rooms reopens the stream with `since` per room (the stream
// position id of docs/protocol.md, "Server-Sent Events"); a lost stream is
// reopened the same way with backoff and jitter, so recovery, duplicate
// drops, gap refills and resets follow the same rules as on the WebSocket.
// A token (`token` or `getToken()`) goes in the URL (`?token=`), since
// EventSource cannot set headers.

/** The SSE check of `epoch` in `room`: FNV-1a 32 over room, 0x00, epoch (UTF-8). */
export function sseEpochCheck(room, epoch) {
  const bytes = [...new TextEncoder().encode(room), 0, ...new TextEncoder().encode(epoch)];
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** The stream position id for `rooms` ([[name, cursor]], in URL order). */
export function sseStreamId(rooms) {
  return rooms.map(([name, cursor]) => {
    const since = cursor.since();
    if (!since) return '';
    return `${since.offset.toString(36)}.${sseEpochCheck(name, since.epoch).toString(36)}`;
  }).join('-');
}

// The SSE endpoint on the host of a ws(s)://…/ws or http(s)://… URL.
function sseUrlFor(url) {
  const u = new URL(url);
  if (u.protocol === 'ws:' || u.protocol === 'wss:') {
    return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}/sse`;
  }
  return url;
}

/** http(s)://<page host>/sse. */
export function defaultSseUrl(loc = globalThis.location) {
  if (!loc) return 'http://127.0.0.1:8080/sse';
  return `${loc.protocol === 'https:' ? 'https:' : 'http:'}//${loc.host}/sse`;
}

/** The SSE client: Herald's API over `GET /sse`. */
export class SseHerald {
  constructor(url, options = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.url = url || defaultSseUrl();
    this.EventSource = this.options.EventSource || globalThis.EventSource;
    if (typeof this.EventSource !== 'function') {
      throw new Error('herald: no EventSource constructor; pass options.EventSource');
    }
    this.random = this.options.random || Math.random;
    this.status = 'connecting';
    /** The transport in use: always 'sse'. */
    this.transport = 'sse';
    this.fallback = null;
    this.attempt = 0;
    this.welcome = null;
    this.stats = { connects: 0, messages: 0, duplicates: 0, gaps: 0, resets: 0 };
    this._rooms = new Map();
    this._listeners = new Map();
    this._es = null;
    this._closed = false;
    this._openedAt = 0;
    this._reopenQueued = false;
    this._timers = { reconnect: null };
  }

  on(event, fn) { return Herald.prototype.on.call(this, event, fn); }

  /** Joins `room` (the stream is reopened with every room). */
  subscribe(room, handlers = {}, opts = {}) {
    if (this._closed) throw new Error('herald: closed');
    if (typeof room !== 'string' || room === '') throw new TypeError('herald: room must be a non-empty string');
    if (opts.leaveOthers) {
      for (const [name, r] of this._rooms) {
        if (name === room) continue;
        this._rooms.delete(name);
        for (const s of r.subs) s.active = false;
      }
    }
    const sub = new Subscription(this, room, handlers);
    let r = this._rooms.get(room);
    if (!r) {
      r = new Room(room);
      this._rooms.set(room, r);
      this._queueReopen();
    }
    r.subs.add(sub);
    if (r.state === 'active') {
      sub.ready = Promise.resolve({ epoch: r.cursor.epoch, offset: r.cursor.latest, recovered: true });
      const last = r.last;
      if (last) queueMicrotask(() => sub.active && this._call(sub, 'onMessage', last));
    } else {
      sub.ready = new Promise((resolve, reject) => r.readyWaiters.push({ resolve, reject }));
      sub.ready.catch(() => {});
    }
    return sub;
  }

  leaveAll() {
    for (const r of this._rooms.values()) {
      for (const s of r.subs) s.active = false;
      this._rejectReady(r, new HeraldError('left', { room: r.name }));
    }
    this._rooms.clear();
    this._queueReopen();
  }

  rooms() { return [...this._rooms.keys()]; }

  publish(room) {
    return Promise.reject(new HeraldError('publish needs the WebSocket transport; SSE is one-way', { room }));
  }

  close() {
    if (this._closed) return;
    this._closed = true;
    this._clear('reconnect');
    this._stop();
    for (const r of this._rooms.values()) this._rejectReady(r, new Error('herald: closed'));
    this._setStatus('closed', { reason: 'client' });
  }

  // ---- the stream ----

  // Subscribes in the same tick share one reopen.
  _queueReopen() {
    if (this._reopenQueued) return;
    this._reopenQueued = true;
    queueMicrotask(() => {
      this._reopenQueued = false;
      if (this._closed || this._timers.reconnect !== null) return;
      this._connect();
    });
  }

  _stop() {
    const es = this._es;
    this._es = null;
    if (es) {
      es.onopen = es.onerror = null;
      try { es.close(); } catch { /* already closed */ }
    }
  }

  _connect() {
    this._timers.reconnect = null;
    this._stop();
    if (this._closed || this._rooms.size === 0) return;
    const { getToken, token } = this.options;
    Promise.resolve()
      .then(() => (typeof getToken === 'function' ? getToken() : token))
      .then((t) => this._open(t || null), (e) => {
        this._emit('error', new HeraldError(`getToken failed: ${e && e.message}`));
        this._lost(null);
      });
  }

  _open(token) {
    if (this._closed || this._es) return;
    const rooms = [...this._rooms.entries()];
    if (rooms.length === 0) return;
    const q = rooms.map(([name]) => `room=${encodeURIComponent(name)}`);
    for (const [, r] of rooms) r.state = 'pending';
    const id = sseStreamId(rooms.map(([name, r]) => [name, r.cursor]));
    if (id.replace(/-/g, '') !== '') q.push(`since=${id}`);
    if (token) q.push(`token=${encodeURIComponent(token)}`);
    const sep = this.url.includes('?') ? '&' : '?';
    let es;
    try {
      es = new this.EventSource(`${this.url}${sep}${q.join('&')}`);
    } catch (e) {
      this._emit('error', new HeraldError(`cannot connect: ${e && e.message}`));
      this._lost(null);
      return;
    }
    this._es = es;
    this._disconnectFrame = null;
    const on = (name, fn) => es.addEventListener(name, (ev) => {
      if (this._es !== es) return;
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      fn(f);
    });
    es.onopen = () => {
      this._openedAt = Date.now();
      this.stats.connects += 1;
      this._setStatus('open', { attempt: this.attempt });
    };
    // EventSource would retry by itself, without backoff and with its own
    // position; this client reopens with its cursors instead.
    es.onerror = () => { if (this._es === es) this._lost(null); };
    on('subscribed', (f) => this._onSubscribed(f));
    on('reset', (f) => this._onSubscribed({ ...f, recovered: false }));
    on('message', (f) => this._onMessage(f));
    on('presence', (f) => this._emit('presence', f));
    on('unsubscribed', (f) => {
      const r = this._rooms.get(f.room);
      if (!r) return;
      this._rooms.delete(f.room);
      for (const s of r.subs) s.active = false;
      this._rejectReady(r, new HeraldError('unsubscribed', { room: f.room }));
    });
    on('disconnect', (f) => {
      this._disconnectFrame = f;
      this._lost(f.code);
    });
  }

  _lost(code) {
    const frame = this._disconnectFrame;
    this._disconnectFrame = null;
    this._stop();
    if (this._openedAt && Date.now() - this._openedAt >= this.options.stableMs) this.attempt = 0;
    this._openedAt = 0;
    for (const r of this._rooms.values()) r.state = 'pending';
    if (this._closed) return;
    const reconnect = frame ? frame.reconnect !== false : !NO_RECONNECT_CODES.includes(code);
    if (frame) this._emit('disconnect', { code: frame.code, reason: frame.reason, reconnect });
    if (!reconnect) {
      this._closed = true;
      for (const r of this._rooms.values()) this._rejectReady(r, new HeraldError(`disconnected: ${frame.reason}`, { code: frame.code }));
      this._setStatus('closed', { code: frame.code, reason: frame.reason });
      return;
    }
    Herald.prototype._scheduleReconnect.call(this, code);
  }

  _onSubscribed(f) { Herald.prototype._onSubscribed.call(this, { ...f, id: undefined }); }

  _onMessage(f) { Herald.prototype._onMessage.call(this, f); }

  // A gap: reopen from the cursors (the gateway fills gaps itself; this is
  // the safety net).
  _resync(r) {
    if (r.state !== 'active') return;
    this._lost(null);
  }

  _drop(sub) {
    const r = this._rooms.get(sub.room);
    if (!r || !r.subs.has(sub)) return;
    r.subs.delete(sub);
    if (r.subs.size > 0) return;
    this._rooms.delete(sub.room);
    this._rejectReady(r, new HeraldError('unsubscribed', { room: sub.room }));
    this._queueReopen();
  }

  _rejectReady(r, err) { Herald.prototype._rejectReady.call(this, r, err); }

  _call(sub, name, arg) { Herald.prototype._call.call(this, sub, name, arg); }

  _emit(event, ...args) { Herald.prototype._emit.call(this, event, ...args); }

  _setStatus(status, info = {}) { Herald.prototype._setStatus.call(this, status, info); }

  _clear(name) { Herald.prototype._clear.call(this, name); }
}

// ---- live collections (`h.collection(room)`) ----
//
// A live-collection room (docs/protocol.md, "Live collections") carries a
// keyed set of documents: one `herald:snapshot` message with the whole set,
// then one `herald:change` message per change (`upsert`, `patch`,
// `remove`). `h.collection(room)` rides on `subscribe`, so reconnects,
// `since` recovery, gap fill and every transport work unchanged; it keeps
// `docs`, a Map equal to the gateway's set:
//
//   const orders = h.collection('orders:live');
//   await orders.ready;                 // the first snapshot is applied
//   orders.docs;                        // Map: key -> document
//   orders.sorted();                    // documents in the set's order, at most `limit`
//   orders.on('change', (c) => {});     // {op, key, doc, prev, fields}
//   orders.on('reset', (r) => {});      // {docs, reset}: a snapshot replaced the set
//   orders.on('error', (e) => {});      // e.kind: 'missing' | 'path' | 'invalid'
//   orders.close();
//
// Map keys: a string or number key is the Map key itself; any other key
// value (an object, say) is keyed by its JSON.stringify text.
//
// The pure parts (LiveSet, applyPatch, compareValues and the path
// functions) mirror protocol/src/collection/ and are exported for tests.

/** The event names of a live collection's messages. */
export const COLLECTION_EVENTS = Object.freeze({ SNAPSHOT: 'herald:snapshot', CHANGE: 'herald:change' });
/** The highest array index a patch may write (protocol::collection::path::MAX_INDEX). */
export const MAX_PATH_INDEX = 100000;
/** The deepest path a patch may name (protocol::collection::path::MAX_DEPTH). */
export const MAX_PATH_DEPTH = 100;

/**
 * A change that cannot be applied: `kind` is 'missing' (a patch for a key
 * the set does not hold), 'path' (a path that cannot be written: empty,
 * deeper than MAX_PATH_DEPTH, an index over MAX_PATH_INDEX, or through a
 * scalar) or 'invalid' (not a well-formed payload).
 */
export class CollectionError extends Error {
  constructor(message, { kind, room = null, key = undefined } = {}) {
    super(message);
    this.name = 'CollectionError';
    this.kind = kind;
    this.room = room;
    this.key = key;
  }
}

const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isContainer = (v) => v !== null && typeof v === 'object';

// Writes an own data property, even for `__proto__` (an assignment would
// set the object's prototype instead).
function putOwn(obj, k, v) {
  if (k === '__proto__') Object.defineProperty(obj, k, { value: v, writable: true, enumerable: true, configurable: true });
  else obj[k] = v;
}

const USIZE_MAX = 18446744073709551615n;

/**
 * A path part as an array index, as Rust's `str::parse::<usize>()` reads
 * it (an optional '+', then ASCII digits, at most 2^64 - 1), or null.
 * Values past MAX_PATH_INDEX come back as a (possibly inexact) larger number.
 */
export function parseIndex(part) {
  if (typeof part !== 'string' || !/^\+?[0-9]+$/.test(part)) return null;
  const digits = part.replace(/^\+/, '').replace(/^0+(?=[0-9])/, '');
  if (digits.length > 20 || BigInt(digits) > USIZE_MAX) return null;
  return Number(digits);
}

/** The parts of a dotted path (split at every dot). */
export function splitPath(path) {
  return String(path).split('.');
}

function checkParts(parts) {
  if (!Array.isArray(parts) || parts.length === 0 || parts.some((p) => typeof p !== 'string' || p === '')) {
    throw new CollectionError('empty field path', { kind: 'path' });
  }
  if (parts.length > MAX_PATH_DEPTH) throw new CollectionError(`field path deeper than ${MAX_PATH_DEPTH}`, { kind: 'path' });
}

/** The value at `parts` (an array of parts or a dotted string), or undefined. */
export function getPath(doc, parts) {
  let at = doc;
  for (const p of typeof parts === 'string' ? splitPath(parts) : parts) {
    if (Array.isArray(at)) {
      const i = parseIndex(p);
      if (i === null || i >= at.length) return undefined;
      at = at[i];
    } else if (isPlainObject(at)) {
      if (!hasOwn(at, p)) return undefined;
      at = at[p];
    } else {
      return undefined;
    }
  }
  return at;
}

// Copy-on-write: `fresh` holds the containers this patch made (or copied),
// which alone may be mutated; everything else is shared with the old document.
function writable(v, fresh) {
  if (!isContainer(v) || fresh.has(v)) return v;
  const copy = Array.isArray(v) ? v.slice() : { ...v };
  fresh.add(copy);
  return copy;
}

function padTo(a, len) {
  while (a.length < len) a.push(null);
}

function tooHigh(i, parts) {
  return new CollectionError(`array index ${i} of \`${parts.join('.')}\` is over the limit of ${MAX_PATH_INDEX}`, { kind: 'path' });
}

// One step down `part` from the writable container `at`; the child comes
// back writable. With `create`, a missing (or null) object member becomes
// {} and arrays are padded. undefined: nowhere to go.
function stepDown(at, part, create, fresh, parts) {
  if (isPlainObject(at)) {
    if (!hasOwn(at, part) || (create && at[part] === null)) {
      if (!create) return undefined;
      const o = {};
      fresh.add(o);
      putOwn(at, part, o);
      return o;
    }
    const child = writable(at[part], fresh);
    if (child !== at[part]) putOwn(at, part, child);
    return child;
  }
  if (Array.isArray(at)) {
    const i = parseIndex(part);
    if (i === null) return undefined;
    if (i > MAX_PATH_INDEX) throw tooHigh(i, parts);
    if (create && i >= at.length) padTo(at, i + 1);
    if (i >= at.length) return undefined;
    if (create && at[i] === null) {
      at[i] = {};
      fresh.add(at[i]);
      return at[i];
    }
    at[i] = writable(at[i], fresh);
    return at[i];
  }
  return undefined;
}

function scalarError(parts) {
  return new CollectionError(`field path \`${parts.join('.')}\` walks into a scalar`, { kind: 'path' });
}

// `$set`: writes `value` at `parts` in the writable `doc`.
function setAt(doc, parts, value, fresh) {
  checkParts(parts);
  let at = doc;
  for (const p of parts.slice(0, -1)) {
    at = stepDown(at, p, true, fresh, parts);
    if (at === undefined) throw scalarError(parts);
  }
  const last = parts[parts.length - 1];
  if (isPlainObject(at)) {
    putOwn(at, last, value);
  } else if (Array.isArray(at)) {
    const i = parseIndex(last);
    if (i === null) throw scalarError(parts);
    if (i > MAX_PATH_INDEX) throw tooHigh(i, parts);
    padTo(at, i + 1);
    at[i] = value;
  } else {
    throw scalarError(parts);
  }
}

// Walks to the parent of the last part without creating anything; null
// when the path does not exist (which `$unset` and truncation ignore).
function walkExisting(doc, parts, fresh) {
  let at = doc;
  for (const p of parts) {
    try {
      at = stepDown(at, p, false, fresh, parts);
    } catch {
      return null;
    }
    if (at === undefined) return null;
  }
  return { at };
}

// `$unset`: an object key goes, an array element becomes null.
function unsetAt(doc, parts, fresh) {
  checkParts(parts);
  const w = walkExisting(doc, parts.slice(0, -1), fresh);
  if (!w) return;
  const last = parts[parts.length - 1];
  if (isPlainObject(w.at)) {
    if (hasOwn(w.at, last)) delete w.at[last];
  } else if (Array.isArray(w.at)) {
    const i = parseIndex(last);
    if (i !== null && i < w.at.length) w.at[i] = null;
  }
}

// Truncates the array at `parts` to `size` elements.
function truncateAt(doc, parts, size, fresh) {
  checkParts(parts);
  const w = walkExisting(doc, parts, fresh);
  if (w && Array.isArray(w.at) && w.at.length > size) w.at.length = size;
}

/** Code-point order of two strings (UTF-8 byte order, as Rust compares `String`s). */
export function compareStrings(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+10000 and up) sort after U+E000..U+FFFF.
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * The change's dotted paths and their parts. `paths` gives explicit parts
 * for names that contain dots; other paths are split at dots.
 */
function partsOf(change, field) {
  const explicit = change.paths && hasOwn(change.paths, field) ? change.paths[field] : undefined;
  if (explicit === undefined) return splitPath(field);
  if (!Array.isArray(explicit) || explicit.some((p) => typeof p !== 'string')) {
    throw new CollectionError(`paths[${JSON.stringify(field)}] is not a list of strings`, { kind: 'invalid' });
  }
  return explicit;
}

function checkPatchShape(c) {
  const bad = (what) => new CollectionError(`invalid patch: ${what}`, { kind: 'invalid' });
  if (c.set !== undefined && !isPlainObject(c.set)) throw bad('set is not an object');
  if (c.unset !== undefined && (!Array.isArray(c.unset) || c.unset.some((p) => typeof p !== 'string'))) throw bad('unset is not a list of strings');
  if (c.truncate !== undefined) {
    if (!isPlainObject(c.truncate)) throw bad('truncate is not an object');
    for (const [k, n] of Object.entries(c.truncate)) if (!Number.isInteger(n) || n < 0) throw bad(`truncate[${JSON.stringify(k)}] is not a size`);
  }
  if (c.paths !== undefined && !isPlainObject(c.paths)) throw bad('paths is not an object');
}

/** The dotted paths a patch changes: truncated, set, then unset ones, each once. */
export function patchFields(c) {
  const out = [];
  const seen = new Set();
  const add = (f) => { if (!seen.has(f)) { seen.add(f); out.push(f); } };
  if (isPlainObject(c.truncate)) Object.keys(c.truncate).sort(compareStrings).forEach(add);
  if (isPlainObject(c.set)) Object.keys(c.set).forEach(add);
  if (Array.isArray(c.unset)) c.unset.forEach(add);
  return out;
}

/**
 * `doc` with the patch `c` ({set?, unset?, truncate?, paths?}) applied:
 * truncations (in path order), then `set` (in the payload's order), then
 * `unset`. Returns a new document and leaves `doc` untouched (unchanged
 * branches are shared). Throws a CollectionError, having written nothing,
 * for a path that cannot be written.
 */
export function applyPatch(doc, c) {
  checkPatchShape(c);
  const fresh = new Set();
  const next = writable(doc, fresh);
  if (c.truncate) {
    for (const field of Object.keys(c.truncate).sort(compareStrings)) truncateAt(next, partsOf(c, field), c.truncate[field], fresh);
  }
  if (c.set) for (const field of Object.keys(c.set)) setAt(next, partsOf(c, field), c.set[field], fresh);
  if (c.unset) for (const field of c.unset) unsetAt(next, partsOf(c, field), fresh);
  return next;
}

function typeRank(v) {
  if (v === undefined || v === null) return 0;
  switch (typeof v) {
    case 'number': return 1;
    case 'string': return 2;
    case 'boolean': return 5;
    default: return Array.isArray(v) ? 4 : 3;
  }
}

/**
 * Compares two field values (undefined: absent) as the set orders them:
 * missing/null < numbers < strings < objects < arrays < booleans; objects
 * and arrays by their JSON text. Mirrors protocol::collection::order::cmp_values.
 */
export function compareValues(a, b) {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0: return 0;
    case 1:
      if (a < b) return -1;
      if (a > b) return 1;
      // f64::total_cmp: -0 before +0.
      return Object.is(a, b) ? 0 : Object.is(a, -0) ? -1 : 1;
    case 2: return compareStrings(a, b);
    case 5: return a === b ? 0 : a ? 1 : -1;
    default: return compareStrings(JSON.stringify(a), JSON.stringify(b));
  }
}

/** The compact JSON text of a key value: what ties are ordered by. */
export function keyText(key) {
  return JSON.stringify(key);
}

/** The Map key of a key value: a string or number as is, anything else its JSON text. */
export function mapKey(key) {
  return typeof key === 'string' || typeof key === 'number' ? key : JSON.stringify(key);
}

/** A snapshot's set shape: {key, sort, descending, limit}. */
export function setSpec(data = {}) {
  const spec = { key: '_id', sort: null, descending: false, limit: null };
  if (typeof data.key === 'string' && data.key !== '') spec.key = data.key;
  if (typeof data.sort === 'string' && data.sort !== '') spec.sort = data.sort;
  spec.descending = data.descending === true;
  if (Number.isInteger(data.limit) && data.limit >= 0) spec.limit = data.limit;
  return spec;
}

/**
 * Where document `a` (key text `ka`) goes against `b` in `spec`'s order:
 * negative means earlier. Mirrors protocol::collection::order::cmp_members.
 */
export function compareMembers(spec, a, ka, b, kb) {
  let o = 0;
  if (spec.sort) {
    o = compareValues(getPath(a, spec.sort), getPath(b, spec.sort));
    if (spec.descending) o = -o;
  }
  return o !== 0 ? o : compareStrings(ka, kb);
}

/**
 * A client's copy of a live set, with no I/O: `applySnapshot`, then
 * `applyChange` for every change in order. Mirrors
 * protocol::collection::apply::LiveSet.
 */
export class LiveSet {
  constructor(spec) {
    /** The set's shape, from the latest snapshot. */
    this.spec = setSpec(spec);
    /** Map key -> document. */
    this.docs = new Map();
    this._texts = new Map(); // Map key -> key text, for ties
    this._sorted = null;
  }

  /**
   * Replaces the set with a snapshot's `docs` (and its shape). Returns
   * {docs: the documents in order, skipped: documents without a key}.
   * Throws a CollectionError ('invalid') for a payload without `docs`.
   */
  applySnapshot(data) {
    if (!isPlainObject(data) || !Array.isArray(data.docs)) throw new CollectionError('invalid snapshot: no docs list', { kind: 'invalid' });
    this.spec = setSpec(data);
    this.docs = new Map();
    this._texts = new Map();
    this._sorted = null;
    let skipped = 0;
    for (const doc of data.docs) {
      const k = getPath(doc, this.spec.key);
      if (k === undefined) {
        skipped += 1;
        continue;
      }
      this.docs.set(mapKey(k), doc);
      this._texts.set(mapKey(k), keyText(k));
    }
    return { docs: this.sorted(), skipped };
  }

  /**
   * Applies one change ({op, key, doc?, set?, unset?, truncate?, paths?}).
   * Returns {op, key, doc, prev, fields}: `doc` the document after the
   * change (undefined after a remove), `prev` before it (undefined if
   * absent), `fields` a patch's changed dotted paths (null otherwise).
   * Throws a CollectionError and changes nothing when it cannot be applied.
   */
  applyChange(c) {
    if (!isPlainObject(c) || c.key === undefined) throw new CollectionError('invalid change: no key', { kind: 'invalid' });
    const mk = mapKey(c.key);
    const prev = this.docs.get(mk);
    let doc;
    let fields = null;
    switch (c.op) {
      case 'upsert':
        if (c.doc === undefined) throw new CollectionError('invalid upsert: no doc', { kind: 'invalid', key: c.key });
        doc = c.doc;
        break;
      case 'remove':
        doc = undefined;
        break;
      case 'patch':
        if (!this.docs.has(mk)) {
          throw new CollectionError(`patch for key ${keyText(c.key)}, which the set does not hold`, { kind: 'missing', key: c.key });
        }
        try {
          doc = applyPatch(prev, c);
        } catch (e) {
          if (e instanceof CollectionError) e.key = c.key;
          throw e;
        }
        fields = patchFields(c);
        break;
      default:
        throw new CollectionError(`invalid change: unknown op ${JSON.stringify(c.op)}`, { kind: 'invalid', key: c.key });
    }
    this._sorted = null;
    if (doc === undefined) {
      this.docs.delete(mk);
      this._texts.delete(mk);
    } else {
      this.docs.set(mk, doc);
      this._texts.set(mk, keyText(c.key));
    }
    return { op: c.op, key: c.key, doc, prev, fields };
  }

  /** The documents in the set's order (sort, descending, then key), at most `limit`. */
  sorted() {
    if (!this._sorted) {
      const all = [...this.docs.keys()].map((k) => [this._texts.get(k), this.docs.get(k)]);
      all.sort(([ka, a], [kb, b]) => compareMembers(this.spec, a, ka, b, kb));
      const docs = all.map(([, d]) => d);
      this._sorted = this.spec.limit === null ? docs : docs.slice(0, this.spec.limit);
    }
    return this._sorted.slice();
  }
}

/**
 * A live collection on a Herald client (`h.collection(room)`): a LiveSet
 * kept in step with the room's messages.
 */
export class LiveCollection {
  constructor(herald, room, opts = {}) {
    this.room = room;
    this.set = new LiveSet();
    /** Offset and epoch of the last message applied (null before any). */
    this.offset = null;
    this.epoch = null;
    /** Counters, for tests and debugging. */
    this.stats = { snapshots: 0, changes: 0, errors: 0, refreshes: 0 };
    this.closed = false;
    this._herald = herald;
    this._listeners = new Map();
    // Until a snapshot (or an empty room) sets the baseline, changes have
    // nothing to apply to and are ignored.
    this._awaiting = true;
    this._settled = false;
    this.ready = new Promise((resolve, reject) => { this._ready = { resolve, reject }; });
    this.ready.catch(() => {});
    const r = herald._rooms.get(room);
    // A room this client is already in (by another subscription) would hand
    // us its latest change, not a snapshot: ask for a fresh one.
    const joined = !!r && (r.state === 'active' || r.cursor.known);
    this._sub = herald.subscribe(room, {
      onReset: (info) => this._onReset(info),
      onMessage: (msg) => this._onMessage(msg),
      onError: (err) => {
        this._emit('error', err);
        this._settle(err);
      },
    }, { leaveOthers: !!opts.leaveOthers });
    if (joined) this._refresh();
  }

  /** Map key -> document: the room's set. */
  get docs() { return this.set.docs; }

  /** The set's shape from the latest snapshot: {key, sort, descending, limit}. */
  get spec() { return this.set.spec; }

  /** The documents in the set's order, at most `limit`. */
  sorted() { return this.set.sorted(); }

  /** Listens to 'change', 'reset' or 'error'. Returns a function that stops listening. */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event)?.delete(fn);
  }

  /** Leaves the room (unless another subscription holds it) and stops all events. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this._sub.unsubscribe();
    this._settle(new Error('herald: collection closed'));
    this._listeners.clear();
  }

  _onReset(info) {
    this.epoch = info.epoch;
    if (info.offset === 0) {
      // An empty room: the set is empty, and every message is a change.
      this._replace({ room: this.room, docs: [] }, null);
      return;
    }
    this._awaiting = true; // the snapshot follows
  }

  _onMessage(msg) {
    if (this.closed) return;
    if (msg.event === COLLECTION_EVENTS.SNAPSHOT) {
      this._replace(msg.data, msg);
      return;
    }
    if (msg.event !== COLLECTION_EVENTS.CHANGE || this._awaiting) return;
    let ev;
    try {
      ev = this.set.applyChange(msg.data);
    } catch (e) {
      this._fail(e, msg);
      if (e.kind === 'missing') this._refresh();
      return;
    }
    this._at(msg);
    this.stats.changes += 1;
    this._emit('change', ev);
  }

  _replace(data, msg) {
    let out;
    try {
      out = this.set.applySnapshot(data);
    } catch (e) {
      this._fail(e, msg);
      return;
    }
    if (msg) this._at(msg);
    else this.offset = 0;
    this._awaiting = false;
    this.stats.snapshots += 1;
    if (out.skipped) this._fail(new CollectionError(`snapshot: ${out.skipped} documents without the key \`${this.set.spec.key}\` skipped`, { kind: 'invalid' }), msg);
    this._emit('reset', { docs: out.docs, reset: !!(data && data.reset) });
    this._settle(null);
  }

  _at(msg) {
    this.offset = msg.offset;
  }

  _fail(e, msg) {
    this.stats.errors += 1;
    if (e instanceof CollectionError) {
      e.room = this.room;
      if (msg) e.offset = msg.offset;
    }
    this._emit('error', e);
  }

  // Lost track (a patch for a key not held): resubscribe without `since`.
  _refresh() {
    this._awaiting = true;
    this.stats.refreshes += 1;
    this._herald._refresh(this.room);
  }

  _settle(err) {
    if (this._settled) return;
    this._settled = true;
    if (err) this._ready.reject(err);
    else this._ready.resolve(this);
  }

  _emit(event, arg) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(arg);
      } catch (e) {
        report(e);
      }
    }
  }
}

function collectionOf(herald, room, opts) {
  if (typeof room !== 'string' || room === '') throw new TypeError('herald: room must be a non-empty string');
  return new LiveCollection(herald, room, opts);
}

/**
 * A live collection of `room` (see "live collections" above).
 * `opts.leaveOthers`: leave every other room, as for `subscribe`.
 */
Herald.prototype.collection = function collection(room, opts = {}) {
  return collectionOf(this, room, opts);
};
SseHerald.prototype.collection = Herald.prototype.collection;

// Forgets the room's position and subscribes again without `since`, so a
// snapshot follows; messages until then are dropped.
Herald.prototype._refresh = function refresh(name) {
  const r = this._rooms.get(name);
  if (!r) return;
  r.cursor = new RoomCursor();
  r.last = null;
  r.state = 'pending';
  // Already in the room: the gateway answers with `subscribed` (not
  // recovered) and the snapshot. Not connected: the next connection does.
  if (this._open) this._sendSubscribe(r, { resync: true });
};

SseHerald.prototype._refresh = function refresh(name) {
  const r = this._rooms.get(name);
  if (!r) return;
  r.cursor = new RoomCursor();
  r.last = null;
  for (const room of this._rooms.values()) room.state = 'pending';
  // The stream is reopened with an empty position for this room.
  this._stop();
  this._queueReopen();
};

export default Herald;
