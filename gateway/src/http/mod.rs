//! The two HTTP listeners.
//!
//! - [`serve`]: the accept loop shared by both (admission of TCP streams,
//!   hyper with upgrades, graceful stop).
//! - [`client`]: the client listener's routes (page, assets, `/ws`).
//! - [`admin`]: the admin listener's routes (`/metrics`, `/healthz`, `/readyz`).
//! - [`api`]: the admin listener's `/api/*` (publish, disconnect, rooms).
//! - [`emit`]: `/api/emit`, an emit that collects the clients' acks.
//! - [`error`]: JSON error responses.
//! - [`origin`]: the one origin policy for polling CORS and every upgrade.
//! - [`presence`]: `/api/rooms/{room}/presence`, a room's users across the cluster.
//! - [`pending`]: the cap on client connections whose request has not arrived.

pub mod admin;
pub mod api;
pub mod client;
pub mod emit;
pub mod error;
pub mod origin;
pub mod pending;
pub mod presence;
pub mod serve;
