//! Which WhatsApp Web version the devices announce. A stale one is refused by
//! WhatsApp ("client outdated"), so `auto` fetches the current one at start-up,
//! keeps it in the data dir, and falls back to the kept (or built-in) one when
//! the fetch fails, so an outage of web.whatsapp.com does not stop connecting.

use std::{path::Path, sync::Arc};

use whatsapp_rust::http::HttpClient;

/// The version whatsapp-rust 0.7.0 ships with; used only when the
/// fetch fails and nothing was kept.
pub const BUILT_IN: (u32, u32, u32) = (2, 3000, 1_042_742_319);

const FILE: &str = "whatsapp_version";
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub fn format((a, b, c): (u32, u32, u32)) -> String {
    format!("{a}.{b}.{c}")
}

/// `pinned`, or the current version as described above.
pub async fn resolve(pinned: Option<(u32, u32, u32)>, http: Arc<dyn HttpClient>, data_dir: &Path) -> (u32, u32, u32) {
    if let Some(version) = pinned {
        return version;
    }
    let kept = data_dir.join(FILE);
    // Start-up waits for this, so not for long.
    let fetch = tokio::time::timeout(FETCH_TIMEOUT, whatsapp_rust::version::fetch_latest_app_version(&http));
    match fetch.await.unwrap_or_else(|_| Err(whatsapp_rust::anyhow::anyhow!("timed out"))) {
        Ok(version) => {
            if let Err(e) = std::fs::write(&kept, format(version)) {
                tracing::warn!(error = %e, path = %kept.display(), "cannot keep the WhatsApp Web version");
            }
            tracing::info!(version = %format(version), "WhatsApp Web version fetched");
            version
        }
        Err(e) => {
            let fallback = std::fs::read_to_string(&kept)
                .ok()
                .and_then(|text| crate::config::parse_version(text.trim()).ok().flatten())
                .unwrap_or(BUILT_IN);
            tracing::warn!(error = %e, version = %format(fallback), "cannot fetch the WhatsApp Web version; using the last known");
            fallback
        }
    }
}
