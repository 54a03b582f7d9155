//! A session's requests to the application backend (`crate::proxy`):
//! CONNECTs asked of `--connect-proxy`, unhandled events forwarded to
//! `--socketio-event-proxy`, and their replies.
//!
//! The requests are futures the session task polls itself
//! ([`Sockets::backend_reply`]), kept in one [`FuturesOrdered`]: replies
//! are applied in the order the packets arrived, whatever order the
//! backend answers in. While a CONNECT waits, the session's later
//! packets are held (at most [`MAX_HELD`]) and handled once it is
//! answered, as the reference server buffers packets behind its connect
//! middleware.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use tokio::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use herald_protocol::backend::{ConnectReply, ConnectRequest, EmitBack, EventReply, EventRequest};
use herald_protocol::native::ErrorCode;
use herald_protocol::sio::json_binary::{extract_binary, inline_binary};
use herald_protocol::sio::{MAX_ATTACHMENTS, RESERVED_EVENTS, SioPacket};
use serde_json::{Map, Value, json};

use super::{ERROR_EVENT, Sockets, Violation, push_packet};
use crate::auth::Access;
use crate::proxy::ProxyError;
use crate::proxy::grant::backend_grant;
use crate::socketio::polling::Frame;

/// Packets a session may send while a CONNECT waits for the backend;
/// one more closes the session.
pub const MAX_HELD: usize = 64;

type Call = Pin<Box<dyn Future<Output = Done> + Send>>;

/// A backend request's answer, with what applying it needs.
pub struct Done {
    what: Asked,
    took: std::time::Duration,
}

enum Asked {
    Connect {
        nsp: String,
        auth: Option<Value>,
        reply: Result<ConnectReply, ProxyError>,
    },
    Event {
        nsp: String,
        event: String,
        ack: Option<u64>,
        reply: Result<EventReply, ProxyError>,
    },
}

/// What a session is waiting for from the backend.
#[derive(Default)]
pub struct Pending {
    calls: FuturesOrdered<Call>,
    /// Packets that came while a CONNECT waits.
    held: VecDeque<SioPacket>,
    /// CONNECTs waiting (0 or 1: later packets are held behind one).
    connects: usize,
    /// Events waiting.
    events: usize,
}

impl Pending {
    /// Whether a CONNECT waits (later packets are held).
    pub fn connecting(&self) -> bool {
        self.connects > 0
    }
}

/// An error as an ack carries it: `{error: {code, name, message}}`.
pub(super) fn error_value(code: ErrorCode, message: &str) -> Value {
    json!({ "error": { "code": u16::from(code), "name": code.name(), "message": message } })
}

/// An emit turned into a packet: binary values become attachments.
fn emit_packet(nsp: &str, emit: EmitBack) -> Result<SioPacket, ProxyError> {
    if emit.event.is_empty() || RESERVED_EVENTS.contains(&emit.event.as_str()) {
        return Err(ProxyError::Invalid(format!(
            "cannot emit the reserved or empty event name {:?}",
            emit.event
        )));
    }
    let mut args = emit.args;
    let attachments = extract_binary(&mut args, MAX_ATTACHMENTS)
        .map_err(|e| ProxyError::Invalid(e.to_string()))?;
    let mut packet = SioPacket::event(nsp.to_owned(), &emit.event, args);
    packet.attachments = attachments;
    Ok(packet)
}

impl Sockets {
    fn pending(&mut self) -> &mut Pending {
        self.backend.get_or_insert_with(Box::default)
    }

    /// Whether the session waits for the backend ([`Sockets::backend_reply`]
    /// then has something to give).
    pub fn awaiting_backend(&self) -> bool {
        self.backend.as_ref().is_some_and(|b| !b.calls.is_empty())
    }

