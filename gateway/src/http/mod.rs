//! The two HTTP listeners.
//!
//! - [`serve`]: the accept loop shared by both (admission of TCP streams,
//!   hyper with upgrades, graceful stop).
//! - [`client`]: the client listener's routes (page, assets, `/ws`).
//! - [`admin`]: the admin listener's routes (`/metrics`, `/healthz`, `/readyz`).
//! - [`api`]: the admin listener's `/api/*` (publish, disconnect, rooms).
//! - [`emit`]: `/api/emit`, an emit that collects the clients' acks.
//! - [`error`]: JSON error responses.

pub mod admin;
pub mod api;
pub mod client;
pub mod emit;
pub mod error;
pub mod serve;
