//! Connection caps of the edge: a global cap derived from the process's file-descriptor limit and
//! a per-address cap (IPv4 /32, IPv6 /64), checked right after `accept`, before any TLS work;
//! plus the timeouts every connection lives by.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// File descriptors kept out of the global cap, at least this many: the upstream connections to
/// Synapse (capped separately by the pool), the Docker socket, ACME, state files and listeners.
const MIN_RESERVED_FDS: u64 = 256;
/// A ceiling for the global cap whatever the fd limit: an idle TLS connection costs roughly
/// 20-30 KiB, so 16,384 of them stay within a few hundred MiB next to Synapse on a small VPS.
const MAX_CONNECTIONS_CEILING: u64 = 16_384;
/// The soft fd limit is raised towards the hard one up to this (systemd's unit sets 65536).
const WANTED_FD_LIMIT: u64 = 65_536;

/// How many connections the edge holds and for how long. `Default` is the production policy
/// (it raises the soft fd limit towards the hard one, then derives the global cap from it); tests
/// shorten the timeouts.
#[derive(Clone, Debug)]
pub struct ConnPolicy {
    /// Open client connections on all listeners together.
    pub max_connections: usize,
    /// Open client connections from one IPv4 address or one IPv6 /64. Generous, as households,
    /// offices and carrier-grade NAT put many clients behind one address, and each Matrix client
    /// holds only a few connections (HTTP/2 multiplexes).
    pub max_per_address: usize,
    pub tls_handshake_timeout: Duration,
    /// From a new connection to its first request (HTTP/1.1 headers or an HTTP/2 stream): a
    /// connection that says nothing, or only the HTTP/2 preface, is closed after this.
    pub first_request_timeout: Duration,
    /// From the first byte of an HTTP/1.1 request to its last header (slowloris).
    pub header_timeout: Duration,
    /// An HTTP/1.1 keep-alive connection between requests (nginx waits 75 s too).
    pub http1_idle_timeout: Duration,
    /// An HTTP/2 connection with no open stream; PINGs do not count as activity, an open stream
    /// (a long-poll `/sync`) does.
    pub http2_idle_timeout: Duration,
    /// After a GOAWAY or a keep-alive close, how long a connection with nothing in flight may
    /// take to finish closing before it is dropped.
    pub close_grace: Duration,
    /// Requests a client may cancel on one connection (HTTP/2 RST_STREAM before the answer,
    /// rapid reset) within `cancel_window` before the connection gets GOAWAY.
    pub max_cancels: u32,
    pub cancel_window: Duration,
}

impl Default for ConnPolicy {
    fn default() -> ConnPolicy {
        ConnPolicy {
            max_connections: global_cap(raise_fd_limit()),
            max_per_address: 256,
            tls_handshake_timeout: Duration::from_secs(10),
            first_request_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            http1_idle_timeout: Duration::from_secs(75),
            http2_idle_timeout: Duration::from_secs(75),
            close_grace: Duration::from_secs(2),
            max_cancels: 200,
            cancel_window: Duration::from_secs(10),
        }
    }
}

/// Raises the soft RLIMIT_NOFILE towards the hard limit (up to `WANTED_FD_LIMIT`), as a server
/// holding thousands of sockets needs, and returns the soft limit now in force.
fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let wanted = hard.min(WANTED_FD_LIMIT.max(soft));
    if wanted > soft && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
        return wanted;
    }
    soft
}

/// The global connection cap for a soft fd limit: a quarter of the limit (at least
/// `MIN_RESERVED_FDS`) is kept for everything that is not a client connection.
fn global_cap(fd_limit: u64) -> usize {
    let reserved = (fd_limit / 4).max(MIN_RESERVED_FDS);
    fd_limit
        .saturating_sub(reserved)
        .clamp(16, MAX_CONNECTIONS_CEILING) as usize
}

/// The unit the per-address cap counts: one IPv4 address, or one IPv6 /64 (what one host or one
/// customer gets; counting single IPv6 addresses would let one host take the whole cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AddrKey {
    V4(u32),
    V6(u64),
}

impl AddrKey {
    fn of(ip: IpAddr) -> AddrKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => AddrKey::V4(v4.to_bits()),
            IpAddr::V6(v6) => AddrKey::V6((v6.to_bits() >> 64) as u64),
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_addr: HashMap<AddrKey, usize>,
}

/// The open connections of all listeners, shared by them so the caps hold across :80 and :443.
pub struct Connections {
    policy: ConnPolicy,
    counts: Mutex<Counts>,
    refused: AtomicU64,
    refusal_log: Throttled,
    /// Woken when the last connection closes, for the drain on shutdown.
    drained: tokio::sync::Notify,
}

impl Connections {
    pub fn new(policy: ConnPolicy) -> Arc<Connections> {
        Arc::new(Connections {
            policy,
            counts: Mutex::default(),
            refused: AtomicU64::new(0),
            refusal_log: Throttled::new(Duration::from_secs(10)),
            drained: tokio::sync::Notify::new(),
        })
    }

