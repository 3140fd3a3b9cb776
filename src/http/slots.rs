//! Media slots: files received at once (multipart uploads read to disk, media
//! URLs fetched) are at most `media.max_concurrent`, and at most
//! `media.max_concurrent_per_account` of them one account's. An upload takes
//! its slots when its body starts arriving ([`SlotBody`]), so a client that
//! sends headers and stalls holds nothing; one that sends slowly holds only
//! its own account's share (and `server.body_min_rate` ends it).

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct MediaSlots(Arc<Inner>);

struct Inner {
    global: Arc<Semaphore>,
    per_account: usize,
    accounts: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

/// An account's slot and a global one, given back when dropped.
pub struct MediaSlot {
    _global: OwnedSemaphorePermit,
    account: Option<OwnedSemaphorePermit>,
    owner: i64,
    inner: Arc<Inner>,
}

impl MediaSlots {
    pub fn new(max_concurrent: usize, per_account: usize) -> MediaSlots {
        let global = max_concurrent.max(1);
        MediaSlots(Arc::new(Inner {
            global: Arc::new(Semaphore::new(global)),
            per_account: per_account.clamp(1, global),
            accounts: Mutex::new(HashMap::new()),
        }))
    }

    /// Waits for one of `account`'s slots, then for a global one (so an
    /// account over its share waits without holding a global slot).
    pub async fn acquire(&self, account: i64) -> MediaSlot {
        let own = {
            let mut accounts = self.0.accounts.lock().expect("media slots lock");
            accounts.entry(account).or_insert_with(|| Arc::new(Semaphore::new(self.0.per_account))).clone()
        };
        let own = own.acquire_owned().await.expect("media slots are never closed");
        let global = self.0.global.clone().acquire_owned().await.expect("media slots are never closed");
        MediaSlot { _global: global, account: Some(own), owner: account, inner: self.0.clone() }
    }

    /// `body`, taking `account`'s slots when its first bytes arrive and
    /// holding them until it is read or dropped.
    pub fn around(&self, account: i64, body: Body) -> Body {
        Body::new(SlotBody { inner: body, slots: self.0.clone(), account, waiting: None, held: None, first: None })
    }
}

impl Drop for MediaSlot {
    fn drop(&mut self) {
        drop(self.account.take());
        // An account with no slot taken is forgotten (its semaphore is back to full).
        let mut accounts = self.inner.accounts.lock().expect("media slots lock");
        if accounts.get(&self.owner).is_some_and(|s| Arc::strong_count(s) == 1) {
            accounts.remove(&self.owner);
        }
    }
}

type Acquiring = Pin<Box<dyn Future<Output = MediaSlot> + Send>>;

/// A request body that takes its media slots with its first bytes.
struct SlotBody {
    inner: Body,
    slots: Arc<Inner>,
    account: i64,
    waiting: Option<Acquiring>,
    held: Option<MediaSlot>,
    /// The first frame, kept while the slots are waited for.
    first: Option<Frame<Bytes>>,
}

impl http_body::Body for SlotBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.held.is_some() {
            return Pin::new(&mut this.inner).poll_frame(cx);
        }
        if this.first.is_none() {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.first = Some(frame);
                    let slots = MediaSlots(this.slots.clone());
                    let account = this.account;
                    this.waiting = Some(Box::pin(async move { slots.acquire(account).await }));
                }
                other => return other,
            }
        }
        let waiting = this.waiting.as_mut().expect("a first frame waits for its slots");
        match waiting.as_mut().poll(cx) {
            Poll::Ready(slot) => {
                this.held = Some(slot);
                this.waiting = None;
                Poll::Ready(this.first.take().map(Ok))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_account_over_its_share_leaves_the_rest_to_others() {
        let slots = MediaSlots::new(4, 2);
        let a1 = slots.acquire(1).await;
        let _a2 = slots.acquire(1).await;
        // A third for account 1 waits, holding no global slot meanwhile.
        let third = tokio::time::timeout(Duration::from_millis(50), slots.acquire(1)).await;
        assert!(third.is_err(), "account 1 is over its share");
        let _b1 = slots.acquire(2).await;
        let _b2 = slots.acquire(2).await;
        assert!(tokio::time::timeout(Duration::from_millis(50), slots.acquire(3)).await.is_err(), "all four taken");
        drop(a1);
        let _c = tokio::time::timeout(Duration::from_millis(50), slots.acquire(3)).await.expect("a slot came back");
        assert_eq!(slots.0.accounts.lock().unwrap().len(), 3, "accounts 1, 2 and 3 hold slots");
    }

    #[tokio::test]
    async fn accounts_without_slots_are_forgotten() {
        let slots = MediaSlots::new(2, 1);
        drop(slots.acquire(7).await);
        assert!(slots.0.accounts.lock().unwrap().is_empty());
    }
}
