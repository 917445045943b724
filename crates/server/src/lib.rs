//! `sealtrail serve`: the HTTP API and web console for gateways, officers,
//! auditors and patients, and the one writer thread.
//!
//! The only crate that knows HTTP and JSON request shapes. The operations
//! (`ops`: integrity, packs, accounting, ingest) check the caller's role, do
//! the work and seal their self-audit leaf; the JSON API ([`api`]) and the
//! console (`console`) are transports over them, merged into one router by
//! `app`. [`tokens`] keeps tokens and roles in the state directory outside
//! the store; `writer` owns the one `Appender`; `metrics` counts. Reads go
//! through `sealtrail-query`, `sealtrail-report`, `sealtrail-accounting` and
//! the store's `Reader`; writes go only through the writer. Logs are
//! structured JSON with request ids and route templates, never paths with
//! patient ids or bodies. [`serve`] runs it.
#![deny(missing_docs)]

pub mod api;
mod app;
mod caller;
mod console;
mod error;
mod metrics;
mod ops;
pub mod tokens;
mod witnesses;
pub use witnesses::WitnessConfig;
mod writer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use sealtrail_format::tlog::{Signer, Verifier};
use sealtrail_store::Appender;

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Refused configuration.
    #[error("{0}")]
    Config(String),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] sealtrail_store::StoreError),
    /// Network or TLS setup failed.
    #[error("{0}")]
    Io(String),
}

/// `--config FILE` (TOML); every field has a default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Seal after this many pending records.
    pub seal_every: usize,
    /// Seal when the oldest record not yet sealed has waited this long
    /// (milliseconds). Each seal writes one segment file and one signed
    /// checkpoint, so on a quiet store this sets how many files a day adds.
    pub seal_interval_ms: u64,
    /// A segment of fewer records than this is small (FORMAT.md §8.1).
    pub merge_small_below: u64,
    /// A seal merges the small segments ending the log into its own file
    /// once there are this many (0: never), so a quiet server keeps a
    /// bounded number of small files instead of one per seal.
    pub merge_at: usize,
    /// Writer queue capacity (requests); beyond it, 503 with Retry-After.
    pub queue_capacity: usize,
    /// Largest request body accepted (bytes), before decompression.
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression (bytes), and the largest ratio.
    pub max_decompressed_bytes: usize,
    /// Largest gzip expansion ratio accepted (a bomb guard).
    pub max_gzip_ratio: usize,
    /// Serve `GET /v1/checkpoint` without a token.
    pub public_checkpoint: bool,
    /// Sources that get an hourly coverage leaf (count 0 included).
    pub coverage_sources: Vec<String>,
    /// Whole-request timeout (seconds).
    pub request_timeout_secs: u64,
    /// Organisation name for packs built through the API.
    pub organisation: String,
    /// `queries/` directory.
    pub queries: PathBuf,
    /// `reports/` directory.
    pub reports: PathBuf,
    /// Failed authentications allowed per client address per minute.
    pub auth_failures_per_minute: u32,
    /// Web console sessions end this many minutes after sign-in.
    pub session_minutes: u64,
    /// Verified-state file (outside the store) that packs read, written by
    /// a scheduled `sealtrail verify --state` (FORMAT.md §10.1).
    pub verify_state: Option<PathBuf>,
    /// A connection that sends no byte of a request this long after it was
    /// accepted (and, under TLS, after its handshake) is closed
    /// (milliseconds): silent sockets, a bare HTTP/2 preface's idle
    /// connection, a finished handshake and then nothing.
    pub first_byte_timeout_ms: u64,
    /// A connection on which nothing is read or written this long is closed
    /// (milliseconds; at least the request timeout plus 1 s).
    pub idle_timeout_ms: u64,
    /// Decompressed ingest bodies held at once across all requests (bytes);
    /// a request beyond it is answered 503 with Retry-After.
    pub max_in_flight_bytes: usize,
    /// Addresses of TLS proxies in front of the server: for a connection
    /// from one of them, the client is the last address of
    /// `X-Forwarded-For` (what the proxy appended); from anyone else the
    /// header is ignored, so no client can choose its own address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Accounting reads and letters a patient token may ask for per day
    /// (UTC); requests for a formal accounting are limited to a tenth of
    /// it (at least 1). 429 beyond it.
    pub patient_reads_per_day: u32,
    /// Witnesses every new checkpoint is sent to (FORMAT.md §5.5):
    /// `witnesses = [{ url = "https://w.example", vkey = "<name>+<id>+<key>" }]`.
    pub witnesses: Vec<witnesses::WitnessConfig>,
    /// How often the witness thread looks for a new checkpoint
    /// (milliseconds).
    pub witness_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seal_every: 10_000,
            seal_interval_ms: 300_000,
            merge_small_below: sealtrail_store::MergePolicy::default().small_below,
            merge_at: sealtrail_store::MergePolicy::default().at,
            queue_capacity: 64,
            max_body_bytes: 32 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_gzip_ratio: 100,
            public_checkpoint: false,
            coverage_sources: Vec::new(),
            request_timeout_secs: 120,
            organisation: "Covered entity".into(),
            queries: PathBuf::from(sealtrail_query::assets::QUERIES),
            reports: PathBuf::from(sealtrail_query::assets::REPORTS),
            auth_failures_per_minute: 30,
            session_minutes: 30,
            verify_state: None,
            first_byte_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            max_in_flight_bytes: 128 * 1024 * 1024,
            trusted_proxies: Vec::new(),
            patient_reads_per_day: 50,
            witnesses: Vec::new(),
            witness_interval_ms: 10_000,
        }
    }
}

