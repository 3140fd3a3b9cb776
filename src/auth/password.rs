//! Password hashing with bcrypt at the configured cost. bcrypt is deliberately slow,
//! so it always runs on the blocking pool, never on an async worker thread.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    /// Every verification, for `/metrics`.
    verifications: Counter,
    /// Hash of a random password, verified against when a login names no known
    /// user so that the answer takes as long as for a known one.
    decoy: Arc<OnceCell<String>>,
}

impl Passwords {
    pub fn new(cost: u32) -> Self {
        Self::counted(cost, Counter::default())
    }

    /// Like [`new`](Self::new), adding each verification to `verifications`.
    pub fn counted(cost: u32, verifications: Counter) -> Self {
        Self { cost, verifications, decoy: Arc::new(OnceCell::new()) }
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let (password, cost) = (password.to_owned(), self.cost);
        Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??)
    }

    /// `false` for a wrong password or an unreadable hash.
    pub async fn verify(&self, password: &str, hash: &str) -> anyhow::Result<bool> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.verifications.inc();
        let result = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash)).await?;
        Ok(result.unwrap_or(false))
    }

    /// Spends the time of one verification without a user to check against.
    pub async fn verify_decoy(&self, password: &str) -> anyhow::Result<()> {
        let decoy = self.decoy().await?;
        self.verify(password, &decoy).await?;
        Ok(())
    }

    /// Makes the decoy hash now (at start-up), so no login pays for it.
    pub async fn decoy(&self) -> anyhow::Result<String> {
        Ok(self
            .decoy
            .get_or_try_init(|| async { self.hash(&super::api_keys::random_alphanumeric(24)).await })
            .await?
            .clone())
    }
}
