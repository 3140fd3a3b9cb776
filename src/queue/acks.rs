//! Acks and receipts, as the statuses writer hands them over: a message is
//! sent, delivered or read (or refused, and retried).

use super::{ALREADY_HAVE_IT, Queue, QueueError};
use crate::{engine::ReceiptKind, model::MessageStatus};

impl Queue {
    /// The server acknowledged (or refused) a message.
    pub async fn acked(&self, id: &str, error: Option<String>) -> Result<(), QueueError> {
        let result = match error {
            None => self.finish(id, MessageStatus::Sent, None).await,
            // A resend of an id WhatsApp already has: an earlier attempt got
            // there, so it is sent (and the contact has it once).
            Some(code) if code == ALREADY_HAVE_IT && self.resent(id).await => {
                tracing::info!(message_id = %id, "WhatsApp already had this resent message");
                self.finish(id, MessageStatus::Sent, None).await
            }
            Some(code) => {
                // A refusal is retried like any failed attempt; the ack timeout
                // brings it back (same id), and attempts run out in the end.
                tracing::warn!(message_id = %id, %code, "WhatsApp refused a message");
                Ok(false)
            }
        };
        result.map(|_| ())
    }

    /// Whether message `id` went to WhatsApp more than once.
    async fn resent(&self, id: &str) -> bool {
        match self.0.store.find(id).await {
            Ok(row) => row.is_some_and(|row| row.attempts > 1),
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "cannot read a message to judge its ack");
                false
            }
        }
    }

    /// Recipients' phones received or read messages. Returns those whose
    /// receipt could not be recorded.
    pub async fn receipt(&self, ids: &[String], kind: ReceiptKind) -> Vec<String> {
        let status = match kind {
            ReceiptKind::Delivered => MessageStatus::Delivered,
            ReceiptKind::Read => MessageStatus::Read,
        };
        // Together: they go into one transaction.
        let done = futures_util::future::join_all(ids.iter().map(|id| self.finish(id, status, None))).await;
        let mut failed = Vec::new();
        for (id, result) in ids.iter().zip(done) {
            if let Err(e) = result {
                tracing::debug!(message_id = %id, error = %e, "receipt not recorded");
                failed.push(id.clone());
            }
        }
        failed
    }

    /// Moves a message to a status past the queue (sent, delivered, read,
    /// failed); its media is no longer needed. `false` if it was already there.
    pub(super) async fn finish(
        &self,
        id: &str,
        status: MessageStatus,
        reason: Option<&str>,
    ) -> Result<bool, QueueError> {
        let Some(row) = self.0.store.advance(id, status, reason).await? else { return Ok(false) };
        if row.media_size.is_some() {
            self.0.media.remove(id).await;
        }
        Ok(true)
    }
}
