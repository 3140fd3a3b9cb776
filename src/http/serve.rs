//! The accept loop: what `axum::serve` would do, with the limits a server
//! facing the internet needs (`[server]`):
//! - open connections are capped in all and per client address; more are
//!   answered 503 and closed at once;
//! - a request's head must arrive within `header_timeout` of its first byte
//!   (of the accept, for a connection's first request);
//! - a kept-alive connection with no request under way closes after `idle_timeout`;
//! - a request body may take `body_timeout`; past it, it must have averaged
//!   `body_min_rate` bytes per second, or the request ends in 408 and the
//!   connection closes.
//!
//! A response being written (a download, an event stream) is never timed: a
//! slow reader holds only its own connection, and the per-address cap bounds those.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::{HeaderValue, Request, Response, StatusCode, header},
    response::IntoResponse,
};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, watch},
    time::{Instant, Sleep},
};
use tower::Service;

use crate::{
    config::ServerConfig,
    error::ApiError,
    net::{Cidr, canonical},
};

/// The `[server]` settings the loop enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub body_min_rate: u64,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Peers not counted per address: they speak for many clients.
    pub trusted_proxies: Vec<Cidr>,
}

impl Limits {
    pub fn of(config: &ServerConfig) -> Limits {
        Limits {
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            body_timeout: config.body_timeout,
            body_min_rate: config.body_min_rate.max(1),
            max_connections: config.max_connections.max(1),
            max_connections_per_address: config.max_connections_per_address.max(1),
            trusted_proxies: config.trusted_proxies.iter().filter_map(|p| Cidr::parse(p).ok()).collect(),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets every
/// connection finish its request under way (for up to [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let open = Arc::new(Open::default());
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or the like: pause rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = open.admit(peer.ip(), &limits) else {
            refuse(stream);
            continue;
        };
        tokio::spawn(connection(stream, peer, router.clone(), limits.clone(), stopping.clone(), slot));
    }
    drop(listener);
    let _ = stop.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, open.all_closed()).await.is_err() {
        // A download to a slow reader may take many minutes: it is cut, not waited for.
        let left = open.total.load(Ordering::Relaxed);
        tracing::warn!(connections = left, "stopping with responses still being written: they are cut off");
    }
    Ok(())
}

/// How long a stop waits for the requests under way to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The connections open, in all and per address.
#[derive(Default)]
struct Open {
    total: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    closed: Notify,
}

impl Open {
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
        let ip = canonical(ip);
        let counted = !limits.trusted_proxies.iter().any(|p| p.contains(ip));
        let mut by_address = self.by_address.lock().expect("connections lock");
        if self.total.load(Ordering::Relaxed) >= limits.max_connections {
            tracing::debug!(%ip, "connection refused: server.max_connections reached");
            return None;
        }
        if counted {
            let count = by_address.entry(ip).or_default();
            if *count >= limits.max_connections_per_address {
                tracing::debug!(%ip, "connection refused: server.max_connections_per_address reached");
                return None;
            }
            *count += 1;
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Slot { open: self.clone(), ip: counted.then_some(ip) })
    }

    async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            if self.total.load(Ordering::Relaxed) == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// One open connection's place in [`Open`], given back when dropped.
struct Slot {
    open: Arc<Open>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_address = self.open.by_address.lock().expect("connections lock");
        if let Some(ip) = self.ip
            && let Some(count) = by_address.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                by_address.remove(&ip);
            }
        }
        if self.open.total.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.open.closed.notify_waiters();
        }
    }
}

/// Over a limit: a 503 if the socket takes it at once, then closed.
fn refuse(stream: TcpStream) {
    const BODY: &str = r#"{"error":{"code":"too_many_connections","message":"too many open connections; try again"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Arc<Limits>,
    mut stopping: watch::Receiver<bool>,
    _slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let service = {
        let (activity, limits) = (activity.clone(), limits.clone());
        hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(req, peer, router.clone(), activity.clone(), limits.clone())
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).header_read_timeout(None);
    let mut conn = std::pin::pin!(builder.serve_connection(io, service));
    let mut stop_sent = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            reason = activity.expired(&limits) => {
                tracing::debug!(%peer, reason, "connection closed");
                return;
            }
            changed = stopping.changed(), if !stop_sent => {
                stop_sent = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

async fn handle(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    mut router: Router,
    activity: Arc<Activity>,
    limits: Arc<Limits>,
) -> Result<Response<Body>, Infallible> {
    let underway = activity.request_began();
    req.extensions_mut().insert(ConnectInfo(peer));
    let late = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| Body::new(TimedBody::new(body, &limits, late.clone())));
    let response = router.call(req).await.unwrap_or_else(|never| match never {});
    let response = if late.load(Ordering::Relaxed) {
        tracing::info!(%peer, "request body too slow: answered 408");
        let mut late = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body came too slowly (see server.body_timeout and server.body_min_rate)",
        )
        .into_response();
        late.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        late
    } else {
        response
    };
    Ok(response.map(|body| Body::new(Underway { inner: body, _underway: underway })))
}

