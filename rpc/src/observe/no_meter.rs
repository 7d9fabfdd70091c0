//! Without the `metrics` feature, nothing is counted and nothing is kept.

use std::sync::Arc;

use super::Side;

#[derive(Debug)]
pub(crate) struct CallMeter;

impl CallMeter {
    #[inline(always)]
    pub(crate) fn start(_side: Side, _method: &Arc<str>) -> CallMeter {
        CallMeter
    }

    pub(crate) fn refused(_side: Side, _method: &str, _outcome: &str) {}

    #[inline(always)]
    pub(crate) fn finish(self, _outcome: &str) {}
}

#[derive(Debug)]
pub(crate) struct Traffic;

impl Traffic {
    #[inline(always)]
    pub(crate) fn new() -> Traffic {
        Traffic
    }

    #[inline(always)]
    pub(crate) fn received(&mut self, _bytes: usize) {}

    #[inline(always)]
    pub(crate) fn report(&mut self, _sent: u64) {}
}