    pub fn policy(&self) -> &ConnPolicy {
        &self.policy
    }

    /// Client connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().expect("connection counts").total
    }

    /// Connections refused over a cap since the start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts a new connection from `peer`, or refuses it (`None`) when a cap is reached; the
    /// count drops when the returned ticket is dropped.
    pub(super) fn admit(self: &Arc<Connections>, peer: IpAddr) -> Option<Admitted> {
        let key = AddrKey::of(peer);
        let refusal = {
            let mut counts = self.counts.lock().expect("connection counts");
            let from_peer = counts.by_addr.get(&key).copied().unwrap_or(0);
            if counts.total >= self.policy.max_connections {
                Some("all listeners")
            } else if from_peer >= self.policy.max_per_address {
                Some("one address")
            } else {
                counts.total += 1;
                *counts.by_addr.entry(key).or_default() += 1;
                None
            }
        };
        let Some(scope) = refusal else {
            return Some(Admitted {
                connections: self.clone(),
                key,
            });
        };
        self.refused.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = self.refusal_log.ready() {
            tracing::warn!(
                "refused a connection from {peer}: the cap for {scope} is reached \
                 ({} in all, {} per address; {suppressed} more refused since the last warning); \
                 hint: clients are holding connections open; the cap in all grows with \
                 LimitNOFILE in the systemd unit",
                self.policy.max_connections,
                self.policy.max_per_address
            );
        }
        None
    }

    /// Waits until no connection is open.
    pub(super) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One admitted connection; dropping it frees its place under the caps.
pub(super) struct Admitted {
    connections: Arc<Connections>,
    key: AddrKey,
}

impl Admitted {
    pub(super) fn policy(&self) -> &ConnPolicy {
        &self.connections.policy
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.connections.counts.lock().expect("connection counts");
        counts.total -= 1;
        if let Some(n) = counts.by_addr.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.by_addr.remove(&self.key);
            }
        }
        if counts.total == 0 {
            self.connections.drained.notify_waiters();
        }
    }
}

/// A warning an attacker can trigger, logged at most once per `every`, with the number of
/// occurrences it stood for, so the log cannot be grown at the attacker's pace.
pub(super) struct Throttled {
    every: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Throttled {
    pub(super) fn new(every: Duration) -> Throttled {
        Throttled {
            every,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(occurrences suppressed since the last warning)` when it is time to warn again.
    pub(super) fn ready(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().expect("log throttle");
        if last.is_some_and(|t| now.duration_since(t) < self.every) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_connections: usize, max_per_address: usize) -> ConnPolicy {
        ConnPolicy {
            max_connections,
            max_per_address,
            ..ConnPolicy::default()
        }
    }

    #[test]
    fn global_cap_keeps_a_reserve_and_a_ceiling() {
        assert_eq!(global_cap(1024), 768);
        assert_eq!(global_cap(3000), 2250);
        assert_eq!(global_cap(65_536), 16_384);
        assert_eq!(global_cap(300), 44);
    }

    #[test]
    fn caps_per_address_and_in_all() {
        let conns = Connections::new(policy(5, 3));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| conns.admit(a).unwrap()).collect();
        assert!(conns.admit(a).is_none(), "per-address cap");
        assert!(
            conns.admit("::ffff:192.0.2.1".parse().unwrap()).is_none(),
            "a mapped address is the same address"
        );
        let b1 = conns.admit("2001:db8::1".parse().unwrap()).unwrap();
        let b2 = conns.admit("2001:db8::2".parse().unwrap()).unwrap();
        assert!(
            conns.admit("2001:db8:0:1::1".parse().unwrap()).is_none(),
            "global cap"
        );
        drop(b1);
        assert!(
            conns.admit("2001:db8::ffff:1".parse().unwrap()).is_some(),
            "freed"
        );
        drop((held, b2));
        assert_eq!(conns.open(), 0);
        assert_eq!(conns.refused(), 3);
        assert!(conns.counts.lock().unwrap().by_addr.is_empty());
    }

    #[test]
    fn one_ipv6_64_is_one_address() {
        let conns = Connections::new(policy(100, 2));
        let _a = conns.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        let _b = conns
            .admit("2001:db8:1:2:ffff::9".parse().unwrap())
            .unwrap();
        assert!(conns.admit("2001:db8:1:2::3".parse().unwrap()).is_none());
        assert!(conns.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
    }

    #[test]
    fn throttled_warnings_count_what_they_hide() {
        let log = Throttled::new(Duration::from_secs(3600));
        assert_eq!(log.ready(), Some(0));
        assert_eq!(log.ready(), None);
        assert_eq!(log.ready(), None);
        *log.last.lock().unwrap() = Some(Instant::now() - Duration::from_secs(3601));
        assert_eq!(log.ready(), Some(2));
    }
}
