// A minimal EventSource for Node 20 (which has none), enough for herald.js's
// SSE transport against a real gateway: GET with `Accept: text/event-stream`
// over fetch, `event:`/`data:` fields, `onopen`, `onerror`,
// `addEventListener(name, fn)` and `close()`. It never reconnects by itself
// (herald.js reopens the stream with its own positions). `drop()` ends the
// stream as a lost network would, for tests.
export class NodeEventSource {
  constructor(url) {
    this.url = url;
    this.onopen = null;
    this.onerror = null;
    this.readyState = 0;
    this._listeners = new Map();
    this._abort = new AbortController();
    this._run().catch(() => this._fail());
  }

  addEventListener(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
  }

  close() {
    this.readyState = 2;
    this._abort.abort();
  }

  /** Ends the stream abruptly; `onerror` follows, as after a network loss. */
  drop() {
    this._abort.abort();
    this._fail();
  }

  _fail() {
    if (this.readyState === 2) return;
    this.readyState = 2;
    if (this.onerror) this.onerror(new Event('error'));
  }

  async _run() {
    const resp = await fetch(this.url, { headers: { accept: 'text/event-stream' }, signal: this._abort.signal });
    if (!resp.ok || !resp.body) throw new Error(`GET ${this.url} answered ${resp.status}`);
    this.readyState = 1;
    if (this.onopen) this.onopen();
    const decoder = new TextDecoder();
    let buf = '';
    let event = 'message';
    let data = [];
    for await (const chunk of resp.body) {
      buf += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (data.length) this._dispatch(event, data.join('\n'));
          event = 'message';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
    }
    this._fail(); // the gateway ended the stream
  }

  _dispatch(name, data) {
    if (this.readyState === 2) return;
    for (const fn of this._listeners.get(name) || []) fn({ type: name, data });
  }
}
