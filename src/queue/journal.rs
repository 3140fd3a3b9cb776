//! The statuses' journal: every ack and receipt a device hands over is
//! appended to a file in `data_dir` before the device's client answers
//! WhatsApp for it (the hand-over is on the client's dispatch path, ahead of
//! its transport ack), so a killed process loses none: at the next start the
//! journal is read back and written to the database.
//!
//! Files are generations, `statuses.N.journal`. Taking a batch to write starts
//! a new generation; once the batch is written (what failed journaled again in
//! the new one) the old file is removed. An append is one `write` (the page
//! cache keeps it when the process dies); it is not synced to disk, so a power
//! loss may take the last statuses with it (as `sqlite_synchronous = "normal"`
//! would), and then a message keeps an earlier status.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

/// One line: what was heard of message `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Acked { id: String, error: Option<String> },
    Delivered { id: String },
    Read { id: String },
}

pub struct Journal {
    dir: PathBuf,
    current: Mutex<Generation>,
}

struct Generation {
    number: u64,
    file: Option<File>,
}

/// A generation taken for writing: removed once its batch is written.
#[derive(Debug)]
pub struct Retired(Option<PathBuf>);

const SUFFIX: &str = ".journal";
const PREFIX: &str = "statuses.";

impl Journal {
    /// Opens the journal in `dir`, starting a new generation; returns what the
    /// files left by an earlier process hold and the files themselves, to be
    /// [`retire`](Self::retire)d once their entries are journaled again.
    pub fn open(dir: &Path) -> io::Result<(Journal, Vec<Entry>, Vec<Retired>)> {
        let mut left = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let number = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?.parse::<u64>().ok());
            if let Some(number) = number {
                left.push((number, path));
            }
        }
        left.sort();
        let mut entries = Vec::new();
        for (_, path) in &left {
            entries.extend(std::fs::read_to_string(path)?.lines().filter_map(parse));
        }
        let next = left.last().map_or(1, |(n, _)| n + 1);
        let journal = Journal { dir: dir.to_owned(), current: Mutex::new(Generation { number: next, file: None }) };
        let retired = left.into_iter().map(|(_, path)| Retired(Some(path))).collect();
        Ok((journal, entries, retired))
    }

    fn path(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{number}{SUFFIX}"))
    }

    /// Appends `entries` to the current generation, in one write.
    pub fn append(&self, entries: &[Entry]) -> io::Result<()> {
        let mut text = String::new();
        for entry in entries {
            line(entry, &mut text);
        }
        let mut current = self.current.lock().expect("journal lock");
        if current.file.is_none() {
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            current.file = Some(options.open(self.path(current.number))?);
        }
        current.file.as_mut().expect("opened above").write_all(text.as_bytes())
    }

    /// Starts a new generation; the old one is retired once its batch is written.
    pub fn rotate(&self) -> Retired {
        let mut current = self.current.lock().expect("journal lock");
        let old = current.file.take().map(|_| self.path(current.number));
        current.number += 1;
        Retired(old)
    }

    /// Removes a generation whose entries are written (or journaled again).
    pub fn retire(&self, retired: Retired) {
        if let Some(path) = retired.0
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a written statuses journal");
        }
    }
}

fn line(entry: &Entry, out: &mut String) {
    // Ids and error codes are WhatsApp's: no tabs or line breaks; any that
    // came would be replaced, not break the file.
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    match entry {
        Entry::Acked { id, error } => {
            out.push_str(&format!("a\t{}\t{}\n", clean(id), error.as_deref().map(clean).unwrap_or_default()));
        }
        Entry::Delivered { id } => out.push_str(&format!("d\t{}\n", clean(id))),
        Entry::Read { id } => out.push_str(&format!("r\t{}\n", clean(id))),
    }
}

/// A line back as an entry; `None` for a torn or foreign one.
fn parse(line: &str) -> Option<Entry> {
    let mut fields = line.split('\t');
    let kind = fields.next()?;
    let id = fields.next().filter(|id| !id.is_empty())?.to_owned();
    Some(match (kind, fields.next()) {
        ("a", Some(error)) => Entry::Acked { id, error: Some(error.to_owned()).filter(|e| !e.is_empty()) },
        ("d", None) => Entry::Delivered { id },
        ("r", None) => Entry::Read { id },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_outlive_the_process_until_retired() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, left, retired) = Journal::open(dir.path()).unwrap();
        assert!(left.is_empty() && retired.is_empty());
        let first = vec![
            Entry::Acked { id: "3EB0A".into(), error: None },
            Entry::Acked { id: "3EB0B".into(), error: Some("479".into()) },
            Entry::Delivered { id: "3EB0A".into() },
        ];
        journal.append(&first).unwrap();
        let taken = journal.rotate();
        journal.append(&[Entry::Read { id: "3EB0A".into() }]).unwrap();
        drop(journal);
        // A torn last line (the process died mid-write) is skipped.
        let mut torn = OpenOptions::new().append(true).open(dir.path().join("statuses.2.journal")).unwrap();
        torn.write_all(b"r\t3EB0").unwrap();
        torn.write_all(b"\nd").unwrap();

        let (journal, left, retired) = Journal::open(dir.path()).unwrap();
        let mut expected = first.clone();
        expected.extend([Entry::Read { id: "3EB0A".into() }, Entry::Read { id: "3EB0".into() }]);
        assert_eq!(left, expected, "both generations, oldest first");
        assert_eq!(retired.len(), 2);
        drop(taken);
        journal.append(&left).unwrap();
        for old in retired {
            journal.retire(old);
        }
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, vec!["statuses.3.journal".to_owned()]);
        let retired = journal.rotate();
        journal.retire(retired);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "written and retired: nothing left");
    }
}
