//! The grant a connect reply may carry, as the gateway's own kind.

use herald_protocol::RoomPatterns;
use herald_protocol::backend::ConnectReply;

use super::ProxyError;
use crate::auth::permissions::Permissions;

/// The grant a connect reply carries (`rooms`, `publish`, `expires`), if
/// any. A verified token's user stays the session's user.
///
/// # Errors
/// [`ProxyError::Invalid`] naming a field whose pattern is not one.
pub fn backend_grant(
    reply: &ConnectReply,
    token_user: Option<String>,
) -> Result<Option<Permissions>, ProxyError> {
    if !reply.grants() {
        return Ok(None);
    }
    let patterns = |field: &str, list: &Option<Vec<String>>| {
        RoomPatterns::parse(list.iter().flatten())
            .map_err(|e| ProxyError::Invalid(format!("\"{field}\": {e}")))
    };
    Ok(Some(Permissions {
        user: token_user.or_else(|| reply.user.clone()),
        rooms: patterns("rooms", &reply.rooms)?,
        publish: patterns("publish", &reply.publish)?,
        expires: reply.expires,
    }))
}
