//! A client's request body on its way to Synapse: the upload limit and the stall timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

/// A client's request body on its way to Synapse: the upload limit enforced, and an error once
/// no bytes came for a while (the upstream request is then aborted and its connection closed).
/// `None` for a request without a body (most of them): the request, moved several times on its
/// way out, then carries one pointer rather than the body's state.
pub struct ClientBody(Option<Box<Streaming>>);

struct Streaming {
    /// Read before the upstream connection was taken. Boxed: a frame can hold trailers (a
    /// header map), and most bodies have none.
    first: Option<Box<Frame<Bytes>>>,
    inner: Incoming,
    /// Bytes still allowed.
    left: u64,
    max: u64,
    stall_after: Duration,
    /// Armed while waiting for the client; allocated on the first wait.
    stall: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the request body stalled: no bytes for {}s", .0.as_secs())]
    Stalled(Duration),
    #[error("the request body is malformed or was cut off: {0}")]
    Client(#[source] hyper::Error),
}

impl ClientBody {
    pub(super) fn new(inner: Incoming, max: u64, stall_after: Duration) -> ClientBody {
        if hyper::body::Body::is_end_stream(&inner) {
            return ClientBody(None);
        }
        ClientBody(Some(Box::new(Streaming {
            first: None,
            inner,
            left: max,
            max,
            stall_after,
            stall: None,
            armed: false,
        })))
    }

    /// Waits for the first frame (kept for sending), unless the body is empty.
    pub(super) async fn first_frame(&mut self) -> Result<(), BodyError> {
        let Some(streaming) = self.0.as_deref_mut() else {
            return Ok(());
        };
        let first = std::future::poll_fn(|cx| streaming.poll_next(cx)).await;
        streaming.first = first.transpose()?.map(Box::new);
        Ok(())
    }
}

impl Streaming {
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<BodyError> {
        let stall_after = self.stall_after;
        let sleep = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall_after)));
        if !self.armed {
            sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + stall_after);
            self.armed = true;
        }
        sleep
            .as_mut()
            .poll(cx)
            .map(|()| BodyError::Stalled(self.stall_after))
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if let Some(frame) = self.first.take() {
            return Poll::Ready(Some(Ok(*frame)));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.armed = false;
                let len = frame.data_ref().map_or(0, |d| d.remaining() as u64);
                if len > self.left {
                    return Poll::Ready(Some(Err(BodyError::TooLarge(self.max))));
                }
                self.left -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyError::Client(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => self.poll_stall(cx).map(|e| Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let first = self
            .first
            .as_deref()
            .and_then(Frame::data_ref)
            .map_or(0, |d| d.remaining() as u64);
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + first);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + first);
        }
        hint
    }
}

impl hyper::body::Body for ClientBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut().0.as_deref_mut() {
            Some(streaming) => streaming.poll_next(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_deref().is_none_or(Streaming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .as_deref()
            .map_or_else(|| SizeHint::with_exact(0), Streaming::size_hint)
    }
}
