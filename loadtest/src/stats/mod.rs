//! Statistics: histograms, delivery checking, counters, and the rules the
//! reports apply: the soak's leak rule ([`leak`], on [`theil_sen`] slopes),
//! machine [`contention`], load-generator [`saturation`], and bounded
//! series ([`downsample`]).

pub mod checker;
pub mod contention;
pub mod counters;
pub mod downsample;
pub mod histogram;
pub mod leak;
pub mod saturation;
pub mod theil_sen;
