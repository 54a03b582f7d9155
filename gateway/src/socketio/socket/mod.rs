//! The Socket.IO layer of one Engine.IO session: its namespace sockets,
//! the client's events and acks, and the room messages it is sent.
//!
//! All namespaces of a session share one [`Subscriptions`] (one hub
//! connection, one link); each namespace socket keeps the set of rooms it
//! joined, and a room message is written to every namespace socket in its
//! room (the link's slot for the room lists them, so the fan-out writes
//! each its own frame). Herald's rooms are global: the same room joined
//! from two namespaces is one subscription.

mod backend;

pub use backend::{Done, MAX_HELD};

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use herald_protocol::native::{CloseCode, ErrorCode};
use herald_protocol::sio::{
    BinaryAssembler, DEFAULT_NSP, MAX_ATTACHMENTS, SioKind, SioPacket, encode_frame,
};
use herald_protocol::{Position, RoomName};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::polling::Frame;
use super::recovery::{self, Found, Live, Record, RoomState};
use super::{SioState, random_id};
use crate::auth::{Access, AuthError, Denied, Gate, gate};
use crate::hub::rooms::ConnId;
use crate::hub::subscriptions::{Emit, Subscriptions};
use crate::proxy::handshake::Handshake;
use crate::transport::frames::Broadcast;
use crate::transport::link::{Link, Out};
use crate::transport::publish::client_publish;
use crate::transport::rate::Bucket;
use crate::transport::sentlog::SentLog;
use herald_bus::ask::{Ask, MAX_PENDING_PER_SESSION};
use herald_protocol::sio::json_binary::inline_binary;

/// The event that publishes to a room when client publishes are allowed:
/// `socket.emit("publish", room, event, data, ack)`.
pub const PUBLISH_EVENT: &str = "publish";

/// The event a client sends to replace its token before it expires:
/// `socket.emit("herald:refresh", token, ack)`.
pub const REFRESH_EVENT: &str = "herald:refresh";

/// The event the gateway sends when it refuses a request or is about to
/// close the session for its token: `{code, name, message, room?}`.
pub const ERROR_EVENT: &str = "herald:error";

/// The event a socket in a presence room gets when a user joins or leaves
/// it: `{room, user, action}` with `action` `join` or `leave`.
pub const PRESENCE_EVENT: &str = "herald:presence";

/// A CONNECT refused for its token: the CONNECT_ERROR's message and the
/// close code its `data` names.
struct Refusal {
    code: CloseCode,
    message: String,
}

impl Refusal {
    /// The CONNECT_ERROR: `err.message` says why, `err.data` is
    /// `{code, name, reconnect}` (reconnect only with a fresh token).
    fn into_packet(self, nsp: String) -> SioPacket {
        let data = json!({
            "code": u16::from(self.code),
            "name": self.code.name(),
            "reconnect": self.code == CloseCode::TokenExpired,
        });
        SioPacket::connect_error_with(nsp, &self.message, data)
    }
}

/// The client broke the protocol: the Engine.IO session must close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The `herald_gateway_client_errors_total` code.
    pub code: &'static str,
    /// What was wrong, for the log.
    pub reason: String,
}

impl Violation {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadFrame.name(),
            reason: reason.into(),
        }
    }
}

/// One namespace socket.
struct NspSocket {
    /// The namespace, `/` for the main one.
    nsp: String,
    /// Rooms this socket joined.
    rooms: HashSet<RoomName>,
    /// The private id for connection state recovery (recovery on only).
    pid: Option<String>,
    /// This socket's id in the link (which logs what it is sent).
    id: u16,
    /// Its CONNECT's `auth`, kept only for the event proxy's requests.
    auth: Option<Box<Map<String, Value>>>,
    /// Its rooms as kept in Redis for crash-safe recovery (recovery on a
    /// Redis bus only).
    live: Option<Box<Live>>,
}

/// An event sent with an ack id, waiting for the client's ACK.
struct AwaitingAck {
    /// The ack id the event carried.
    id: u64,
    /// The namespace it was sent in.
    nsp: String,
    /// The ask to answer.
    ask: Arc<Ask>,
}

/// The hub side of a session, created at its first CONNECT (which carries
/// the `auth` the hub registers the user from).
struct Core {
    /// The session's hub connection.
    conn: ConnId,
    /// Its rooms and positions.
    subs: Subscriptions,
}