    /// The next backend answer, in the order the requests were made.
    /// Pending forever when nothing waits: poll it only while
    /// [`Sockets::awaiting_backend`].
    pub async fn backend_reply(&mut self) -> Done {
        match self.backend.as_mut() {
            Some(b) => match b.calls.next().await {
                Some(done) => done,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// Holds a packet that came while a CONNECT waits.
    pub(super) fn hold(&mut self, packet: SioPacket) -> Result<(), Violation> {
        let pending = self.pending();
        if pending.held.len() >= MAX_HELD {
            return Err(Violation::new(format!(
                "more than {MAX_HELD} packets while a CONNECT waits for the application backend"
            )));
        }
        pending.held.push_back(packet);
        Ok(())
    }

    /// Asks the connect proxy about a CONNECT to `nsp` that passed the
    /// gateway's own checks; [`Sockets::on_backend`] applies the answer.
    pub(super) fn ask_connect(&mut self, nsp: String, auth: Option<Value>) {
        let app = self.sio.app.clone();
        let Some(backend) = app.backend.as_ref() else {
            return;
        };
        let user = self.access.as_ref().and_then(|a| a.user());
        let call: Call = match backend.reserve() {
            Ok(slot) => {
                let request = ConnectRequest {
                    kind: "connect",
                    transport: "socketio",
                    sid: &self.sid,
                    nsp: &nsp,
                    user,
                    auth: auth.as_ref().and_then(Value::as_object),
                    headers: self.handshake.as_ref().map(|h| &h.headers),
                    remote_addr: self
                        .handshake
                        .as_ref()
                        .and_then(|h| h.remote_addr.as_deref()),
                };
                let ask = slot.connect(&request);
                let started = Instant::now();
                Box::pin(async move {
                    let reply = ask.await;
                    Done {
                        what: Asked::Connect { nsp, auth, reply },
                        took: started.elapsed(),
                    }
                })
            }
            Err(e) => Box::pin(std::future::ready(Done {
                what: Asked::Connect {
                    nsp,
                    auth,
                    reply: Err(e),
                },
                took: std::time::Duration::ZERO,
            })),
        };
        let pending = self.pending();
        pending.connects += 1;
        pending.calls.push_back(call);
    }

    /// Forwards event `packet` of namespace socket `i` to the event proxy.
    /// Over this session's bound or the node's, it is answered at once
    /// with `backend_busy` (ahead of the replies still pending).
    pub(super) fn ask_event(
        &mut self,
        i: usize,
        packet: &SioPacket,
    ) -> Result<Option<Value>, (ErrorCode, String)> {
        let app = self.sio.app.clone();
        let Some(backend) = app.backend.as_ref() else {
            return Err((ErrorCode::UnknownOp, "no event proxy".into()));
        };
        let busy = |e: ProxyError| {
            app.hub
                .metrics()
                .backend_request("event", e.code(), std::time::Duration::ZERO);
            (ErrorCode::BackendBusy, e.to_string())
        };
        let per_session = backend.config().max_in_flight_per_session;
        if self
            .backend
            .as_ref()
            .is_some_and(|b| b.events >= per_session)
        {
            return Err(busy(ProxyError::Busy));
        }
        let slot = backend.reserve().map_err(busy)?;
        let event = packet.event_name().unwrap_or_default().to_owned();
        let mut args = Value::Array(packet.args().to_vec());
        if !packet.attachments.is_empty() {
            inline_binary(&mut args, &packet.attachments);
        }
        let args = match args {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        let socket = &self.nsps[i];
        let request = EventRequest {
            kind: "event",
            sid: &self.sid,
            nsp: &socket.nsp,
            user: self.user.as_deref(),
            event: &event,
            args: &args,
            ack: packet.id.is_some(),
            auth: socket.auth.as_deref(),
        };
        let ask = slot.event(&request);
        let nsp = socket.nsp.clone();
        let ack = packet.id;
        let started = Instant::now();
        let call: Call = Box::pin(async move {
            let reply = ask.await;
            Done {
                what: Asked::Event {
                    nsp,
                    event,
                    ack,
                    reply,
                },
                took: started.elapsed(),
            }
        });
        let pending = self.pending();
        pending.events += 1;
        pending.calls.push_back(call);
        Ok(None)
    }

    /// Applies one backend answer, then (after a CONNECT's) the packets
    /// held behind it.
    ///
    /// # Errors
    /// [`Violation`] from a held packet.
    pub async fn on_backend(&mut self, done: Done, out: &mut Vec<Frame>) -> Result<(), Violation> {
        let app = self.sio.app.clone();
        let metrics = app.hub.metrics();
        match done.what {
            Asked::Connect { nsp, auth, reply } => {
                self.pending().connects -= 1;
                let outcome = reply.as_ref().map_or_else(ProxyError::code, |_| "ok");
                metrics.backend_request("connect", outcome, done.took);
                self.on_connect_reply(nsp, auth, reply, out).await;
                self.release_held(out).await
            }
            Asked::Event {
                nsp,
                event,
                ack,
                reply,
            } => {
                self.pending().events -= 1;
                let outcome = reply.as_ref().map_or_else(ProxyError::code, |_| "ok");
                metrics.backend_request("event", outcome, done.took);
                self.on_event_reply(&nsp, &event, ack, reply, out).await;
                Ok(())
            }
        }
    }

    /// Handles the packets held behind a CONNECT, until none is left or
    /// another CONNECT waits.
    async fn release_held(&mut self, out: &mut Vec<Frame>) -> Result<(), Violation> {
        loop {
            let Some(pending) = self.backend.as_mut() else {
                return Ok(());
            };
            if pending.connecting() {
                return Ok(());
            }
            let Some(packet) = pending.held.pop_front() else {
                return Ok(());
            };
            Box::pin(self.on_packet(packet, out)).await?;
        }
    }

    async fn on_connect_reply(
        &mut self,
        nsp: String,
        auth: Option<Value>,
        reply: Result<ConnectReply, ProxyError>,
        out: &mut Vec<Frame>,
    ) {
        let app = self.sio.app.clone();
        let metrics = app.hub.metrics();
        let user = self
            .access
            .as_ref()
            .and_then(Access::user)
            .map(str::to_owned);
        let reply = reply.and_then(|mut r| {
            let emits = std::mem::take(&mut r.emits)
                .into_iter()
                .map(|e| emit_packet(&nsp, e))
                .collect::<Result<Vec<_>, _>>()?;
            let grant = backend_grant(&r, user)?;
            Ok((r, emits, grant))
        });
        let (reply, emits, grant) = match reply {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(error = %e, "connect proxy failed; CONNECT refused");
                let code = e.error_code();
                metrics.client_error(code.name());
                let data = json!({ "code": u16::from(code), "name": code.name() });
                push_packet(
                    out,
                    &SioPacket::connect_error_with(nsp, &e.to_string(), data),
                );
                return;
            }
        };
        if !reply.allow {
            metrics.client_error(ErrorCode::PermissionDenied.name());
            let message = reply.message.as_deref().unwrap_or("Forbidden");
            let packet = match reply.data {
                Some(data) => SioPacket::connect_error_with(nsp, message, data),
                None => SioPacket::connect_error(nsp, message),
            };
            push_packet(out, &packet);
            return;
        }
        if let (Some(grant), Some(access)) = (grant, self.access.as_mut()) {
            access.grant(grant);
        }
        let auth_map: Option<&Map<String, Value>> = auth.as_ref().and_then(Value::as_object);
        self.accept(nsp.clone(), auth_map, reply.user, out).await;
        for packet in &emits {
            push_packet(out, packet);
        }
        let Some(i) = self.nsps.iter().position(|s| s.nsp == nsp) else {
            return;
        };
        self.backend_joins(i, &reply.join, out).await;
    }

    async fn on_event_reply(
        &mut self,
        nsp: &str,
        event: &str,
        ack: Option<u64>,
        reply: Result<EventReply, ProxyError>,
        out: &mut Vec<Frame>,
    ) {
        let Some(i) = self.nsps.iter().position(|s| s.nsp == nsp) else {
            // The socket left its namespace meanwhile: nobody to answer.
            return;
        };
        let reply = reply.and_then(|mut r| {
            let emits = std::mem::take(&mut r.emits)
                .into_iter()
                .map(|e| emit_packet(nsp, e))
                .collect::<Result<Vec<_>, _>>()?;
            let ack = match ack {
                Some(id) => {
                    let mut args = r.ack.take().unwrap_or_default();
                    let attachments = extract_binary(&mut args, MAX_ATTACHMENTS)
                        .map_err(|e| ProxyError::Invalid(e.to_string()))?;
                    let mut packet = SioPacket::ack(nsp.to_owned(), id, args);
                    packet.attachments = attachments;
                    Some(packet)
                }
                None => None,
            };
            Ok((r, emits, ack))
        });
        match reply {
            Ok((r, emits, ack)) => {
                for packet in &emits {
                    push_packet(out, packet);
                }
                self.backend_joins(i, &r.join, out).await;
                for room in &r.leave {
                    if let Err((code, message)) =
                        self.unsubscribe(i, Some(&json!({ "room": room })))
                    {
                        self.refusal_notice(i, code, &message, event, out);
                    }
                }
                if let Some(packet) = ack {
                    push_packet(out, &packet);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, event, "event proxy failed");
                let code = e.error_code();
                self.sio.app.hub.metrics().client_error(code.name());
                let message = e.to_string();
                match ack {
                    Some(id) => push_packet(
                        out,
                        &SioPacket::ack(nsp.to_owned(), id, vec![error_value(code, &message)]),
                    ),
                    None => self.refusal_notice(i, code, &message, event, out),
                }
            }
        }
    }

    /// Joins the rooms a backend reply names, each checked against the
    /// session's grant; a refused one gets a `herald:error`.
    async fn backend_joins(&mut self, i: usize, rooms: &[String], out: &mut Vec<Frame>) {
        for room in rooms {
            let arg = json!({ "room": room });
            if let Err((code, message)) = self.subscribe(i, Some(&arg), None, out).await {
                self.sio.app.hub.metrics().client_error(code.name());
                self.refusal_notice(i, code, &message, "join", out);
            }
        }
    }

    /// A `herald:error` to namespace socket `i`, naming the event it is about.
    pub(super) fn refusal_notice(
        &self,
        i: usize,
        code: ErrorCode,
        message: &str,
        event: &str,
        out: &mut Vec<Frame>,
    ) {
        let notice = json!({
            "code": u16::from(code),
            "name": code.name(),
            "message": message,
            "event": event,
        });
        push_packet(
            out,
            &SioPacket::event(self.nsps[i].nsp.clone(), ERROR_EVENT, [notice]),
        );
    }
}
