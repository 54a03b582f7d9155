// A TCP round-robin in front of several gateways, for the crash tests
// (sio-crash.mjs): one listening port per client, so that every request of a
// polling session (and its WebSocket upgrade) reaches the same gateway.
//
// - Client i starts on backend i % n (round-robin).
// - A connection to a backend that refuses it marks that backend dead for
//   every client, and the connection moves on to the next live backend,
//   which then becomes the client's backend (sticky again).
// - When a backend connection ends, the client's connection ends too; when
//   it is reset (ECONNRESET), the client's connection is reset too.
import net from 'node:net';

/// Backends shared by every client's proxy: `{host, port, name}` each, and
/// which of them were found dead.
export class Backends {
  constructor(list) {
    this.list = list;
    this.dead = new Set();
  }

  /// The first live backend at or after `i` (round-robin), or -1.
  next(i) {
    for (let k = 0; k < this.list.length; k++) {
      const j = (i + k) % this.list.length;
      if (!this.dead.has(j)) return j;
    }
    return -1;
  }
}

/// One client's proxy port.
export class StickyProxy {
  constructor(backends, first) {
    this.backends = backends;
    this.current = first % backends.list.length;
    /// Backend index of every upstream connection made, in order.
    this.history = [];
    this.open = new Set();
    this.server = net.createServer((c) => this.accept(c));
  }

  /// Listens on a free loopback port; resolves with the `http://` URL.
  listen() {
    return new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${this.server.address().port}`));
    });
  }

  /// The name of the backend this client is on now.
  backendName() {
    return this.backends.list[this.current].name;
  }

  accept(client) {
    client.pause();
    client.on('error', () => {});
    this.open.add(client);
    client.on('close', () => this.open.delete(client));
    this.connect(client, 0);
  }

  connect(client, attempt) {
    const idx = this.backends.next(this.current);
    if (idx < 0 || attempt > this.backends.list.length) {
      client.destroy();
      return;
    }
    this.current = idx;
    const b = this.backends.list[idx];
    const up = net.connect(b.port, b.host);
    let connected = false;
    up.setNoDelay(true);
    client.setNoDelay(true);
    up.once('connect', () => {
      connected = true;
      this.history.push(idx);
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.on('error', (e) => {
      if (!connected) {
        this.backends.dead.add(idx);
        this.connect(client, attempt + 1);
      } else if (e.code === 'ECONNRESET' && typeof client.resetAndDestroy === 'function') {
        client.resetAndDestroy();
      } else {
        client.destroy();
      }
    });
    up.on('close', () => {
      if (connected) client.destroy();
    });
    client.on('close', () => up.destroy());
  }

  close() {
    for (const c of this.open) c.destroy();
    this.server.close();
  }
}
