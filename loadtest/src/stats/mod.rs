//! Statistics: histograms, delivery checking, counters, leak regression.

pub mod checker;
pub mod counters;
pub mod histogram;
pub mod regression;