/// What a connection is doing, for its timeouts: times are milliseconds since
/// `base`; `head_since` 0 is none.
struct Activity {
    base: Instant,
    requests: AtomicUsize,
    head_since: AtomicU64,
    idle_since: AtomicU64,
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        // A connection's first request is timed from the accept, as a head.
        Activity {
            base: Instant::now(),
            requests: AtomicUsize::new(0),
            head_since: AtomicU64::new(1),
            idle_since: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn request_began(self: &Arc<Self>) -> RequestUnderway {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.head_since.store(0, Ordering::SeqCst);
        self.changed.notify_one();
        RequestUnderway(self.clone())
    }

    /// Bytes arrived: with no request under way, they begin the next head.
    fn read_some(&self) {
        if self.requests.load(Ordering::SeqCst) == 0 && self.head_since.load(Ordering::SeqCst) == 0 {
            self.head_since.store(self.now() + 1, Ordering::SeqCst);
            self.changed.notify_one();
        }
    }

    /// Resolves, saying why, once the connection has been waiting too long for
    /// a head or idle too long; never while a request is under way.
    async fn expired(&self, limits: &Limits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            let head = self.head_since.load(Ordering::SeqCst);
            let deadline = if self.requests.load(Ordering::SeqCst) > 0 {
                None
            } else if head > 0 {
                Some((head - 1 + limits.header_timeout.as_millis() as u64, "header_timeout"))
            } else {
                Some((self.idle_since.load(Ordering::SeqCst) + limits.idle_timeout.as_millis() as u64, "idle_timeout"))
            };
            match deadline {
                None => changed.await,
                Some((at, why)) => {
                    let at = self.base + Duration::from_millis(at);
                    if Instant::now() >= at {
                        return why;
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// Held by a response's body: dropped when it is written (or given up), the
/// connection is idle again.
struct RequestUnderway(Arc<Activity>);

impl Drop for RequestUnderway {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::SeqCst);
        activity.requests.fetch_sub(1, Ordering::SeqCst);
        activity.changed.notify_one();
    }
}

/// The socket, telling [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read_some();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request body held to `body_timeout` and `body_min_rate`. Only the time
/// the server spends waiting for the client counts (not the time a handler
/// takes before it reads on): past its allowance the body ends in an error,
/// and `late` says so to [`handle`].
struct TimedBody {
    inner: Incoming,
    received: u64,
    /// Time spent waiting for bytes, not counting the wait under way.
    waited: Duration,
    /// When the wait under way began.
    waiting_since: Option<Instant>,
    grace: Duration,
    min_rate: u64,
    deadline: Pin<Box<Sleep>>,
    late: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Incoming, limits: &Limits, late: Arc<AtomicBool>) -> TimedBody {
        TimedBody {
            inner,
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            grace: limits.body_timeout,
            min_rate: limits.body_min_rate,
            deadline: Box::pin(tokio::time::sleep(limits.body_timeout)),
            late,
        }
    }

    /// `body_timeout`, or longer as bytes come: each byte earns `1/min_rate` s.
    fn allowance(&self) -> Duration {
        self.grace.max(Duration::from_secs_f64(self.received as f64 / self.min_rate as f64))
    }

    fn too_slow(&mut self) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.late.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err("the request body came too slowly".into())))
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let now = Instant::now();
        if polled.is_pending() {
            let since = *this.waiting_since.get_or_insert(now);
            let Some(left) = this.allowance().checked_sub(this.waited + (now - since)) else {
                return this.too_slow();
            };
            this.deadline.as_mut().reset(now + left);
            return match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => this.too_slow(),
                Poll::Pending => Poll::Pending,
            };
        }
        if let Some(since) = this.waiting_since.take() {
            this.waited += now - since;
        }
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                this.received += frame.data_ref().map_or(0, |d| d.len() as u64);
                if this.waited > this.allowance() {
                    return this.too_slow();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other.map(|f| f.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds its request's [`RequestUnderway`].
struct Underway {
    inner: Body,
    _underway: RequestUnderway,
}

impl http_body::Body for Underway {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
