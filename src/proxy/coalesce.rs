//! HTTP/2's writes gathered into few TLS records and few syscalls. h2 keeps at most one DATA
//! payload beside its frame buffer and flushes before taking the next one when the transport
//! offers vectored writes (as rustls' does): every small answer then cost a TLS record and a
//! `sendto` of its own, where nginx sends the answers that are ready in one. Seen as a plain
//! writer, h2 copies payloads under 1 KiB into its buffer and sends many answers per flush; this
//! writer in turn holds short writes until the flush or a long write, which then go out
//! together (one vectored write), so a large frame still costs one syscall, not two.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Plaintext held back until the flush: one full TLS record's worth.
const HOLD: usize = 16 * 1024;

pub struct Coalesce<T> {
    io: T,
    /// Bytes accepted from the writer and not yet handed to `io`.
    held: Vec<u8>,
}

impl<T> Coalesce<T> {
    pub fn new(io: T) -> Coalesce<T> {
        Coalesce {
            io,
            held: Vec::new(),
        }
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    /// Hands the held bytes (and `then`, after them) to `io`; the count of `then`'s bytes taken.
    /// Pending until every held byte is taken, so nothing is accepted out of order.
    fn push(&mut self, cx: &mut Context<'_>, then: &[u8]) -> Poll<std::io::Result<usize>> {
        while !self.held.is_empty() {
            let bufs = [IoSlice::new(&self.held), IoSlice::new(then)];
            let n = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &bufs))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            let from_held = n.min(self.held.len());
            self.held.drain(..from_held);
            if n > from_held {
                return Poll::Ready(Ok(n - from_held));
            }
        }
        if then.is_empty() {
            return Poll::Ready(Ok(0));
        }
        Pin::new(&mut self.io).poll_write(cx, then)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.held.len() + buf.len() <= HOLD {
            this.held.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        this.push(cx, buf)
    }

    /// Not vectored, so that h2 copies small payloads into its frame buffer (see the module's
    /// comment).
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.push(cx, &[]))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.push(cx, &[]))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Records each write it is given, as the TLS layer would turn each into a record.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl AsyncWrite for Writes {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.get_mut().0.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let n = joined.len();
            self.get_mut().0.push(joined);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn short_writes_go_out_together_at_the_flush() {
        let mut io = Coalesce::new(Writes::default());
        io.write_all(b"one").await.unwrap();
        io.write_all(b"two").await.unwrap();
        assert!(io.io.0.is_empty());
        io.flush().await.unwrap();
        assert_eq!(io.io.0, vec![b"onetwo".to_vec()]);
    }

    #[tokio::test]
    async fn a_long_write_takes_the_held_bytes_with_it() {
        let mut io = Coalesce::new(Writes::default());
        io.write_all(b"head").await.unwrap();
        let long = vec![7; HOLD];
        io.write_all(&long).await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(io.io.0.len(), 1);
        assert_eq!(&io.io.0[0][..4], b"head");
        assert_eq!(io.io.0[0].len(), 4 + HOLD);
        io.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn bytes_arrive_whole_and_in_order_through_a_narrow_pipe() {
        let (near, mut far) = tokio::io::duplex(100);
        let sent: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let writer = tokio::spawn(async move {
            let mut io = Coalesce::new(near);
            for chunk in sent.chunks(777) {
                io.write_all(chunk).await.unwrap();
            }
            io.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got, expected);
    }
}
