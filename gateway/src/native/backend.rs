//! The connect proxy on the native transport: asked once per connection,
//! after the handshake token (if any) was checked and before the session
//! starts (`docs/proxy.md`). It may refuse the connection, name its user
//! and give its grant; `emits` and `join` are Socket.IO only.

use herald_protocol::backend::ConnectRequest;
use tokio::time::Instant;

use crate::auth::Access;
use crate::proxy::ProxyError;
use crate::proxy::grant::backend_grant;
use crate::proxy::handshake::Handshake;
use crate::server::AppState;

/// The backend's verdict.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Accepted; `access` holds what the reply granted.
    Yes,
    /// Refused, with the reply's message.
    No(String),
}

/// Asks the connect proxy about connection `session`, and applies its
/// grant or user to `access`.
///
/// # Errors
/// [`ProxyError`] when the backend failed or is saturated (the connection
/// is then refused with 4011, to retry later).
pub async fn ask(
    state: &AppState,
    session: &str,
    access: &mut Access,
    handshake: &Handshake,
) -> Result<Admit, ProxyError> {
    let Some(backend) = state.backend.as_ref() else {
        return Ok(Admit::Yes);
    };
    let metrics = state.hub.metrics();
    let slot = backend.reserve().inspect_err(|e| {
        metrics.backend_request("connect", e.code(), std::time::Duration::ZERO);
    })?;
    let request = ConnectRequest {
        kind: "connect",
        transport: "ws",
        sid: session,
        nsp: "/",
        user: access.user(),
        auth: None,
        headers: Some(&handshake.headers),
        remote_addr: handshake.remote_addr.as_deref(),
    };
    let started = Instant::now();
    let reply = slot.connect(&request).await;
    let outcome = reply.as_ref().map_or_else(ProxyError::code, |_| "ok");
    metrics.backend_request("connect", outcome, started.elapsed());
    let reply = reply?;
    if !reply.allow {
        return Ok(Admit::No(
            reply.message.unwrap_or_else(|| "Forbidden".to_owned()),
        ));
    }
    let token_user = access.user().map(str::to_owned);
    match backend_grant(&reply, token_user)? {
        Some(grant) => access.grant(grant),
        None => {
            if let Some(user) = reply.user {
                access.name_user(user);
            }
        }
    }
    Ok(Admit::Yes)
}