impl Config {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<Config, ServerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))
    }
}

/// How to serve.
pub struct ServeOptions {
    /// Store directory.
    pub store: PathBuf,
    /// State directory (tokens), outside the store.
    pub state: PathBuf,
    /// The signing key (already loaded; its file was checked to be outside the store).
    pub signer: Signer,
    /// Listen address.
    pub listen: SocketAddr,
    /// TLS certificate and key (PEM), if any.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Allow plain HTTP on a non-loopback address.
    pub insecure_http: bool,
    /// Settings.
    pub config: Config,
    /// Called once listening, with the bound address.
    pub on_listen: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
}

/// Shared state of the handlers.
pub struct AppState {
    /// Store directory.
    pub store: PathBuf,
    /// State directory: the tokens, outside the store.
    pub state: PathBuf,
    /// Verifier keys of the store's signer.
    pub keys: Vec<Verifier>,
    /// The writer.
    pub writer: writer::WriterHandle,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Settings.
    pub config: Config,
    /// Built packs by id, for download.
    pub packs: Kept,
    /// Failed authentications per client address: `auth_failures_per_minute`
    /// at once, then one more each 1/n minute (GCRA).
    pub auth_failures: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Letters sent by fulfilments in this process, by request id.
    pub letters: Kept,
    /// Web console sessions (in memory only: a restart signs everyone out).
    pub sessions: console::Sessions,
    /// Whether browsers reach the server over HTTPS: its own TLS, or a TLS
    /// proxy in front (`--insecure-http`). Session cookies are then `Secure`.
    pub tls: bool,
    /// Accountings of disclosures, from one DuckDB connection kept open.
    pub accountant: sealtrail_accounting::Accountant,
    /// What is left of `max_in_flight_bytes`, in KiB permits.
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Patient tokens' reads and requests today: token id → (day, reads, requests).
    pub patient_use: Mutex<std::collections::HashMap<String, (i64, u32, u32)>>,
}

impl AppState {
    /// The store, keys and query files every read of evidence uses.
    pub fn evidence(&self) -> sealtrail_query::EvidenceSource<'_> {
        sealtrail_query::EvidenceSource {
            store: &self.store,
            keys: &self.keys,
            queries: &self.config.queries,
        }
    }
}

/// Files the server built and keeps in memory for download (packs, sent
/// letters): at most `cap`, the oldest dropped first. Memory only, so
/// nothing outlives the process.
pub struct Kept {
    cap: usize,
    items: Mutex<std::collections::VecDeque<(String, Vec<u8>)>>,
}

