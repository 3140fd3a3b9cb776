//! The runtime whatsapp-rust's tasks run on: tokio's, with timer slack.
//!
//! Every connected session wakes on its own for a keepalive ping (every
//! 15–30 s) and its device saver's tick (every 30 s): at 10,000 idle sessions
//! about 770 wake-ups a second, nearly each on a millisecond of its own, so
//! tokio's workers park in `epoll_wait` and are woken again for almost every
//! one. Here a sleep of a second or more ends on the next [`SLACK`] boundary
//! of one clock shared by all sessions, so the timers due within a slot fire
//! together and one wake-up serves them all — what the kernel's timer slack
//! does for threads. A sleep ends at most [`SLACK`] late, never early; shorter
//! sleeps (retry backoffs, flush timeouts) keep their exact length.

use std::{future::Future, pin::Pin, sync::OnceLock, time::Duration};

use tokio::time::Instant;
use whatsapp_rust::{TokioRuntime, wacore::runtime::AbortHandle};

/// How late a long sleep may end.
const SLACK: Duration = Duration::from_millis(250);
/// Sleeps shorter than this are left exact.
const LONG: Duration = Duration::from_secs(1);

/// tokio's runtime with [`SLACK`] on long sleeps (see the module).
pub struct Coalescing;

/// The clock the slots are counted from: the same for every session.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// When a sleep of `duration` begun at `now` ends (`None`: past what the
/// clock can name, a sleep that never ends).
fn deadline(epoch: Instant, now: Instant, duration: Duration) -> Option<Instant> {
    let exact = now.checked_add(duration)?;
    if duration < LONG {
        return Some(exact);
    }
    let since = exact.saturating_duration_since(epoch).as_nanos();
    let slack = SLACK.as_nanos();
    let late = (slack - since % slack) % slack;
    exact.checked_add(Duration::from_nanos(late as u64))
}

#[async_trait::async_trait]
impl whatsapp_rust::Runtime for Coalescing {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) -> AbortHandle {
        TokioRuntime.spawn(future)
    }

    fn spawn_detached(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        TokioRuntime.spawn_detached(future)
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match deadline(epoch(), Instant::now(), duration) {
            Some(end) => Box::pin(tokio::time::sleep_until(end)),
            None => Box::pin(tokio::time::sleep(duration)),
        }
    }

    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send + 'static>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        TokioRuntime.spawn_blocking(f)
    }

    fn yield_now(&self) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        TokioRuntime.yield_now()
    }

    fn yield_frequency(&self) -> u32 {
        TokioRuntime.yield_frequency()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_rust::Runtime;

    #[test]
    fn a_long_sleep_ends_on_the_next_slot_never_early_and_at_most_the_slack_late() {
        let epoch = Instant::now();
        for offset_ms in [0u64, 1, 7, 249, 250, 251, 999, 12_345] {
            let now = epoch + Duration::from_millis(offset_ms);
            for duration in [LONG, Duration::from_millis(1_001), Duration::from_secs(30), Duration::from_millis(17_777)]
            {
                let end = deadline(epoch, now, duration).unwrap();
                assert!(end >= now + duration, "{offset_ms} ms, {duration:?}: early");
                assert!(end - (now + duration) < SLACK, "{offset_ms} ms, {duration:?}: too late");
                assert_eq!(
                    (end - epoch).as_nanos() % SLACK.as_nanos(),
                    0,
                    "{offset_ms} ms, {duration:?}: off the slot"
                );
            }
        }
    }

    #[test]
    fn a_short_sleep_keeps_its_length() {
        let epoch = Instant::now();
        let now = epoch + Duration::from_millis(3);
        for duration in [Duration::ZERO, Duration::from_millis(20), Duration::from_millis(999)] {
            assert_eq!(deadline(epoch, now, duration), Some(now + duration));
        }
    }

    #[tokio::test]
    async fn a_sleep_past_the_clocks_end_is_no_deadline_not_a_panic() {
        let now = Instant::now();
        assert_eq!(deadline(now, now, Duration::MAX), None);
        drop(Coalescing.sleep(Duration::MAX));
    }

    #[tokio::test]
    async fn sleeps_due_within_one_slot_end_together() {
        use futures_util::FutureExt;
        let start = epoch();
        let slot = |n: u32| start + SLACK * n;
        let now = Instant::now();
        let next = (now - start).as_nanos() / SLACK.as_nanos() + 1;
        tokio::time::sleep_until(slot(next as u32) + Duration::from_millis(10)).await;
        // Due at 1,010 and 1,110 ms after a slot's start: both within the slot that ends at 1,250.
        let first = Coalescing.sleep(LONG);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = Coalescing.sleep(LONG);
        first.await;
        let woke = Instant::now();
        assert!(woke >= slot(next as u32 + 5), "the first ended before its slot did");
        assert!(second.now_or_never().is_some(), "the second did not end with the first");
    }
}