/// A session's Socket.IO state.
pub struct Sockets {
    /// Shared Socket.IO state (config via `sio.app`).
    sio: Arc<SioState>,
    /// The Engine.IO sid, also the hub's session id.
    sid: String,
    /// The session's write side.
    link: Arc<Link>,
    /// Hub connection and subscriptions, once a namespace is joined.
    core: Option<Core>,
    /// Joined namespaces, in join order.
    nsps: Vec<NspSocket>,
    /// Joins binary packets with their attachments.
    assembler: BinaryAssembler,
    /// Subscription output not yet turned into frames (kept for its capacity).
    emits: Vec<Emit>,
    /// The last ack id used for a server emit.
    last_ack_id: u64,
    /// Server emits waiting for the client's ACK (at most
    /// [`MAX_PENDING_PER_SESSION`]).
    awaiting: Vec<AwaitingAck>,
    /// What the session may do, from its first accepted CONNECT.
    access: Option<Access>,
    /// The client's packet budget.
    bucket: Bucket,
    /// The client's subscribe budget.
    subscribes: Bucket,
    /// Set when a client request must close the session (subscribing too fast).
    closing: Option<CloseCode>,
    /// Requests to the application backend and the packets held behind a
    /// CONNECT it is asked about (created at the first request).
    backend: Option<Box<backend::Pending>>,
    /// The user the session registered with, for the backend's requests.
    user: Option<Arc<str>>,
    /// Its handshake's headers and address, kept for the connect proxy
    /// only (`None` without one).
    handshake: Option<Box<Handshake>>,
}

impl Sockets {
    /// A session with no namespace joined yet.
    pub fn new(
        sio: Arc<SioState>,
        sid: String,
        link: Arc<Link>,
        handshake: Option<Box<Handshake>>,
    ) -> Self {
        let bucket = Bucket::new(sio.app.config.limits.frame_rate);
        let subscribes = Bucket::new(sio.app.config.limits.subscribe_rate);
        Self {
            sio,
            sid,
            link,
            core: None,
            nsps: Vec::new(),
            assembler: BinaryAssembler::new(MAX_ATTACHMENTS),
            emits: Vec::new(),
            last_ack_id: 0,
            awaiting: Vec::new(),
            access: None,
            bucket,
            subscribes,
            closing: None,
            backend: None,
            user: None,
            handshake,
        }
    }

    /// Whether a namespace has been joined (a CONNECT was accepted).
    pub fn connected(&self) -> bool {
        !self.nsps.is_empty()
    }

    /// Takes an Engine.IO text message.
    ///
    /// # Errors
    /// [`Violation`] for an invalid packet or one out of place.
    pub async fn on_text(&mut self, text: &str, out: &mut Vec<Frame>) -> Result<(), Violation> {
        match self.assembler.handle_text(text) {
            Ok(Some(packet)) => self.on_packet(packet, out).await,
            Ok(None) => Ok(()),
            Err(e) => Err(Violation::new(e.to_string())),
        }
    }

    /// Takes an Engine.IO binary message (an attachment).
    ///
    /// # Errors
    /// [`Violation`] for an attachment nobody announced.
    pub async fn on_binary(&mut self, bytes: Bytes, out: &mut Vec<Frame>) -> Result<(), Violation> {
        match self.assembler.handle_binary(bytes) {
            Ok(Some(packet)) => self.on_packet(packet, out).await,
            Ok(None) => Ok(()),
            Err(e) => Err(Violation::new(e.to_string())),
        }
    }

    /// Handles what the hub queued for the session.
    pub async fn on_out(&mut self, items: &mut VecDeque<Out>, out: &mut Vec<Frame>) {
        if self.core.is_none() {
            for item in items.drain(..) {
                if let Out::Ask(ask) = item {
                    ask.refused(&self.sid, "the socket joined no namespace");
                }
            }
            return;
        }
        while let Some(item) = items.pop_front() {
            if let Out::Ask(ask) = item {
                self.send_ask(ask, out);
                continue;
            }
            let Some(core) = self.core.as_mut() else {
                return;
            };
            let joined = match &item {
                Out::Join(room) => {
                    // An operator's join: the main namespace socket (or the
                    // first one) gets the room's messages.
                    let target = self
                        .nsps
                        .iter()
                        .position(|s| s.nsp == DEFAULT_NSP)
                        .unwrap_or(0);
                    if let Some(s) = self.nsps.get_mut(target) {
                        s.rooms.insert(room.clone());
                    }
                    Some(room.clone())
                }
                _ => None,
            };
            core.subs.on_out(item, &mut self.emits).await;
            if let Some(room) = joined {
                self.sync_slot(&room);
            }
        }
        self.flush_emits(None, out);
    }

    /// When the session's token expires (its `exp` plus the leeway).
    pub fn expiry(&self) -> Option<Instant> {
        match self.access.as_ref()?.deadline() {
            Some((at, CloseCode::TokenExpired)) => Some(at),
            _ => None,
        }
    }

    /// Takes one client packet's token from the session's budget;
    /// `false` when the client sends faster than allowed (then 4010).
    pub fn take_frame(&mut self) -> bool {
        self.bucket.take(self.sio.app.config.limits.frame_rate)
    }

    /// The close a client request asked for (subscribing too fast), once.
    pub fn take_closing(&mut self) -> Option<CloseCode> {
        self.closing.take()
    }

