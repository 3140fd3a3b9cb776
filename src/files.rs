//! What the gateway keeps on disk is its user's alone: directories it keeps
//! (the data directory, the device stores') are 0700, and the SQLite database
//! with its WAL and shared-memory files 0600, whether it made them or an
//! earlier version did (which left them 0755 and 0644: any local user could
//! read password hashes, secrets and device keys).

use std::{
    io::{self, Write},
    path::Path,
};

use anyhow::Context;

/// Creates `dir` (and its parents) if missing, and makes it 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Creates the file at `path` empty if missing (SQLite then opens it, and
/// gives its `-wal` and `-shm` files the same mode), and makes it and those
/// files, where they exist, 0600.
pub fn private_database_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match set_mode(Path::new(&file), 0o600) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The secret kept in the file at `path`: made by `generate` and written
/// (mode 0600, synced) the first time, read back after.
pub fn kept_secret(path: &Path, what: &str, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let secret = generate();
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new {what}");
            Ok(secret)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let secret = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(secret.trim().to_owned())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn kept_files_become_the_owners_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        // What an earlier version left readable to all is tightened.
        let db = dir.join("wagate.db");
        std::fs::write(&db, b"x").unwrap();
        std::fs::write(dir.join("wagate.db-wal"), b"w").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        private_database_file(&db).unwrap();
        assert_eq!((mode(&dir), mode(&db), mode(&dir.join("wagate.db-wal"))), (0o700, 0o600, 0o600));
        assert_eq!(std::fs::read(&db).unwrap(), b"x", "an existing database is kept as it is");
        let new = dir.join("new.db");
        private_database_file(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
    }
}
