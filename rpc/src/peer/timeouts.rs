//! A connection's idle and message timeouts: when something last arrived,
//! when the message now partial began, and one timer for whichever is due
//! first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::time::Sleep;

use super::options::Options;
use crate::error::DisconnectReason;

/// The clocks of one connection's timeouts.
pub(super) struct Timeouts {
    /// When something last arrived (a frame, or more of a partial one).
    last_activity: Instant,
    /// When the partial message now in the source began, if there is one.
    message_began: Option<Instant>,
    last_partial: Option<usize>,
    /// Fires at `timer_at`, the earliest the idle or message timeout could
    /// expire; re-armed lazily when it fires early.
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
}

impl Timeouts {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        Timeouts {
            last_activity: now,
            message_began: None,
            last_partial: None,
            timer: Box::pin(tokio::time::sleep_until(now.into())),
            timer_at: None,
        }
    }

    /// A read routed `routed` frames and left `partial` bytes of the next
    /// one in the source.
    pub(super) fn arrived(&mut self, routed: usize, partial: Option<usize>, options: &Options) {
        // The clock is read only when a timeout needs it: the idle timeout
        // when anything arrived, the message timeout when a message is
        // partial.
        let arrived = routed > 0 || partial != self.last_partial;
        let watch_idle = arrived && options.idle_timeout.is_some();
        let watch_partial = partial.is_some() && options.message_timeout.is_some();
        if watch_idle || watch_partial {
            let now = Instant::now();
            if arrived {
                self.last_activity = now;
            }
            self.message_began = match (partial, self.message_began) {
                (Some(_), Some(began)) if routed == 0 => Some(began),
                (Some(_), _) => Some(now),
                (None, _) => None,
            };
        } else if partial.is_none() {
            self.message_began = None;
        }
        self.last_partial = partial;
    }

    /// `Ready` with the reason to close once a timeout has passed.
    pub(super) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        options: &Options,
    ) -> Poll<DisconnectReason> {
        let idle = options
            .idle_timeout
            .map(|t| (self.last_activity + t, DisconnectReason::Idle { after: t }));
        let stalled = options
            .message_timeout
            .zip(self.message_began)
            .map(|(t, began)| (began + t, DisconnectReason::Stalled { after: t }));
        let Some((due, reason)) = [idle, stalled]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
        else {
            return Poll::Pending;
        };
        // Deadlines only move later as things arrive, so the timer is reset
        // only when it is not set, or fired before the deadline it now has.
        if self.timer_at.is_none_or(|at| at > due) {
            self.timer.as_mut().reset(due.into());
            self.timer_at = Some(due);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timer_at = None;
        if Instant::now() >= due {
            return Poll::Ready(reason);
        }
        // Fired for an earlier deadline that has moved since: set it again.
        self.timer.as_mut().reset(due.into());
        self.timer_at = Some(due);
        let _ = self.timer.as_mut().poll(cx);
        Poll::Pending
    }
}
