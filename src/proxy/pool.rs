//! Keep-alive HTTP/1.1 connections to Synapse. There is one upstream address, so no keyed pool
//! is needed: open connections wait in a list and a request takes the most recent ready one.
//! Cheaper per request than hyper-util's general client (no key hashing, no task spawned to
//! hand each connection back).

use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

use http::{Request, Response};
use http_body_util::Limited;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections unused for this long are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Connections kept open; more are closed once their response is done.
const MAX_KEPT: usize = 256;

type Body = Limited<Incoming>;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("connecting timed out after {}s", CONNECT_TIMEOUT.as_secs())]
    ConnectTimeout,
    #[error("{0}")]
    Http(#[source] hyper::Error),
}

pub struct Pool {
    /// `host:port`, resolved on every connect.
    address: String,
    /// Open connections and when each last took a request; busy ones become ready again once
    /// their response has been read.
    kept: Mutex<Vec<(SendRequest<Body>, Instant)>>,
    reaper: Once,
}

impl Pool {
    pub fn new(address: String) -> Arc<Pool> {
        Arc::new(Pool {
            address,
            kept: Mutex::new(Vec::new()),
            reaper: Once::new(),
        })
    }

    pub async fn send(
        self: Arc<Self>,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        loop {
            let (mut sender, reused) = match self.checkout() {
                Some(sender) => (sender, true),
                // Boxed: rare, and large enough to double every request's future otherwise.
                None => (Box::pin(self.connect()).await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(response) => {
                    self.checkin(sender);
                    return Ok(response);
                }
                Err(mut e) => match e.take_message() {
                    // A kept connection closed before the request went out (Synapse ends idle
                    // keep-alive connections): nothing was sent, so another is tried.
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
    }

    fn checkout(&self) -> Option<SendRequest<Body>> {
        let mut kept = self.kept.lock().expect("pool lock");
        let mut i = kept.len();
        while i > 0 {
            i -= 1;
            let (sender, _) = &kept[i];
            if sender.is_closed() {
                kept.swap_remove(i);
            } else if sender.is_ready() {
                return Some(kept.swap_remove(i).0);
            }
        }
        None
    }

    fn checkin(&self, sender: SendRequest<Body>) {
        let mut kept = self.kept.lock().expect("pool lock");
        if kept.len() < MAX_KEPT {
            kept.push((sender, Instant::now()));
        }
    }

    async fn connect(self: &Arc<Self>) -> Result<SendRequest<Body>, UpstreamError> {
        self.reaper.call_once(|| {
            tokio::spawn(reap(Arc::downgrade(self)));
        });
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&*self.address))
            .await
            .map_err(|_| UpstreamError::ConnectTimeout)?
            .map_err(UpstreamError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(UpstreamError::Http)?;
        // Runs until the connection closes: its sender was dropped, or Synapse closed it.
        tokio::spawn(connection);
        Ok(sender)
    }
}

/// Closes connections idle for longer than `IDLE_TIMEOUT`, for as long as the pool exists.
async fn reap(pool: Weak<Pool>) {
    let mut ticks = tokio::time::interval(IDLE_TIMEOUT / 3);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.kept
            .lock()
            .expect("pool lock")
            .retain(|(sender, since)| {
                !(sender.is_closed() || (sender.is_ready() && since.elapsed() > IDLE_TIMEOUT))
            });
    }
}