impl Kept {
    /// Keeps at most `cap` files.
    pub fn new(cap: usize) -> Kept {
        Kept {
            cap: cap.max(1),
            items: Mutex::new(Default::default()),
        }
    }
    /// Keeps `bytes` under `id` (replacing an earlier one of that id).
    pub fn put(&self, id: &str, bytes: Vec<u8>) {
        if let Ok(mut q) = self.items.lock() {
            q.retain(|(k, _)| k != id);
            while q.len() >= self.cap {
                q.pop_front();
            }
            q.push_back((id.to_string(), bytes));
        }
    }
    /// The file kept under `id`.
    pub fn get(&self, id: &str) -> Option<Vec<u8>> {
        let q = self.items.lock().ok()?;
        q.iter().find(|(k, _)| k == id).map(|(_, b)| b.clone())
    }
    /// Whether a file is kept under `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.items
            .lock()
            .is_ok_and(|q| q.iter().any(|(k, _)| k == id))
    }
}

/// Runs the server until SIGTERM or Ctrl-C: drains requests, seals what is
/// pending, returns.
pub fn serve(opts: ServeOptions) -> Result<(), ServerError> {
    if opts.tls.is_none() && !opts.listen.ip().is_loopback() && !opts.insecure_http {
        return Err(ServerError::Config(format!(
            "refusing to serve plain HTTP on {}, which is not a loopback address: PHI and tokens would cross the network unencrypted. Give --tls-cert and --tls-key, or --insecure-http if a TLS proxy in front terminates TLS",
            opts.listen
        )));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServerError::Io(e.to_string()))?;
    let keys = vec![opts.signer.verifier()];
    let accountant = sealtrail_accounting::Accountant::new(sealtrail_query::EvidenceSource {
        store: &opts.store,
        keys: &keys,
        queries: &opts.config.queries,
    });
    let app = Appender::open_or_create(&opts.store, opts.signer, None)?;
    let metrics = Arc::new(metrics::Metrics::default());
    let wcfg = writer::WriterConfig {
        capacity: opts.config.queue_capacity,
        seal_every: opts.config.seal_every,
        seal_interval: Duration::from_millis(opts.config.seal_interval_ms.max(10)),
        coverage_sources: opts.config.coverage_sources.clone(),
        merge: sealtrail_store::MergePolicy {
            small_below: opts.config.merge_small_below,
            at: opts.config.merge_at,
        },
    };
    let mut witness_keys = Vec::new();
    for w in &opts.config.witnesses {
        let key = sealtrail_format::tlog::cosignature::CosignerKey::parse(&w.vkey)
            .map_err(|e| ServerError::Config(format!("witnesses: {}: {e}", w.url)))?;
        witness_keys.push((w.url.clone(), key));
    }
    let (writer, join) = writer::start(app, wcfg, metrics.clone());
    let witnessing = witnesses::Witnessing::start(
        opts.store.clone(),
        keys.clone(),
        witness_keys,
        Duration::from_millis(opts.config.witness_interval_ms.max(100)),
        writer.clone(),
    )
    .map_err(|e| ServerError::Io(e.to_string()))?;
    let in_flight_kib = (opts.config.max_in_flight_bytes / 1024).clamp(1, u32::MAX as usize >> 4);
    let state = Arc::new(AppState {
        in_flight: Arc::new(tokio::sync::Semaphore::new(in_flight_kib)),
        patient_use: Mutex::new(std::collections::HashMap::new()),
        state: opts.state.clone(),
        store: opts.store.clone(),
        keys,
        writer: writer.clone(),
        metrics,
        config: opts.config.clone(),
        packs: Kept::new(16),
        auth_failures: governor::RateLimiter::keyed(governor::Quota::per_minute(
            std::num::NonZeroU32::new(opts.config.auth_failures_per_minute)
                .unwrap_or(std::num::NonZeroU32::MIN),
        )),
        letters: Kept::new(64),
        sessions: Default::default(),
        tls: opts.tls.is_some() || opts.insecure_http,
        accountant,
    });
    // the first accounting would otherwise wait for a scan of every segment
    let warming = state.clone();
    std::thread::spawn(move || {
        if let Err(e) = warming.accountant.warm() {
            tracing::warn!(error = %e, "accountings: warm-up failed; the first one will build its tables");
        }
    });
    let first_byte_ms = state.config.first_byte_timeout_ms;
    // longer than any request may take, so no request is cut by it
    let idle_ms = state
        .config
        .idle_timeout_ms
        .max(state.config.request_timeout_secs.saturating_mul(1000) + 1_000);
    let router = app::router(state);
    let result = rt.block_on(async move {
        let handle = axum_server::Handle::new();
        let h2 = handle.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested: draining requests");
            h2.graceful_shutdown(Some(Duration::from_secs(30)));
        });
        let make = router.into_make_service_with_connect_info::<SocketAddr>();
        let first_byte = Duration::from_millis(first_byte_ms.max(1));
        let idle = Duration::from_millis(idle_ms.max(1));
        let on_listen = opts.on_listen;
        let h3 = handle.clone();
        tokio::spawn(async move {
            if let Some(addr) = h3.listening().await
                && let Some(f) = on_listen
            {
                f(addr);
            }
        });
        match opts.tls {
            Some((cert, key)) => {
                let _ = rustls_ring_default();
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                    .await
                    .map_err(|e| {
                        ServerError::Io(format!(
                            "TLS certificate or key ({}, {}): {e}",
                            cert.display(),
                            key.display()
                        ))
                    })?;
                let mut server = axum_server::bind_rustls(opts.listen, tls)
                    .handle(handle)
                    .map(|a| FirstByteDeadline::new(a, first_byte, idle));
                configure_http(server.http_builder());
                server
                    .serve(make)
                    .await
                    .map_err(|e| ServerError::Io(format!("{}: {e}", opts.listen)))
            }
            None => {
                let mut server = axum_server::bind(opts.listen)
                    .handle(handle)
                    .map(|a| FirstByteDeadline::new(a, first_byte, idle));
                configure_http(server.http_builder());
                server
                    .serve(make)
                    .await
                    .map_err(|e| ServerError::Io(format!("{}: {e}", opts.listen)))
            }
        }
    });
    // requests are drained: stop witnessing, seal what is pending, then
    // stop the writer (the last seal is cosigned at the next start, or by
    // `sealtrail witness push`)
    witnessing.stop();
    writer.shutdown();
    let _ = join.join();
    result
}