    /// Adds the `herald:error` event that tells every namespace socket why
    /// the session is about to close (`code`: 4007 or 4010), before a close
    /// the client recovers from by reconnecting (with a fresh token, or
    /// after a backoff).
    pub fn closing_notice(&self, code: CloseCode, out: &mut Vec<Frame>) {
        let message = match code {
            CloseCode::TokenExpired => "the connection token expired: reconnect with a fresh one",
            CloseCode::FrameFlood => "packets sent faster than this gateway allows",
            CloseCode::SubscribeFlood => "subscribes sent faster than this gateway allows",
            _ => "the gateway is closing this session",
        };
        let notice = json!({
            "code": u16::from(code),
            "name": code.name(),
            "message": message,
        });
        for s in &self.nsps {
            push_packet(
                out,
                &SioPacket::event(s.nsp.clone(), ERROR_EVENT, [notice.clone()]),
            );
        }
    }

    /// Counts a client error by code.
    pub fn count_error(&self, code: &'static str) {
        self.sio.app.hub.metrics().client_error(code);
    }

    /// Adds a DISCONNECT for every joined namespace (a server-side
    /// disconnect: the client does not reconnect).
    pub fn disconnect_frames(&self, out: &mut Vec<Frame>) {
        for s in &self.nsps {
            push_packet(out, &SioPacket::disconnect(s.nsp.clone()));
        }
    }

    /// Call once the frames produced so far are written: puts caught-up
    /// rooms back on the fan-out's direct path.
    pub fn settle(&mut self) {
        if let Some(core) = self.core.as_mut() {
            core.subs.settle();
        }
    }

    /// Rewrites the live recovery records that are due (every half
    /// recovery window). Call on the heartbeat: the records' lifetime
    /// allows for a ping interval and timeout between calls.
    pub fn refresh_live(&mut self) {
        if self.nsps.iter().any(|s| s.live.is_some()) {
            let now = Instant::now();
            for s in &mut self.nsps {
                if let Some(live) = s.live.as_mut() {
                    live.refresh_if_due(&self.sio.recovery, now);
                }
            }
        }
    }

    /// Tells the link which namespace sockets get `room`'s messages.
    fn sync_slot(&self, room: &RoomName) {
        let Some(core) = self.core.as_ref() else {
            return;
        };
        let Some(slot) = core.subs.slot(room) else {
            return;
        };
        let ids = self
            .nsps
            .iter()
            .filter(|s| s.rooms.contains(room))
            .map(|s| s.id)
            .collect();
        self.link.set_slot_nsps(slot, ids);
    }

    /// Ends the session: keeps each namespace socket for recovery when
    /// `recoverable`, leaves every room, unregisters from the hub.
    pub fn finish(&mut self, recoverable: bool) {
        self.refuse_awaiting(None);
        if let Some(core) = self.core.take() {
            if !recoverable {
                for i in 0..self.nsps.len() {
                    self.live_delete(i);
                }
            } else {
                for s in self.nsps.drain(..) {
                    let Some(pid) = s.pid else { continue };
                    let rooms = s
                        .rooms
                        .iter()
                        .filter_map(|r| {
                            core.subs.position(r).map(|p| RoomState {
                                room: r.clone(),
                                epoch: Arc::from(p.epoch),
                                last: p.offset,
                            })
                        })
                        .collect();
                    let record = Record {
                        nsp: s.nsp,
                        rooms,
                        sent: self.link.remove_nsp(s.id).unwrap_or_default(),
                    };
                    if !self.sio.recovery.put_shared(pid, record) {
                        tracing::debug!("recovery store full; socket not kept");
                    }
                }
            }
            let hub = self.sio.app.hub.clone();
            // Dropping the subscriptions leaves every room.
            drop(core.subs);
            hub.unregister(core.conn);
        }
        self.nsps.clear();
    }

    async fn on_packet(
        &mut self,
        packet: SioPacket,
        out: &mut Vec<Frame>,
    ) -> Result<(), Violation> {
        if self.backend.as_ref().is_some_and(|b| b.connecting()) {
            return self.hold(packet);
        }
        let idx = self.nsps.iter().position(|s| s.nsp == packet.nsp);
        match (packet.kind.base(), idx) {
            (SioKind::Connect, None) => self.on_connect(packet, out).await,
            (SioKind::Connect, Some(_)) => Err(Violation::new(format!(
                "CONNECT to {} which is already joined",
                packet.nsp
            ))),
            (SioKind::Disconnect, Some(i)) => {
                self.leave_nsp(i);
                Ok(())
            }
            (SioKind::Event, Some(i)) => {
                self.on_event(i, packet, out).await;
                Ok(())
            }
            (SioKind::Ack, Some(_)) => {
                self.on_ack(packet);
                Ok(())
            }
            (kind, _) => Err(Violation::new(format!(
                "{kind} packet for namespace {} in this state",
                packet.nsp
            ))),
        }
    }

    /// Sends an ask's event with a fresh ack id in the namespace it is for:
    /// the first one that joined the ask's room, or the main one.
    fn send_ask(&mut self, ask: Arc<Ask>, out: &mut Vec<Frame>) {
        self.awaiting.retain(|a| !a.ask.abandoned());
        if self.awaiting.len() >= MAX_PENDING_PER_SESSION {
            ask.refused(&self.sid, "too many acknowledgements pending");
            return;
        }
        let target = match &ask.room {
            Some(room) => self.nsps.iter().position(|s| s.rooms.contains(room)),
            None => self
                .nsps
                .iter()
                .position(|s| s.nsp == DEFAULT_NSP)
                .or((!self.nsps.is_empty()).then_some(0)),
        };
        let Some(i) = target else {
            ask.refused(&self.sid, "the socket is not in the room");
            return;
        };
        self.last_ack_id += 1;
        let nsp = self.nsps[i].nsp.clone();
        let mut packet = SioPacket::event(nsp.clone(), &ask.event, [ask.data.clone()]);
        packet.id = Some(self.last_ack_id);
        push_packet(out, &packet);
        self.awaiting.push(AwaitingAck {
            id: self.last_ack_id,
            nsp,
            ask,
        });
    }

