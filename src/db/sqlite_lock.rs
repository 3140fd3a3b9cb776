//! Another process holding the SQLite file's write lock: an operator's
//! `sqlite3` shell left in a transaction, a backup tool, a stray program.
//! Our own connections wait for each other's writes as long as the busy
//! timeout allows; once another process has held the lock for a second, they
//! give up with `SQLITE_BUSY` (at once, for as long as it keeps holding it),
//! which the API answers 503 `database_unavailable`; the database watcher,
//! seeing the same, turns writes away before they start.
//!
//! Who holds a lock is read from `/proc/locks` (Linux; elsewhere nobody is
//! ever seen, and writes wait out the busy timeout). Reading it changes
//! nothing: opening and closing a descriptor of the database's files, as a
//! lock query would, drops every POSIX lock this process holds on them.

use std::{
    ffi::{c_int, c_void},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use sea_orm::sqlx::{self, SqliteConnection};

/// How long a statement waits for our own connections' writes.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writes wait for another process's.
pub const FOREIGN_PATIENCE: Duration = Duration::from_secs(1);
/// A wait shorter than this is our own writers' business: who holds the
/// lock is asked only after it.
const ASK_AFTER: Duration = Duration::from_millis(8);

/// The byte of `<database>-shm` that a WAL writer locks (SQLite's `WAL_WRITE_LOCK`).
const WAL_WRITE_LOCK: u64 = 120;

/// The write lock of one SQLite database file.
pub struct WriteLock {
    database: PathBuf,
    shm: PathBuf,
    /// Since when (ms after `epoch`, plus one; 0: not) a waiting connection
    /// has seen another process hold the lock, without a look in between
    /// that saw it free.
    foreign_since: AtomicU64,
    epoch: Instant,
}

impl WriteLock {
    pub fn new(database: &Path) -> WriteLock {
        let mut shm = database.as_os_str().to_owned();
        shm.push("-shm");
        WriteLock {
            database: database.to_owned(),
            shm: shm.into(),
            foreign_since: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Whether a connection that has waited `waited` should give up: another
    /// process has held the lock for [`FOREIGN_PATIENCE`], as far as the
    /// waiting connections have seen.
    fn give_up(&self, waited: Duration) -> bool {
        if waited < ASK_AFTER {
            return false;
        }
        if self.foreign_holder().is_none() {
            self.foreign_since.store(0, Ordering::Relaxed);
            return false;
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        let since = match self.foreign_since.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => now,
            Err(earlier) => earlier,
        };
        Duration::from_millis(now.saturating_sub(since)) >= FOREIGN_PATIENCE
    }

    /// The process id of another process holding the write lock now (0: one
    /// this process cannot name, e.g. in another container).
    pub fn foreign_holder(&self) -> Option<u32> {
        let inode = |path: &Path| std::fs::metadata(path).ok().map(|m| m.ino());
        let (shm, database) = (inode(&self.shm), inode(&self.database));
        // A lock removed while the list is read moves the rest back past the
        // reader, which can then miss one: a holder seen once is there.
        (0..LOOKS).find_map(|_| foreign_writer(&read_locks()?, std::process::id(), shm, database))
    }
}

/// How many reads of `/proc/locks` must all miss a holder before there is none.
const LOOKS: usize = 3;

/// `/proc/locks`, read with as few `read` calls as possible: the kernel
/// fills each call (up to a page) under its lock, consistently, but between
/// calls the list can change. (`read_to_string` would begin with a 32-byte
/// probe, splitting even a short list.)
fn read_locks() -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open("/proc/locks").ok()?;
    let (mut text, mut len) = (vec![0u8; 64 * 1024], 0);
    loop {
        if len == text.len() {
            text.resize(text.len() * 2, 0);
        }
        match file.read(&mut text[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    text.truncate(len);
    String::from_utf8(text).ok()
}

/// In `/proc/locks`, a write lock held by a process other than `own` on the
/// WAL write byte of the `shm` file or anywhere on the `database` file (a
/// program in exclusive locking mode). Files are matched by inode only: on
/// overlay filesystems the device `stat` reports is not the one listed.
fn foreign_writer(locks: &str, own: u32, shm: Option<u64>, database: Option<u64>) -> Option<u32> {
    locks.lines().find_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let kind = fields.next()?;
        // "->" marks a process waiting for the lock, not holding it; flock
        // locks do not meet SQLite's fcntl locks.
        if !matches!(kind, "POSIX" | "OFDLCK") {
            return None;
        }
        let (_mode, access, pid, file, start, end) =
            (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        let inode = file.rsplit(':').next()?.parse::<u64>().ok()?;
        let (start, end) = (start.parse::<u64>().ok()?, if end == "EOF" { u64::MAX } else { end.parse().ok()? });
        // An open-file-description lock shows no pid (-1); SQLite takes none itself.
        let pid = pid.parse::<i64>().ok()?;
        let holder = u32::try_from(pid).unwrap_or(0);
        let on_write_byte = Some(inode) == shm && (start..=end).contains(&WAL_WRITE_LOCK);
        let on_database = Some(inode) == database;
        (access == "WRITE" && (on_write_byte || on_database) && (pid < 0 || holder != own)).then_some(holder)
    })
}

/// Makes `conn` wait [`BUSY_TIMEOUT`] for a busy database, but no longer
/// than [`FOREIGN_PATIENCE`] after another process was seen holding the write lock.
pub async fn install(conn: &mut SqliteConnection, lock: &'static WriteLock) -> sqlx::Result<()> {
    let mut handle = conn.lock_handle().await?;
    let data = (lock as *const WriteLock).cast_mut().cast::<c_void>();
    // SAFETY: the handle is locked (no other call on it meanwhile); `lock` is
    // 'static, and `on_busy` only reads it.
    let rc = unsafe { libsqlite3_sys::sqlite3_busy_handler(handle.as_raw_handle().as_ptr(), Some(on_busy), data) };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!("sqlite3_busy_handler failed ({rc})")));
    }
    Ok(())
}

/// SQLite's own busy-timeout schedule: sleep 1, 2, 5 … 100 ms between tries.
const DELAYS_MS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];

