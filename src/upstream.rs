//! Where Synapse is reached: a TCP address (an existing Synapse given as `upstream:`), or our
//! container's UNIX socket, which is connected to only when Synapse's own user holds it.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};
use tokio_util::either::Either;

/// A connected stream to Synapse, whichever way it was reached.
pub type Stream = Either<TcpStream, UnixStream>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Synapse's UNIX listener has Twisted's accept backlog of 50. A burst of new connections beyond
/// it (every client's `/sync` at once after a restart: bench/load-bench.sh with 200 users) gets
/// EAGAIN at once where TCP would retransmit its SYN and wait; so wait the same way, from this
/// delay doubling up to `BACKLOG_RETRY_MAX`, within `CONNECT_TIMEOUT`.
const BACKLOG_RETRY_FIRST: Duration = Duration::from_millis(5);
const BACKLOG_RETRY_MAX: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAddr {
    /// `host:port`, resolved on every connect.
    Tcp(http::uri::Authority),
    /// Synapse's listening socket, in a directory its container can write: whatever is found at
    /// `path` must be a socket whose listener runs as `owner` (Synapse's uid), so that a
    /// container that swaps it for a link to another socket (Docker's, say) gets nothing.
    Unix { path: PathBuf, owner: u32 },
}

impl UpstreamAddr {
    /// What a request says in `Host` when its client sent none (HTTP/1.0).
    pub fn host(&self) -> String {
        match self {
            UpstreamAddr::Tcp(authority) => authority.to_string(),
            UpstreamAddr::Unix { .. } => "localhost".into(),
        }
    }

    /// For messages: `127.0.0.1:8008` or `unix:/var/lib/matrixbox/synapse-socket/synapse.sock`.
    pub fn describe(&self) -> String {
        match self {
            UpstreamAddr::Tcp(authority) => authority.to_string(),
            UpstreamAddr::Unix { path, .. } => format!("unix:{}", path.display()),
        }
    }

    pub async fn connect(&self) -> io::Result<Stream> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.connect_now())
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting timed out after {}s", CONNECT_TIMEOUT.as_secs()),
                )
            })?
    }

    async fn connect_now(&self) -> io::Result<Stream> {
        match self {
            UpstreamAddr::Tcp(authority) => {
                let address = match authority.port() {
                    Some(_) => authority.to_string(),
                    None => format!("{authority}:80"),
                };
                let tcp = TcpStream::connect(address).await?;
                let _ = tcp.set_nodelay(true);
                Ok(Either::Left(tcp))
            }
            UpstreamAddr::Unix { path, owner } => {
                // A clear refusal for what is plainly not Synapse's socket; the credential check
                // below is what holds when the name is swapped between this look and connect.
                let kind = std::fs::symlink_metadata(path)?.file_type();
                if !kind.is_socket() {
                    return Err(refused(format!(
                        "{} is not a socket (a {})",
                        path.display(),
                        describe_kind(kind)
                    )));
                }
                let mut delay = BACKLOG_RETRY_FIRST;
                let unix = loop {
                    match UnixStream::connect(path).await {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(BACKLOG_RETRY_MAX);
                        }
                        other => break other?,
                    }
                };
                let uid = unix.peer_cred()?.uid();
                if uid != *owner {
                    return Err(refused(format!(
                        "the socket at {} is held by uid {uid}, not Synapse's ({owner})",
                        path.display()
                    )));
                }
                Ok(Either::Right(unix))
            }
        }
    }
}

fn refused(message: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refused: {message}"),
    )
}

fn describe_kind(kind: std::fs::FileType) -> &'static str {
    if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_fifo() {
        "FIFO"
    } else {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(path: PathBuf, owner: u32) -> UpstreamAddr {
        UpstreamAddr::Unix { path, owner }
    }

    #[tokio::test]
    async fn a_socket_held_by_the_expected_user_is_connected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let _listener = tokio::net::UnixListener::bind(&path).unwrap();
        let me = nix::unistd::getuid().as_raw();
        assert!(unix(path, me).connect().await.is_ok());
    }

    /// A listener with a full accept backlog (Synapse busy, a burst of clients): the connect waits
    /// for room, as over TCP, instead of failing with EAGAIN.
    #[tokio::test]
    async fn a_full_backlog_is_waited_for() {
        use nix::sys::socket::{
            AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &UnixAddr::new(&path).unwrap(),
        )
        .unwrap();
        listen(&fd, Backlog::new(1).unwrap()).unwrap();
        let mut held = Vec::new();
        let full = loop {
            match UnixStream::connect(&path).await {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
            assert!(held.len() < 16, "the backlog never filled");
        };
        assert_eq!(full.kind(), io::ErrorKind::WouldBlock, "{full}");

        let listener = std::os::unix::net::UnixListener::from(fd);
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::UnixListener::from_std(listener).unwrap();
        let accepting = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut accepted = Vec::new();
            loop {
                accepted.push(listener.accept().await.unwrap().0);
            }
        });
        let me = nix::unistd::getuid().as_raw();
        let connected = unix(path, me).connect().await;
        accepting.abort();
        assert!(connected.is_ok(), "{:?}", connected.err());
    }

    #[tokio::test]
    async fn a_socket_held_by_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let _listener = tokio::net::UnixListener::bind(&path).unwrap();
        let other = nix::unistd::getuid().as_raw() + 4242;
        let err = unix(path, other).connect().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("held by uid"), "{err}");
    }

    #[tokio::test]
    async fn a_link_or_a_file_in_its_place_is_refused_without_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere.sock");
        let _listener = tokio::net::UnixListener::bind(&target).unwrap();
        let link = dir.path().join("s.sock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let me = nix::unistd::getuid().as_raw();
        let err = unix(link, me).connect().await.unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");

        let file = dir.path().join("f.sock");
        std::fs::write(&file, b"").unwrap();
        let err = unix(file, me).connect().await.unwrap_err();
        assert!(err.to_string().contains("not a socket (a file)"), "{err}");
    }

    #[test]
    fn descriptions_name_the_transport() {
        let tcp = UpstreamAddr::Tcp("127.0.0.1:8008".parse().unwrap());
        assert_eq!(tcp.describe(), "127.0.0.1:8008");
        assert_eq!(tcp.host(), "127.0.0.1:8008");
        let sock = unix("/s/synapse.sock".into(), 991);
        assert_eq!(sock.describe(), "unix:/s/synapse.sock");
        assert_eq!(sock.host(), "localhost");
    }
}
