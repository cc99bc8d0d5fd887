//! Client connections that stop reading: a write that makes no progress for a while fails, which
//! ends the connection, so a client cannot hold a response (and its upstream connection) by never
//! reading it. Only waiting writes count: an idle connection or a long poll is not a stall.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct WriteStall<T> {
    io: T,
    after: Duration,
    /// Armed at the first write that had to wait; allocated on the first such wait.
    deadline: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<T> WriteStall<T> {
    pub fn new(io: T, after: Duration) -> WriteStall<T> {
        WriteStall {
            io,
            after,
            deadline: None,
            armed: false,
        }
    }

    /// Passes on a finished write (disarming the clock); for one that must wait, an error once the
    /// clock has run out.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<R>>,
    ) -> Poll<std::io::Result<R>> {
        if polled.is_ready() {
            self.armed = false;
            return polled;
        }
        let after = self.after;
        let sleep = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        if !self.armed {
            sleep.as_mut().reset(Instant::now() + after);
            self.armed = true;
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the client read nothing for {}s", self.after.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteStall<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteStall<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_reader_that_stops_fails_the_write_after_the_timeout() {
        let after = Duration::from_millis(300);
        let (near, mut far) = tokio::io::duplex(1024);
        let mut io = WriteStall::new(near, after);
        io.write_all(&[0; 1024]).await.unwrap();
        // Progress whenever the reader reads resets the clock.
        let mut buf = [0; 1024];
        far.read_exact(&mut buf).await.unwrap();
        io.write_all(&[0; 1024]).await.unwrap();
        let started = Instant::now();
        let err = io.write_all(&[0; 1]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(
            waited >= after && waited < after * 20,
            "gave up after {waited:?}"
        );
    }
}
