//! Every error code and close code of the native protocol.
//!
//! Error codes travel in `error` frames and leave the connection open. Close
//! codes travel in the `disconnect` frame and as the WebSocket close code, so
//! a browser sees them in `CloseEvent.code`.

use serde::{Deserialize, Serialize};

/// A request failed; the connection stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u16", try_from = "u16")]
#[repr(u16)]
pub enum ErrorCode {
    /// 100: the gateway failed in a way that is not the client's fault.
    Internal = 100,
    /// 101: the frame is not valid JSON or MessagePack, or lacks a field.
    BadFrame = 101,
    /// 102: the `op` is not one this protocol knows.
    UnknownOp = 102,
    /// 103: the room name breaks the room-name rules.
    InvalidRoom = 103,
    /// 104: subscribing would pass the per-connection room limit.
    TooManyRooms = 104,
    /// 105: the connection may not do this: its grant does not cover the
    /// room, or client publish is off.
    PermissionDenied = 105,
    /// 106: the bus did not accept or answer the request; retry later.
    BusUnavailable = 106,
    /// 107: the client is not subscribed to that room.
    NotSubscribed = 107,
    /// 108: a token was refused (the reason says why), or the gateway
    /// needs one first.
    Unauthorized = 108,
    /// 109: the client sent frames faster than the gateway allows, or
    /// subscribes faster than it allows; the connection is closed with
    /// 4010 (frames) or 4012 (subscribes) next.
    RateLimited = 109,
    /// 110: the application backend the event was forwarded to failed:
    /// it timed out, answered an HTTP error, or answered something that is
    /// not a valid reply. The message says which.
    BackendFailed = 110,
    /// 111: too many events are waiting for the application backend
    /// (this session's or this node's bound); retry later.
    BackendBusy = 111,
}

impl ErrorCode {
    /// Every error code, for documentation and tests.
    pub const ALL: [ErrorCode; 12] = [
        Self::Internal,
        Self::BadFrame,
        Self::UnknownOp,
        Self::InvalidRoom,
        Self::TooManyRooms,
        Self::PermissionDenied,
        Self::BusUnavailable,
        Self::NotSubscribed,
        Self::Unauthorized,
        Self::RateLimited,
        Self::BackendFailed,
        Self::BackendBusy,
    ];

    /// The short, stable name of the code.
    pub fn name(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::BadFrame => "bad_frame",
            Self::UnknownOp => "unknown_op",
            Self::InvalidRoom => "invalid_room",
            Self::TooManyRooms => "too_many_rooms",
            Self::PermissionDenied => "permission_denied",
            Self::BusUnavailable => "bus_unavailable",
            Self::NotSubscribed => "not_subscribed",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::BackendFailed => "backend_failed",
            Self::BackendBusy => "backend_busy",
        }
    }
}

impl From<ErrorCode> for u16 {
    fn from(c: ErrorCode) -> u16 {
        c as u16
    }
}

impl TryFrom<u16> for ErrorCode {
    type Error = String;
    fn try_from(v: u16) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| *c as u16 == v)
            .ok_or_else(|| format!("unknown error code {v}"))
    }
}

/// Why the gateway closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u16", try_from = "u16")]
#[repr(u16)]
pub enum CloseCode {
    /// 1000: a normal close the client asked for.
    Normal = 1000,
    /// 1009: a frame was larger than the gateway's `max_frame_bytes`.
    FrameTooLarge = 1009,
    /// 4001: the gateway is shutting down; reconnect, to another node if possible.
    Shutdown = 4001,
    /// 4002: the client did not read fast enough and its queue filled.
    SlowConsumer = 4002,
    /// 4003: nothing came from the client within the heartbeat timeout.
    HeartbeatTimeout = 4003,
    /// 4004: the gateway holds its maximum number of connections.
    ConnectionLimit = 4004,
    /// 4005: an operator disconnected this connection, its user or its room.
    Kicked = 4005,
    /// 4006: the client broke the protocol at the transport level
    /// (for example a frame that is neither text nor binary where one is required).
    ProtocolViolation = 4006,
    /// 4007: the connection's token expired without a refresh. Reconnect
    /// with a fresh token.
    TokenExpired = 4007,
    /// 4008: the connection's token was refused. Do not reconnect with it.
    TokenInvalid = 4008,
    /// 4009: the gateway needs a token and none came within the auth
    /// timeout. Do not reconnect without one.
    AuthTimeout = 4009,
    /// 4010: the client sent frames faster than the gateway allows.
    /// Reconnect after a backoff.
    FrameFlood = 4010,
    /// 4011 `backend_unavailable`: the application backend (the connect
    /// proxy) failed or is saturated, so the connection could not be
    /// admitted. Reconnect after a backoff.
    BackendFailed = 4011,
    /// 4012: the client sent subscribe requests faster than the gateway
    /// allows (`--max-subscribes-per-sec`). Reconnect after a backoff.
    SubscribeFlood = 4012,
}

impl CloseCode {
    /// Every close code, for documentation and tests.
    pub const ALL: [CloseCode; 14] = [
        Self::Normal,
        Self::FrameTooLarge,
        Self::Shutdown,
        Self::SlowConsumer,
        Self::HeartbeatTimeout,
        Self::ConnectionLimit,
        Self::Kicked,
        Self::ProtocolViolation,
        Self::TokenExpired,
        Self::TokenInvalid,
        Self::AuthTimeout,
        Self::FrameFlood,
        Self::BackendFailed,
        Self::SubscribeFlood,
    ];

    /// The short, stable name of the code; also the `reason` label in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::FrameTooLarge => "frame_too_large",
            Self::Shutdown => "shutdown",
            Self::SlowConsumer => "slow_consumer",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::ConnectionLimit => "connection_limit",
            Self::Kicked => "kicked",
            Self::ProtocolViolation => "protocol_violation",
            Self::TokenExpired => "token_expired",
            Self::TokenInvalid => "token_invalid",
            Self::AuthTimeout => "auth_timeout",
            Self::FrameFlood => "frame_flood",
            Self::BackendFailed => "backend_unavailable",
            Self::SubscribeFlood => "subscribe_flood",
        }
    }

    /// Whether a client should reconnect after this close.
    pub fn reconnect(self) -> bool {
        !matches!(
            self,
            Self::Normal
                | Self::Kicked
                | Self::ProtocolViolation
                | Self::TokenInvalid
                | Self::AuthTimeout
        )
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c as u16
    }
}

impl TryFrom<u16> for CloseCode {
    type Error = String;
    fn try_from(v: u16) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| *c as u16 == v)
            .ok_or_else(|| format!("unknown close code {v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_numbers_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::try_from(u16::from(c)), Ok(c));
            assert!(names.insert(c.name()));
        }
        for c in CloseCode::ALL {
            assert_eq!(CloseCode::try_from(u16::from(c)), Ok(c));
            assert!(names.insert(c.name()));
        }
        assert!(ErrorCode::try_from(999).is_err());
        assert!(CloseCode::try_from(4999).is_err());
    }
}
