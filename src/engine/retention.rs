//! What a device store knows of its rows that expire, so that whatsapp-rust's
//! retention sweeps cost nothing when nothing has expired.
//!
//! Every session's client asks its store, every 12 keepalive ticks (3–6
//! minutes), to delete its expired sent messages, pending inbound messages and
//! message secrets: at 10,000 idle sessions some 110 `DELETE`s a second,
//! each joining a commit of the device store, almost all deleting nothing. A
//! [`Watermark`] per table holds a bound below every row's expiry time: when
//! the cutoff asked for is not past it, the sweep is answered without the
//! database. After a sweep the bound is what remains (its `MIN`), lowered by
//! every row the store writes since. A row another store of the same device
//! wrote meanwhile (a client being replaced, its last writes landing) waits
//! for the next sweep this store runs, or for the next start.

use std::sync::atomic::{AtomicI64, Ordering};

/// Not known (a device opened with rows of an earlier run): the next sweep
/// runs.
const UNKNOWN: i64 = i64::MIN;

/// No row.
const NONE: i64 = i64::MAX;

/// A bound at or below the expiry time of each of a table's rows of one
/// device.
pub struct Watermark(AtomicI64);

impl Watermark {
    /// For a device whose rows are not known.
    pub fn unknown() -> Watermark {
        Watermark(AtomicI64::new(UNKNOWN))
    }

    /// For a device that has no rows yet (just made).
    pub fn empty() -> Watermark {
        Watermark(AtomicI64::new(NONE))
    }

    /// A row expiring at `at` was committed. Called after the commit, so
    /// that a sweep's `MIN` either sees the row or runs after this.
    pub fn wrote(&self, at: i64) {
        self.0.fetch_min(at, Ordering::AcqRel);
    }

    /// Whether a row may expire before `cutoff` (strictly: `at < cutoff`;
    /// otherwise `at <= cutoff`).
    pub fn may_expire(&self, cutoff: i64, strictly: bool) -> bool {
        let bound = self.0.load(Ordering::Acquire);
        if strictly { bound < cutoff } else { bound <= cutoff }
    }

    /// A sweep starts: rows committed from now on lower the bound again.
    pub fn sweeping(&self) {
        self.0.store(NONE, Ordering::Release);
    }

    /// The sweep is done; `least` is the least expiry of the rows that
    /// remain (`None`: no row), read after the delete.
    pub fn swept(&self, least: Option<i64>) {
        self.0.fetch_min(least.unwrap_or(NONE), Ordering::AcqRel);
    }

    /// The sweep failed: nothing is known until the next one.
    pub fn failed(&self) {
        self.0.store(UNKNOWN, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_device_has_nothing_to_sweep_until_a_row_is_written() {
        let mark = Watermark::empty();
        assert!(!mark.may_expire(i64::MAX - 1, true));
        mark.wrote(100);
        assert!(!mark.may_expire(100, true), "a row at 100 is not before 100");
        assert!(mark.may_expire(100, false), "but it is at 100");
        assert!(mark.may_expire(101, true));
    }

    #[test]
    fn an_unknown_device_is_swept_once_and_then_known() {
        let mark = Watermark::unknown();
        assert!(mark.may_expire(i64::MIN + 1, true));
        mark.sweeping();
        mark.swept(Some(500));
        assert!(!mark.may_expire(500, true));
        assert!(mark.may_expire(501, true));
        mark.sweeping();
        mark.swept(None);
        assert!(!mark.may_expire(i64::MAX - 1, true));
    }

    #[test]
    fn a_row_written_during_a_sweep_is_not_forgotten() {
        let mark = Watermark::unknown();
        mark.sweeping();
        mark.wrote(200); // committed after the delete, after the MIN was read
        mark.swept(Some(300));
        assert!(mark.may_expire(201, true));
        mark.sweeping();
        mark.failed();
        assert!(mark.may_expire(i64::MIN + 1, true), "a failed sweep leaves nothing known");
    }
}