    /// A client's ACK: answers the ask it belongs to. An ACK nobody waits
    /// for (late, or a made-up id) is ignored, as Socket.IO servers do.
    fn on_ack(&mut self, packet: SioPacket) {
        let Some(pos) = self
            .awaiting
            .iter()
            .position(|a| Some(a.id) == packet.id && a.nsp == packet.nsp)
        else {
            return;
        };
        let waiting = self.awaiting.swap_remove(pos);
        let mut args = Value::Array(packet.args().to_vec());
        if !packet.attachments.is_empty() {
            inline_binary(&mut args, &packet.attachments);
        }
        let Value::Array(args) = args else {
            return;
        };
        waiting.ask.acked(&self.sid, &waiting.nsp, args);
    }

    /// Answers the asks waiting in `nsp` (every namespace for `None`): the
    /// socket left, so no ACK will come.
    fn refuse_awaiting(&mut self, nsp: Option<&str>) {
        let sid = &self.sid;
        self.awaiting.retain(|a| {
            let gone = nsp.is_none_or(|n| n == a.nsp);
            if gone {
                a.ask.refused(sid, "the socket disconnected");
            }
            !gone
        });
    }

    fn allowed(&self, nsp: &str) -> bool {
        nsp == DEFAULT_NSP
            || self
                .sio
                .app
                .config
                .socketio
                .namespaces
                .as_ref()
                .is_none_or(|list| list.iter().any(|n| n == nsp))
    }

