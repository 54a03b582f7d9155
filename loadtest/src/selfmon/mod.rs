//! The load generator watching itself, so that a latency figure is never
//! silently the client's: the CPU of its processes ([`cpu`]) and how late
//! its event loops wake ([`lag`]). The rule that reads them is
//! [`crate::stats::saturation`].

pub mod cpu;
pub mod lag;