/// How long the `count`-th call has waited already, and how long it sleeps now.
fn schedule(count: usize) -> (Duration, Duration) {
    let before: u64 = DELAYS_MS.iter().take(count).sum();
    let last = DELAYS_MS[DELAYS_MS.len() - 1];
    let waited = before + last * count.saturating_sub(DELAYS_MS.len()) as u64;
    let delay = DELAYS_MS.get(count).copied().unwrap_or(last);
    (Duration::from_millis(waited), Duration::from_millis(delay))
}

/// Called by SQLite on its connection's thread while a lock is busy: 1 to
/// try again (after sleeping), 0 to give up. Never panics.
unsafe extern "C" fn on_busy(data: *mut c_void, count: c_int) -> c_int {
    // SAFETY: `data` is the `&'static WriteLock` given in `install`.
    let lock = unsafe { &*data.cast_const().cast::<WriteLock>() };
    let (waited, delay) = schedule(usize::try_from(count).unwrap_or(0));
    if waited >= BUSY_TIMEOUT || lock.give_up(waited) {
        return 0;
    }
    std::thread::sleep(delay.min(BUSY_TIMEOUT - waited));
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCKS: &str = "\
1: POSIX  ADVISORY  READ 700 fd:01:5001 128 128
2: POSIX  ADVISORY  WRITE 700 fd:01:5001 120 120
3: FLOCK  ADVISORY  WRITE 900 fd:01:5001 0 EOF
4: POSIX  ADVISORY  READ 800 fd:01:5000 1073741826 1073742335
5: -> POSIX  ADVISORY  WRITE 800 fd:01:5001 120 120
";

    #[test]
    fn only_another_processes_write_lock_counts() {
        // Our own write lock, readers, flock locks and waiters are no holder.
        assert_eq!(foreign_writer(LOCKS, 700, Some(5001), Some(5000)), None);
        // Seen from another process, 700 holds the write byte.
        assert_eq!(foreign_writer(LOCKS, 800, Some(5001), Some(5000)), Some(700));
        // A lock on another file with the byte is not ours to care about.
        assert_eq!(foreign_writer(LOCKS, 800, Some(6001), Some(6000)), None);
        // A range over the write byte, up to the end, and an exclusive-mode database lock.
        assert_eq!(foreign_writer("7: POSIX ADVISORY WRITE 55 00:2a:5001 100 EOF\n", 1, Some(5001), None), Some(55));
        assert_eq!(foreign_writer("7: POSIX ADVISORY WRITE 55 00:2a:5001 121 200\n", 1, Some(5001), None), None);
        assert_eq!(
            foreign_writer("7: POSIX ADVISORY WRITE 56 00:2a:5000 1073741824 1073741824\n", 1, None, Some(5000)),
            Some(56)
        );
        // An open-file-description lock names no process.
        assert_eq!(foreign_writer("8: OFDLCK ADVISORY WRITE -1 00:2a:5001 120 120\n", 1, Some(5001), None), Some(0));
        assert_eq!(foreign_writer("garbage\n\n9: POSIX\n", 1, Some(5001), Some(5000)), None);
    }

    /// Another process (Python) holding the WAL write byte of a database's
    /// `-shm` file, as a `sqlite3` shell in a transaction does.
    #[test]
    fn writers_give_up_a_second_after_another_process_takes_the_lock() {
        use std::io::{BufRead, Write};
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("wagate.db");
        std::fs::write(&database, b"").unwrap();
        let lock = WriteLock::new(&database);
        let script = "import fcntl, sys\nf = open(sys.argv[1], 'wb+')\nf.truncate(256)\n\
                      fcntl.lockf(f, fcntl.LOCK_EX, 1, 120)\nprint('locked', flush=True)\nsys.stdin.read()\n";
        let mut holder = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&lock.shm)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut said = String::new();
        std::io::BufReader::new(holder.stdout.take().unwrap()).read_line(&mut said).unwrap();
        assert_eq!(said.trim(), "locked");

        assert_eq!(lock.foreign_holder(), Some(holder.id()));
        // Short waits do not ask; the first that does starts the second of patience.
        assert!(!lock.give_up(Duration::ZERO));
        assert!(!lock.give_up(ASK_AFTER));
        std::thread::sleep(FOREIGN_PATIENCE);
        // From then on, every waiting connection gives up, however short its own wait.
        assert!(lock.give_up(ASK_AFTER));
        assert!(lock.give_up(Duration::from_millis(300)));

        holder.stdin.take().unwrap().write_all(b"").unwrap();
        assert!(holder.wait().unwrap().success());
        assert_eq!(lock.foreign_holder(), None);
        assert!(!lock.give_up(Duration::from_secs(2)), "the lock is free: wait on");
        assert_eq!(lock.foreign_since.load(Ordering::Relaxed), 0);
    }

    /// This process's own locks (SQLite's, between its connections) are never another's.
    #[test]
    fn our_own_lock_is_not_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("wagate.db");
        let lock = WriteLock::new(&database);
        let shm =
            std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&lock.shm).unwrap();
        shm.set_len(256).unwrap();
        let mut byte: libc::flock = unsafe { std::mem::zeroed() };
        byte.l_type = libc::F_WRLCK as libc::c_short;
        byte.l_whence = libc::SEEK_SET as libc::c_short;
        byte.l_start = WAL_WRITE_LOCK as libc::off_t;
        byte.l_len = 1;
        use std::os::fd::AsRawFd;
        assert_eq!(unsafe { libc::fcntl(shm.as_raw_fd(), libc::F_SETLK, &byte) }, 0);
        let listed = std::fs::read_to_string("/proc/locks").unwrap();
        let ours = format!(" {} ", std::process::id());
        assert!(listed.lines().any(|l| l.contains(&ours) && l.ends_with(" 120 120")), "{listed}");
        assert_eq!(lock.foreign_holder(), None);
        assert!(!lock.give_up(Duration::from_secs(2)));
    }

    #[test]
    fn the_schedule_is_sqlites() {
        assert_eq!(schedule(0), (Duration::ZERO, Duration::from_millis(1)));
        assert_eq!(schedule(3), (Duration::from_millis(8), Duration::from_millis(10)));
        assert_eq!(schedule(12), (Duration::from_millis(328), Duration::from_millis(100)));
        // About a second after the 19th call; the busy timeout by the 109th.
        assert!(schedule(18).0 < FOREIGN_PATIENCE && schedule(19).0 >= FOREIGN_PATIENCE);
        assert!(schedule(108).0 < BUSY_TIMEOUT && schedule(109).0 >= BUSY_TIMEOUT);
    }
}