    async fn on_connect(
        &mut self,
        packet: SioPacket,
        out: &mut Vec<Frame>,
    ) -> Result<(), Violation> {
        let app = self.sio.app.clone();
        let cfg = &app.config.socketio;
        let nsp = packet.nsp.clone();
        if !self.allowed(&nsp) {
            app.hub.metrics().client_error("invalid_namespace");
            push_packet(out, &SioPacket::connect_error(nsp, "Invalid namespace"));
            return Ok(());
        }
        if self.nsps.len() >= cfg.max_namespaces {
            app.hub.metrics().client_error("too_many_namespaces");
            push_packet(out, &SioPacket::connect_error(nsp, "Too many namespaces"));
            return Ok(());
        }
        let auth = match &packet.data {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        if let Some(Value::String(token)) = auth.and_then(|a| a.get("token")) {
            Box::pin(app.config.auth.settle(token)).await;
        }
        if let Err(refusal) = self.admit(auth) {
            push_packet(out, &refusal.into_packet(nsp));
            return Ok(());
        }
        if app.config.proxy.connect_url.is_some() {
            self.ask_connect(nsp, packet.data);
            return Ok(());
        }
        self.accept(nsp, auth, None, out).await;
        Ok(())
    }

    /// Joins namespace `nsp` (its CONNECT accepted): registers the session
    /// with the hub at its first namespace (as `user`, when its token names
    /// none), answers the CONNECT, restores recovered rooms.
    async fn accept(
        &mut self,
        nsp: String,
        auth: Option<&Map<String, Value>>,
        user: Option<String>,
        out: &mut Vec<Frame>,
    ) {
        let app = self.sio.app.clone();
        let cfg = &app.config.socketio;
        if self.core.is_none() {
            let claimed = || {
                auth.and_then(|a| a.get("user"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let user = match self.access.as_ref().and_then(Access::user) {
                Some(user) => Some(user.to_owned()),
                None if user.is_some() => user,
                None if app.config.auth.trusts_client_user() => claimed(),
                None => None,
            };
            if app.config.proxy.event_url.is_some() {
                self.user = user.as_deref().map(Arc::from);
            }
            let conn = app.hub.register(user, self.link.clone());
            let subs = Subscriptions::new(
                app.hub.clone(),
                conn,
                self.link.clone(),
                app.config.limits.max_rooms_per_connection,
                app.config.snapshot_depth,
            );
            self.core = Some(Core { conn, subs });
        }

        let mut restored = None;
        if cfg.recovery
            && let Some(pid) = auth.and_then(|a| a.get("pid")).and_then(Value::as_str)
        {
            let offset = auth.and_then(|a| a.get("offset")).and_then(Value::as_str);
            let found = self.sio.recovery.take_shared(pid).await;
            let crashed = matches!(found, Some(Found::Crashed(_)));
            restored = match found {
                Some(Found::Closed(rec)) if rec.nsp == nsp => {
                    recovery::positions(&rec, offset).map(|pos| (pid.to_owned(), pos, rec.sent))
                }
                Some(Found::Crashed(rec)) if rec.nsp == nsp => {
                    recovery::live_positions(&rec, offset)
                        .map(|pos| (pid.to_owned(), pos, SentLog::default()))
                }
                _ => None,
            };
            tracing::debug!(recovered = restored.is_some(), crashed, "recovery asked");
        }
        let pid = match &restored {
            Some((pid, _, _)) => Some(pid.clone()),
            None => cfg.recovery.then(random_id),
        };
        let restoring = restored.is_some();
        let (positions, sent) = match restored {
            Some((_, pos, sent)) => (pos, sent),
            None => (Vec::new(), SentLog::default()),
        };
        let id = self
            .link
            .add_nsp(Arc::from(nsp.as_str()), cfg.recovery, sent);
        // Most sessions join one namespace: no spare slots per session.
        self.nsps.reserve_exact(1);
        let auth = app
            .config
            .proxy
            .event_url
            .as_ref()
            .and(auth)
            .map(|a| Box::new(a.clone()));
        let live = pid
            .as_deref()
            .and_then(|p| self.sio.recovery.live(p, &nsp))
            .map(Box::new);
        self.nsps.push(NspSocket {
            nsp,
            rooms: HashSet::new(),
            pid,
            id,
            auth,
            live,
        });
        let idx = self.nsps.len() - 1;
        // Whether every restored room resumes exactly where the client
        // stopped; otherwise the socket is not passed off as recovered.
        let mut exact = true;
        for (room, since) in positions {
            if !self.access.as_ref().is_some_and(|a| a.may_hold(&room)) {
                continue;
            }
            let Some(core) = self.core.as_mut() else {
                break;
            };
            self.nsps[idx].rooms.insert(room.clone());
            if !core.subs.contains(&room)
                && let Err(e) = core
                    .subs
                    .subscribe(room.clone(), Some(since.clone()), None, &mut self.emits)
                    .await
            {
                tracing::warn!(%room, error = %e, "could not restore a room");
                self.nsps[idx].rooms.remove(&room);
                exact = false;
            } else if let Some(live) = self.nsps[idx].live.as_mut() {
                live.join(&self.sio.recovery, &room, &since);
            }
            self.sync_slot(&room);
        }
        exact &= !self.emits.iter().any(|e| {
            matches!(
                e,
                Emit::Subscribed {
                    recovered: false,
                    ..
                }
            )
        });
        if restoring && !exact {
            self.unrecover(idx);
        }
        // The CONNECT's answer goes before the restored messages; its `pid`
        // is the old one only when the socket is recovered.
        push_packet(
            out,
            &SioPacket::connect_ok(
                self.nsps[idx].nsp.clone(),
                &random_id(),
                self.nsps[idx].pid.as_deref(),
            ),
        );
        self.flush_emits(Some(idx), out);
    }

    /// Notes in socket `i`'s live record that it joined `room`, standing at
    /// `head`: it needs nothing of the room up to `since` (a resume point
    /// at or before the head), else up to the snapshot it is sent (never
    /// past what it was sent).
    fn live_join(&mut self, i: usize, room: &RoomName, head: Position, since: Option<Position>) {
        let depth = self.sio.app.config.snapshot_depth as u64;
        let Some(live) = self.nsps[i].live.as_mut() else {
            return;
        };
        let before = match since {
            Some(s) if s.epoch == head.epoch && s.offset <= head.offset => s,
            _ => Position {
                offset: head.offset.saturating_sub(depth),
                epoch: head.epoch,
            },
        };
        live.join(&self.sio.recovery, room, &before);
    }

    /// Notes in socket `i`'s live record that it left `room`.
    fn live_leave(&mut self, i: usize, room: &RoomName) {
        if let Some(live) = self.nsps[i].live.as_mut() {
            live.leave(&self.sio.recovery, room);
        }
    }

    /// Socket `i` will not be recovered: its live record goes.
    fn live_delete(&mut self, i: usize) {
        if let Some(live) = self.nsps[i].live.take() {
            live.delete(&self.sio.recovery);
        }
    }

    /// A recovery that cannot be exact (a room's history no longer holds
    /// what the socket missed, or the bus failed): the socket starts over
    /// with a new `pid` and no rooms, so the client sees `recovered`
    /// false and its own subscribes get each room's current state.
    fn unrecover(&mut self, idx: usize) {
        tracing::debug!("recovery not exact; a fresh socket instead");
        self.emits.clear();
        let rooms: Vec<RoomName> = self.nsps[idx].rooms.drain().collect();
        for room in &rooms {
            self.release(room);
        }
        self.live_delete(idx);
        let s = &mut self.nsps[idx];
        self.link.remove_nsp(s.id);
        s.id = self
            .link
            .add_nsp(Arc::from(s.nsp.as_str()), true, SentLog::default());
        let pid = random_id();
        s.live = self.sio.recovery.live(&pid, &s.nsp).map(Box::new);
        s.pid = Some(pid);
    }

    /// Checks a CONNECT's `auth.token` (or its absence) against the gate.
    /// The first accepted CONNECT sets the session's standing; a later
    /// one with a token replaces it, and one without keeps it.
    fn admit(&mut self, auth: Option<&Map<String, Value>>) -> Result<(), Refusal> {
        let gate = &self.sio.app.config.auth;
        let metrics = self.sio.app.hub.metrics();
        let token = auth.and_then(|a| a.get("token"));
        let token = match token {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.as_str()),
            Some(_) => {
                metrics.auth_refusal("malformed");
                return Err(Refusal {
                    code: CloseCode::TokenInvalid,
                    message: "auth.token must be a string".into(),
                });
            }
        };
        if token.is_none() && self.access.is_some() {
            return Ok(());
        }
        let access = Access::start(gate, token).map_err(|e| {
            metrics.auth_refusal(e.code());
            tracing::debug!(code = e.code(), "token refused");
            Refusal {
                code: gate::close_code(&e),
                message: e.to_string(),
            }
        })?;
        if !access.is_authenticated() {
            metrics.auth_refusal(AuthError::Missing.code());
            return Err(Refusal {
                code: CloseCode::TokenInvalid,
                message: AuthError::Missing.to_string(),
            });
        }
        if let (Some(core), Some(user)) = (&self.core, access.user()) {
            self.sio.app.hub.set_user(core.conn, Some(user.to_owned()));
        }
        self.access = Some(access);
        Ok(())
    }

    /// `herald:refresh`: replaces the session's token (same user).
    fn refresh(&mut self, arg: Option<&Value>) -> Result<Option<Value>, (ErrorCode, String)> {
        let Some(Value::String(token)) = arg else {
            return Err((
                ErrorCode::BadFrame,
                "herald:refresh takes the new token as a string".into(),
            ));
        };
        let gate = &self.sio.app.config.auth;
        let metrics = self.sio.app.hub.metrics();
        let Some(access) = self.access.as_mut() else {
            return Err((ErrorCode::Unauthorized, "not connected".into()));
        };
        let grant = access.authenticate(gate, token).map_err(|e| {
            metrics.auth_refusal(e.code());
            (ErrorCode::Unauthorized, e.to_string())
        })?;
        let reply = json!({ "user": grant.user, "expires": grant.expires });
        // Rooms the new grant no longer covers are left.
        let gone: Vec<(usize, RoomName)> = self
            .nsps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.rooms.iter().map(move |r| (i, r.clone())))
            .filter(|(_, r)| !access.may_hold(r))
            .collect();
        for (i, room) in gone {
            self.nsps[i].rooms.remove(&room);
            self.release(&room);
        }
        Ok(Some(reply))
    }

    /// Leaves namespace socket `i` and every room only it held.
    fn leave_nsp(&mut self, i: usize) {
        // A DISCONNECT on purpose: the socket is not recovered.
        self.live_delete(i);
        let s = self.nsps.remove(i);
        self.link.remove_nsp(s.id);
        self.refuse_awaiting(Some(&s.nsp));
        for room in s.rooms {
            self.release(&room);
        }
    }

    /// Drops the session's subscription to `room` unless a namespace
    /// socket is still in it.
    fn release(&mut self, room: &RoomName) {
        if self.nsps.iter().any(|s| s.rooms.contains(room)) {
            self.sync_slot(room);
            return;
        }
        if let Some(core) = self.core.as_mut() {
            core.subs.unsubscribe(room);
        }
    }

    async fn on_event(&mut self, i: usize, packet: SioPacket, out: &mut Vec<Frame>) {
        let app = self.sio.app.clone();
        let cfg = &app.config.socketio;
        let name = packet.event_name().unwrap_or_default();
        let ack = packet.id;
        let reply = if name == cfg.subscribe_event {
            if self.subscribes.take(app.config.limits.subscribe_rate) {
                self.subscribe(i, packet.args().first(), ack, out).await
            } else {
                app.hub.metrics().subscribe_rate_refusal();
                tracing::info!("closed for subscribing too fast");
                self.closing = Some(CloseCode::SubscribeFlood);
                Err((
                    ErrorCode::RateLimited,
                    "subscribes sent faster than this gateway allows".into(),
                ))
            }
        } else if name == cfg.unsubscribe_event {
            self.unsubscribe(i, packet.args().first())
        } else if name == PUBLISH_EVENT {
            self.publish(&packet).await
        } else if name == REFRESH_EVENT {
            if let Some(Value::String(token)) = packet.args().first() {
                Box::pin(app.config.auth.settle(token)).await;
            }
            self.refresh(packet.args().first())
        } else if app.config.proxy.event_url.is_some() {
            self.ask_event(i, &packet)
        } else {
            Err((
                ErrorCode::UnknownOp,
                format!("this gateway has no handler for event {name:?}"),
            ))
        };
        let reply = match reply {
            Ok(None) => return,
            Ok(Some(v)) => v,
            Err((code, message)) => {
                app.hub.metrics().client_error(code.name());
                if matches!(code, ErrorCode::PermissionDenied | ErrorCode::Unauthorized)
                    && name != REFRESH_EVENT
                {
                    // Also without an ack: the seed's client subscribes
                    // without one and would never learn of the refusal.
                    self.refusal_notice(i, code, &message, name, out);
                }
                backend::error_value(code, &message)
            }
        };
        if let Some(id) = ack {
            push_packet(
                out,
                &SioPacket::ack(self.nsps[i].nsp.clone(), id, vec![reply]),
            );
        }
    }

    fn room_arg(
        &self,
        arg: Option<&Value>,
    ) -> Result<(RoomName, Option<Position>), (ErrorCode, String)> {
        let template = &self.sio.app.config.socketio.room_template;
        let (name, since) = match arg {
            Some(Value::String(s)) => (template.replace("{arg}", s), None),
            Some(Value::Number(n)) => (template.replace("{arg}", &n.to_string()), None),
            Some(Value::Object(o)) => {
                let Some(room) = o.get("room").and_then(Value::as_str) else {
                    return Err((
                        ErrorCode::InvalidRoom,
                        "the object needs a \"room\" string".into(),
                    ));
                };
                let since = match o.get("since") {
                    None | Some(Value::Null) => None,
                    Some(v) => {
                        Some(serde_json::from_value::<Position>(v.clone()).map_err(|e| {
                            (
                                ErrorCode::BadFrame,
                                format!("\"since\" must be {{epoch, offset}}: {e}"),
                            )
                        })?)
                    }
                };
                (room.to_owned(), since)
            }
            _ => {
                return Err((
                    ErrorCode::InvalidRoom,
                    "the first argument must name a room".into(),
                ));
            }
        };
        let room = RoomName::new(&name).map_err(|e| (ErrorCode::InvalidRoom, e.to_string()))?;
        Ok((room, since))
    }

    async fn subscribe(
        &mut self,
        i: usize,
        arg: Option<&Value>,
        ack: Option<u64>,
        out: &mut Vec<Frame>,
    ) -> Result<Option<Value>, (ErrorCode, String)> {
        let app = self.sio.app.clone();
        let (room, since) = self.room_arg(arg)?;
        let token = match arg {
            Some(Value::Object(o)) => o.get("token").and_then(Value::as_str),
            _ => None,
        };
        if let Some(token) = token {
            Box::pin(app.config.auth.settle(token)).await;
        }
        self.check(|access, gate| access.check_subscribe(gate, &room, token))?;
        if app.config.socketio.leave_others {
            let others: Vec<RoomName> = self.nsps[i]
                .rooms
                .iter()
                .filter(|r| **r != room)
                .cloned()
                .collect();
            for other in others {
                self.nsps[i].rooms.remove(&other);
                self.live_leave(i, &other);
                self.release(&other);
            }
        }
        let Some(core) = self.core.as_mut() else {
            return Err((ErrorCode::Internal, "no session".into()));
        };
        let mine = self.nsps[i].rooms.contains(&room);
        if let (true, None, Some(pos)) = (mine, &since, core.subs.position(&room)) {
            // Already in it (a re-subscribe after recovery): nothing to resend.
            return Ok(Some(subscribed_reply(&room, &pos.epoch, pos.offset, true)));
        }
        if let (false, None, Some(pos)) = (mine, &since, core.subs.position(&room)) {
            // Another namespace socket holds the room: send this one the
            // snapshot up to where the session stands.
            let joined = core.subs.joined(&room).unwrap_or(0);
            let history = app
                .hub
                .history(&room, None, app.config.snapshot_depth, joined)
                .await
                .map_err(|e| (ErrorCode::BusUnavailable, e.to_string()))?;
            // Live messages wait until this socket's snapshot is written.
            core.subs.hold_room(&room);
            self.nsps[i].rooms.insert(room.clone());
            self.live_join(i, &room, pos.clone(), None);
            self.sync_slot(&room);
            let reply = subscribed_reply(&room, &pos.epoch, pos.offset, false);
            if let Some(id) = ack {
                push_packet(
                    out,
                    &SioPacket::ack(self.nsps[i].nsp.clone(), id, vec![reply]),
                );
            }
            for m in history.messages.iter().filter(|m| m.offset <= pos.offset) {
                self.write_message(i, m, out);
            }
            return Ok(None);
        }
        self.nsps[i].rooms.insert(room.clone());
        // The `Subscribed` emit carries the ack id: flush_emits answers it.
        match core
            .subs
            .subscribe(room.clone(), since.clone(), ack, &mut self.emits)
            .await
        {
            Ok(_) => {
                if let Some(pos) = core.subs.position(&room) {
                    self.live_join(i, &room, pos, since);
                }
                self.sync_slot(&room);
                self.flush_emits(Some(i), out);
                Ok(None)
            }
            Err(e) => {
                self.nsps[i].rooms.remove(&room);
                self.sync_slot(&room);
                Err((e.code(), e.to_string()))
            }
        }
    }

    fn unsubscribe(
        &mut self,
        i: usize,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, (ErrorCode, String)> {
        let (room, _) = self.room_arg(arg)?;
        let was = self.nsps[i].rooms.remove(&room);
        if was {
            self.live_leave(i, &room);
            self.release(&room);
        }
        Ok(Some(json!({ "room": room.as_str(), "unsubscribed": was })))
    }

    async fn publish(&mut self, packet: &SioPacket) -> Result<Option<Value>, (ErrorCode, String)> {
        let app = self.sio.app.clone();
        let args = packet.args();
        let (Some(Value::String(room)), Some(Value::String(event))) = (args.first(), args.get(1))
        else {
            return Err((
                ErrorCode::BadFrame,
                "publish takes (room, event, data)".into(),
            ));
        };
        let room = RoomName::new(room).map_err(|e| (ErrorCode::InvalidRoom, e.to_string()))?;
        self.check(|access, _| access.check_publish(&room))?;
        let mut data = args.get(2).cloned().unwrap_or(Value::Null);
        if !packet.attachments.is_empty() {
            inline_binary(&mut data, &packet.attachments);
        }
        let pos = client_publish(&app, &room, event.clone(), data)
            .await
            .map_err(|r| (r.code, r.message))?;
        Ok(Some(
            json!({ "room": room.as_str(), "epoch": pos.epoch, "offset": pos.offset }),
        ))
    }

    /// Runs an access check; a refusal becomes the error the event's ack
    /// (and `herald:error`) carries.
    fn check(
        &mut self,
        f: impl FnOnce(&mut Access, &Gate) -> Result<(), Denied>,
    ) -> Result<(), (ErrorCode, String)> {
        let gate = &self.sio.app.config.auth;
        let Some(access) = self.access.as_mut() else {
            return Err((ErrorCode::Unauthorized, "not connected".into()));
        };
        f(access, gate).map_err(|denied| {
            let code = match &denied {
                Denied::Room(_) => ErrorCode::PermissionDenied,
                Denied::NotAuthenticated => ErrorCode::Unauthorized,
                Denied::Token(e) => {
                    self.sio.app.hub.metrics().auth_refusal(e.code());
                    ErrorCode::Unauthorized
                }
            };
            (code, denied.to_string())
        })
    }

    /// Turns subscription output into frames. `ctx` is the namespace socket
    /// whose request produced it (its `Subscribed` with an id is the ack).
    fn flush_emits(&mut self, ctx: Option<usize>, out: &mut Vec<Frame>) {
        let mut emits = std::mem::take(&mut self.emits);
        for e in emits.drain(..) {
            match e {
                Emit::Message { b, live } => {
                    let targets: Vec<usize> = (0..self.nsps.len())
                        .filter(|&i| self.nsps[i].rooms.contains(&b.room))
                        .collect();
                    let n = targets.len();
                    for (k, i) in targets.into_iter().enumerate() {
                        // The delivery completes with its last frame.
                        self.write_event(i, &b, live && k + 1 == n, out);
                    }
                    if live && n == 0 {
                        crate::transport::accounting::dropped(
                            self.sio.app.hub.metrics(),
                            std::slice::from_ref(&b),
                        );
                    }
                }
                Emit::Subscribed {
                    room,
                    epoch,
                    offset,
                    recovered,
                    id: Some(id),
                } => {
                    if let Some(s) = ctx.and_then(|i| self.nsps.get(i)) {
                        let reply = subscribed_reply(&room, &epoch, offset, recovered);
                        push_packet(out, &SioPacket::ack(s.nsp.clone(), id, vec![reply]));
                    }
                }
                Emit::Subscribed { .. } => {}
                Emit::Unsubscribed { room } => {
                    for s in &mut self.nsps {
                        s.rooms.remove(&room);
                    }
                }
                Emit::Presence(event) => {
                    let data = json!({
                        "room": event.room,
                        "user": event.user,
                        "action": event.action.as_str(),
                    });
                    for s in self
                        .nsps
                        .iter()
                        .filter(|s| s.rooms.contains(event.room.as_str()))
                    {
                        push_packet(
                            out,
                            &SioPacket::event(s.nsp.clone(), PRESENCE_EVENT, [data.clone()]),
                        );
                    }
                }
            }
        }
        self.emits = emits;
    }

    fn write_message(&mut self, i: usize, m: &Arc<Broadcast>, out: &mut Vec<Frame>) {
        self.write_event(i, m, false, out);
    }

    fn write_event(&mut self, i: usize, b: &Arc<Broadcast>, live: bool, out: &mut Vec<Frame>) {
        let s = &self.nsps[i];
        out.push(Frame::Event {
            b: b.clone(),
            nsp_id: s.id,
            nsp: Arc::from(s.nsp.as_str()),
            recovery: self.sio.app.config.socketio.recovery,
            live,
        });
    }
}

/// The ack of a successful subscribe.
fn subscribed_reply(room: &str, epoch: &str, offset: u64, recovered: bool) -> Value {
    json!({ "room": room, "epoch": epoch, "offset": offset, "recovered": recovered })
}

/// Appends a packet (and its attachments) as Engine.IO messages.
pub fn push_packet(out: &mut Vec<Frame>, packet: &SioPacket) {
    let (text, attachments) = encode_frame(packet);
    out.push(Frame::text(text));
    out.extend(attachments.into_iter().map(Frame::Binary));
}
