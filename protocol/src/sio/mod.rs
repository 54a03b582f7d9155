//! Engine.IO v4 and Socket.IO v5 codecs (see `docs/socketio.md`).
