//! The layer order of `src/`, kept by a test: a module may use the modules
//! listed before it in [`ORDER`], never one after it. A new module is one line
//! there; where a lower module needs something from above, it owns a small
//! trait (a port) that the upper one implements and `App` wires in.

use std::{collections::BTreeSet, path::Path};

/// Every module of `src/`, bottom first (DESIGN.md, "Layout and layers").
const ORDER: &[&str] = &[
    // 0 leaves: shared words and policies, knowing no domain
    "files",
    "validation",
    "model",
    "net",
    "sign",
    "config",
    "telemetry",
    "metrics",
    "events",
    "sealed",
    "error",
    // 1 the database: connection, watcher, entities
    "db",
    // 2 everything that touches whatsapp-rust
    "engine",
    // 3
    "auth",
    "webhooks",
    // owns the Timeline port (queued messages in chats), which the inbox implements
    "queue",
    // 4
    "notify",
    // owns the Answerer port (who answers in its commit), which the bot implements
    "inbox",
    "sessions",
    // 5
    "bot",
    // 6 the edge: HTTP (with its AppState), the demo
    "http",
    "demo",
];

/// The module of `src/` a file belongs to (`None`: the crate root or the binary).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "layers")).then(|| name.to_owned())
}

/// The text of a Rust file with comments, strings and characters blanked out
/// (lines kept), so that only code is searched.
fn code_of(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |out: &mut String, text: &[u8]| {
        out.extend(text.iter().map(|&b| if b == b'\n' { '\n' } else { ' ' }));
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        let end = if rest.starts_with(b"//") {
            rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            rest.windows(2).position(|w| w == b"*/").map_or(rest.len(), |p| p + 2)
        } else if rest.starts_with(b"r#\"") || rest.starts_with(b"r\"") {
            let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let body = 2 + hashes;
            rest[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(rest.len(), |p| body + p + close.len())
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest[0] == b'\'' && (rest.get(1) == Some(&b'\\') || rest.get(2) == Some(&b'\'')) {
            // A character literal ('x', '\n', '\''), not a lifetime.
            let mut j = 1;
            while j < rest.len() && rest[j] != b'\'' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else {
            let next = rest
                .iter()
                .skip(1)
                .position(|&b| matches!(b, b'/' | b'"' | b'\'' | b'r'))
                .map_or(rest.len(), |p| p + 1);
            out.push_str(std::str::from_utf8(&rest[..next]).expect("cut at ASCII"));
            i += next;
            continue;
        };
        blank(&mut out, &rest[..end]);
        i += end;
    }
    out
}

/// The top-level modules `code` names through `crate::`, each with the line
/// it is first named on: `crate::a::b`, and every item of `crate::{a, b::c}`.
fn uses_of(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let line_at = |at: usize| code[..at].matches('\n').count() + 1;
    let ident =
        |text: &str| -> String { text.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.trim_start().strip_prefix('{') {
            // The items of the group at its own depth.
            let mut depth = 0;
            let mut item_start = true;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        item_start = false;
                        let name = ident(&group[k..]);
                        if !name.is_empty() {
                            found.push((name, line_at(at)));
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.push((name, line_at(at)));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn imports_go_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let rank = |module: &str| ORDER.iter().position(|m| *m == module);

    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f.strip_prefix(&src).unwrap())).collect();
    let listed: BTreeSet<String> = ORDER.iter().map(|m| m.to_string()).collect();
    assert_eq!(modules, listed, "ORDER must list every module of src/, once");
    assert_eq!(listed.len(), ORDER.len(), "a module listed twice in ORDER");

    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(module) = module_of(relative) else { continue };
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for (used, line) in uses_of(&code) {
            let (Some(from), Some(to)) = (rank(&module), rank(&used)) else { continue };
            if to <= from {
                continue;
            }
            upward.push(format!("src/{}:{line}: {module} uses {used}, which is above it", relative.display()));
        }
    }
    assert!(
        upward.is_empty(),
        "imports going up (an upward need is a port, a trait owned below):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_reader_sees_code_only() {
    let code = code_of(
        "use crate::{a::B, b, c::{d, e::F}};\n// crate::x\nlet s = \"crate::y\";\n/* crate::z */ crate::w::f();\n\
         let r = r#\"crate::v\"#; let c = '\"'; fn f<'a>(x: &'a str) { crate::u::g() }\nnotcrate::t;",
    );
    let names: Vec<_> = uses_of(&code).into_iter().map(|(m, line)| format!("{m}:{line}")).collect();
    assert_eq!(names, ["a:1", "b:1", "c:1", "w:4", "u:5"]);
}