/// Cuts off slow clients: HTTP/1 headers must arrive within 10 seconds;
/// an HTTP/2 connection carries at most 64 streams at once. (No HTTP/2
/// keep-alive pings: their answers would count as activity and keep an
/// idle connection open past the idle timeout.)
fn configure_http(b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>) {
    b.http1()
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(64 * 1024);
    b.http2().max_concurrent_streams(64);
}

/// An acceptor that closes connections that do nothing: one that sends no
/// byte within `first` of being accepted (after the TLS handshake, under
/// TLS), and one on which nothing moves, neither read nor written, for
/// `idle` (longer than any request may take). Silent sockets, an HTTP/2
/// connection left open without streams and a finished handshake followed
/// by nothing hold nothing of the server for long.
#[derive(Clone)]
struct FirstByteDeadline<A> {
    inner: A,
    first: Duration,
    idle: Duration,
}

impl<A> FirstByteDeadline<A> {
    fn new(inner: A, first: Duration, idle: Duration) -> Self {
        FirstByteDeadline { inner, first, idle }
    }
}

impl<A, I, S> axum_server::accept::Accept<I, S> for FirstByteDeadline<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: 'static,
    A::Service: 'static,
{
    type Stream = Deadline<A::Stream>;
    type Service = A::Service;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = std::io::Result<(Self::Stream, Self::Service)>> + Send,
        >,
    >;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let (first, idle) = (self.first, self.idle);
        let f = self.inner.accept(stream, service);
        Box::pin(async move {
            let (s, svc) = f.await?;
            Ok((
                Deadline {
                    inner: s,
                    sleep: Box::pin(tokio::time::sleep(first)),
                    idle,
                },
                svc,
            ))
        })
    }
}

/// A stream whose reads fail with `TimedOut` once its deadline passes: the
/// first byte's, then `idle` after the last byte read or written.
struct Deadline<S> {
    inner: S,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    idle: Duration,
}

impl<S> Deadline<S> {
    fn moved(&mut self) {
        let at = tokio::time::Instant::now() + self.idle;
        self.sleep.as_mut().reset(at);
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Deadline<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the connection was idle too long",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Deadline<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r
            && *n > 0
        {
            self.moved();
        }
        r
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let std::task::Poll::Ready(Ok(n)) = &r
            && *n > 0
        {
            self.moved();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

fn rustls_ring_default() -> Result<(), ()> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| ())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
