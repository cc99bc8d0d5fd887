//! Privilege separation: the edge (everything that parses internet traffic) runs as its own
//! process, `matrixbox edge`, under an unprivileged uid with no capabilities, no Docker socket
//! and no access to the state dir (secrets, keys) beyond Synapse's sockets and the web client. The root daemon binds the listeners, starts
//! the edge with them inherited, and keeps it current with `Order`s over a socket pair.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::tls::Pem;

/// The edge's uid and gid: fixed, like Synapse's 991 in its container, so nothing has to be
/// created before the daemon starts (no account to add, no race between installations). An
/// `/etc/passwd` entry named `EDGE_USER` may give it a name; any other account with this uid is
/// refused (`account_conflict`), as that user could signal or trace the edge.
pub const EDGE_UID: u32 = 64443;
pub const EDGE_GID: u32 = 64443;
pub const EDGE_USER: &str = "matrixbox-edge";

/// What the daemon tells the edge, one JSON line each, in order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "snake_case")]
pub enum Order {
    /// The config file's text as the daemon read it: first, then after each reload.
    Config { text: String },
    /// Serve `pem` for `names` (issued, renewed or reloaded).
    Certificate { names: Vec<String>, pem: Pem },
    /// A TLS-ALPN-01 challenge certificate while its order is pending (`None`: over).
    AlpnChallenge { name: String, pem: Option<Pem> },
    /// An HTTP-01 token while its order is pending (`None`: over).
    Token {
        token: String,
        key_authorization: Option<String>,
    },
    /// A reconcile's outcome, for the metrics.
    Reconciled { ok: bool },
    /// The backups' record, for the metrics.
    Backup {
        last_good_at: Option<i64>,
        failing: bool,
    },
    /// Everything needed is there: accept connections.
    Serve,
    /// Stop accepting, finish what is open, exit. (End of input means the same.)
    Drain,
}

/// Pure: the name of an account other than `EDGE_USER` that has the edge's uid in `passwd` (the
/// text of /etc/passwd).
pub fn account_conflict(passwd: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let uid = fields.nth(1)?.parse::<u32>().ok()?;
        (uid == EDGE_UID && name != EDGE_USER).then(|| name.to_string())
    })
}

/// Who the edge runs as: `Drop` when the daemon is root (always, under systemd), `Keep` when it
/// is not (a developer's unprivileged run), where there is nothing to drop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Identity {
    Drop { uid: u32, gid: u32 },
    Keep,
}

impl Identity {
    pub fn for_daemon() -> Identity {
        if nix::unistd::geteuid().is_root() {
            Identity::Drop {
                uid: EDGE_UID,
                gid: EDGE_GID,
            }
        } else {
            Identity::Keep
        }
    }
}

/// Starts `exe args` as the edge: the descriptors in `inherit` stay open in it (the listeners,
/// the order socket, two directories), every other one (stdio aside) is closed on exec; its supplementary
/// groups become its own gid alone, then its gid and uid are set, and no-new-privileges keeps
/// exec from ever granting more. A uid change drops every capability (no keep-caps).
pub fn spawn(
    exe: &Path,
    args: &[String],
    inherit: &[RawFd],
    identity: Identity,
) -> io::Result<tokio::process::Child> {
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        // The daemon speaks to systemd and Docker; the edge does neither.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("DOCKER_HOST");
    let inherit = inherit.to_vec();
    // SAFETY: between fork and exec only async-signal-safe calls are made (close_range, fcntl,
    // setgroups, setresgid, setresuid, prctl), nothing allocates.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // Whatever the daemon itself inherited without close-on-exec stays behind too. Best
            // effort (kernels before 5.11 lack it): the daemon's own descriptors are
            // close-on-exec already.
            nix::libc::syscall(
                nix::libc::SYS_close_range,
                3,
                u32::MAX,
                nix::libc::CLOSE_RANGE_CLOEXEC,
            );
            for fd in &inherit {
                if nix::libc::fcntl(*fd, nix::libc::F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Identity::Drop { uid, gid } = identity {
                let (uid, gid) = (
                    nix::unistd::Uid::from_raw(uid),
                    nix::unistd::Gid::from_raw(gid),
                );
                nix::unistd::setgroups(&[gid])?;
                nix::unistd::setresgid(gid, gid, gid)?;
                nix::unistd::setresuid(uid, uid, uid)?;
            }
            nix::sys::prctl::set_no_new_privs()?;
            Ok(())
        });
    }
    tokio::process::Command::from(cmd).spawn()
}

/// A directory opened for the edge (Synapse's sockets, the web client's files), which it uses as
/// `/proc/self/fd/N/...`: a path-only descriptor reads nothing itself, and leaves every
/// permission inside in force; the state dir above it (0700) stays closed to the edge.
pub fn open_dir(dir: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{OFlag, open};
    let fd = open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )?;
    Ok(fd)
}

/// The path under which the edge sees a directory handed to it as `fd`.
pub fn dir_of(fd: RawFd) -> std::path::PathBuf {
    format!("/proc/self/fd/{fd}").into()
}

/// A descriptor number as `matrixbox edge` gets it on its command line.
pub fn arg(fd: &impl AsRawFd) -> String {
    fd.as_raw_fd().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_account_with_the_edges_uid_is_a_conflict() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nmatrixbox-edge:x:64443:64443::/:/usr/sbin/nologin\n";
        assert_eq!(account_conflict(passwd), None);
        let taken = "root:x:0:0::/:/bin/sh\nalice:x:64443:100::/home/alice:/bin/bash\n";
        assert_eq!(account_conflict(taken), Some("alice".into()));
        assert_eq!(
            account_conflict("broken line\nbob:x:nope:1::/:/bin/sh\n"),
            None
        );
    }

    #[test]
    fn orders_are_one_json_line_each() {
        let order = Order::Token {
            token: "t".into(),
            key_authorization: Some("t.k".into()),
        };
        let line = serde_json::to_string(&order).unwrap();
        assert!(!line.contains('\n'));
        assert!(matches!(
            serde_json::from_str::<Order>(&line).unwrap(),
            Order::Token { key_authorization: Some(k), .. } if k == "t.k"
        ));
    }
}
