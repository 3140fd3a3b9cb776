//! Logging: one `init`, text or JSON lines on stderr, filtered by `log.level`
//! (or `RUST_LOG` when set).
//!
//! whatsapp-rust traces its functions with `#[instrument(err)]`, which logs
//! every error one returns at ERROR, with no message, whether or not its
//! caller handles it: a socket closed after pairing, a media digest the
//! server does not know yet (so the file is uploaded), a request cut short
//! by a stop. Those are not failures, and an operator who sees ERROR for
//! them learns to ignore ERROR. So they are left out, unless the filter names
//! whatsapp-rust (`whatsapp_rust=debug`, say) to follow the library itself.
//! What does fail is logged by wagate, once, with its session.

use std::io::IsTerminal;

use tracing::{Level, Metadata};
use tracing_subscriber::{EnvFilter, filter::filter_fn, fmt, prelude::*};

use crate::config::{LogConfig, LogFormat};

pub fn init(config: &LogConfig) {
    let directives = std::env::var("RUST_LOG").ok().filter(|d| EnvFilter::try_new(d).is_ok());
    let directives = directives.unwrap_or_else(|| config.level.clone());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let follows_library = names_the_library(&directives);
    let quiet = filter_fn(move |meta| follows_library || !routine_library_error(meta));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.format {
        LogFormat::Text => registry
            .with(
                fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_filter(quiet),
            )
            .try_init(),
        LogFormat::Json => {
            registry.with(fmt::layer().json().with_writer(std::io::stderr).with_filter(quiet)).try_init()
        }
    };
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = result;
}

/// Whether a filter directive names whatsapp-rust or its core.
fn names_the_library(directives: &str) -> bool {
    directives.split(',').any(|d| d.trim_start().starts_with("whatsapp_rust") || d.trim_start().starts_with("wacore"))
}

/// The error event `#[instrument(err)]` makes: ERROR, from the library, with
/// one field, `error`, and no message.
fn routine_library_error(meta: &Metadata<'_>) -> bool {
    let library = meta.target().starts_with("whatsapp_rust") || meta.target().starts_with("wacore");
    let fields = meta.fields();
    library && *meta.level() == Level::ERROR && meta.is_event() && fields.len() == 1 && fields.field("error").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_library_s_traced_errors_are_routine() {
        use std::sync::{Arc, Mutex};

        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        let layer = filter_fn(|meta| !routine_library_error(meta));
        let record = tracing_subscriber::fmt::layer()
            .with_writer(move || Capture(kept.clone()))
            .with_ansi(false)
            .with_filter(layer);
        let subscriber = tracing_subscriber::registry().with(record);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "whatsapp_rust::client::messaging", error = "Socket closed");
            tracing::error!(target: "whatsapp_rust::client::messaging", "Failed to marshal node");
            tracing::error!(target: "wagate::sessions", error = "real", session_id = "s1");
            tracing::error!(target: "wagate::sessions", error = "also real");
        });
        let text = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("Socket closed"), "{text}");
        assert!(
            text.contains("Failed to marshal node") && text.contains("real") && text.contains("also real"),
            "{text}"
        );
        assert!(names_the_library("info,whatsapp_rust=debug") && names_the_library("wacore=trace"));
        assert!(!names_the_library("info,wagate=debug"));
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
