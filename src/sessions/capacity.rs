//! Room for sessions under the process's open-files limit. A started session
//! holds its socket: [`PER_SESSION`] descriptor (the device stores share one
//! database). A session starts only while
//! there is room for it, a reserve left for HTTP clients, uploads and the
//! gateway's database; past that, creating (or restarting) one is refused
//! with a clear error instead of failing inside the WhatsApp client with the
//! session half linked. The limit is the soft one, which `wagate serve`
//! raises to the hard one at start.

use serde::Serialize;
use utoipa::ToSchema;

/// Descriptors one started session holds.
pub const PER_SESSION: u64 = 1;

/// The process's descriptors and what is left of them for sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Room {
    /// Descriptors open now.
    pub open_files: u64,
    /// The process's (soft) open-files limit.
    pub open_files_limit: u64,
    /// Kept for everything but sessions: HTTP clients, uploads, the database.
    pub reserve: u64,
    /// Sessions that may still start.
    pub sessions_left: u64,
}

impl Room {
    /// Room given `open` descriptors under `limit`.
    pub fn of(open: u64, limit: u64) -> Room {
        let reserve = (limit / 8).clamp(32, 1024);
        let sessions_left = limit.saturating_sub(reserve).saturating_sub(open) / PER_SESSION;
        Room { open_files: open, open_files_limit: limit, reserve, sessions_left }
    }

    /// The process's room now; `None` where it cannot be told (no `/proc`).
    pub fn now() -> Option<Room> {
        Some(Room::of(open_files()?, soft_limit()?))
    }
}

/// The descriptors this process has open (Linux: `/proc/self/fd`).
fn open_files() -> Option<u64> {
    // The directory's own descriptor is counted too: one too many, on the safe side.
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

#[cfg(unix)]
fn soft_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct passed by reference.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
    ok.then_some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn soft_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::{PER_SESSION, Room};

    #[test]
    fn room_is_what_the_limit_leaves_past_the_reserve() {
        // A shell's default: 1024, of which 128 are kept.
        assert_eq!(Room::of(100, 1024).sessions_left, (1024 - 128 - 100) / PER_SESSION);
        // A small limit keeps at least 32; a large one at most 1024.
        assert_eq!(Room::of(40, 128), Room { open_files: 40, open_files_limit: 128, reserve: 32, sessions_left: 56 });
        assert_eq!(Room::of(1_000, 1 << 20).reserve, 1024);
        // Full: none left, never a negative count.
        assert_eq!(Room::of(200, 128).sessions_left, 0);
        assert!(Room::now().is_none_or(|r| r.open_files > 0 && r.open_files_limit > 0));
    }
}
