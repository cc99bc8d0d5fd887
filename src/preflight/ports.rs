//! Who listens on a TCP port (or holds a UDP one): /proc/net/{tcp,udp}{,6} maps the port to a
//! socket inode, and /proc/<pid>/fd maps the inode to the processes holding it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// A listen address matrixbox wants, and what holds it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub role: &'static str,
    pub addr: SocketAddr,
    pub holder: Holder,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Holder {
    Free,
    Process {
        pid: u32,
        comm: String,
    },
    /// Something listens, but no process of ours to see owns the socket (another user, namespace).
    Hidden,
}

/// A listening socket as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub addr: SocketAddr,
    pub inode: u64,
}

/// TCP state LISTEN in /proc/net/tcp.
const TCP_LISTEN: &str = "0A";
/// A bound UDP socket in /proc/net/udp (TCP_CLOSE, which the kernel reuses for "unconnected").
const UDP_BOUND: &str = "07";

/// For each wanted listen address, what already holds it. `proc_root` is /proc outside tests.
pub fn holders(
    proc_root: &Path,
    wanted: &[(&'static str, SocketAddr)],
) -> Result<Vec<Port>, String> {
    holders_in(proc_root, wanted, ["net/tcp", "net/tcp6"], TCP_LISTEN)
}

/// `holders` for UDP ports: what has each wanted address bound.
pub fn udp_holders(
    proc_root: &Path,
    wanted: &[(&'static str, SocketAddr)],
) -> Result<Vec<Port>, String> {
    holders_in(proc_root, wanted, ["net/udp", "net/udp6"], UDP_BOUND)
}

fn holders_in(
    proc_root: &Path,
    wanted: &[(&'static str, SocketAddr)],
    tables: [&str; 2],
    state: &str,
) -> Result<Vec<Port>, String> {
    let mut listening = Vec::new();
    for (file, v6) in [(tables[0], false), (tables[1], true)] {
        let path = proc_root.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => listening.extend(parse_sockets(&text, v6, state)),
            // No tcp6 table: IPv6 is disabled, so nothing can listen there.
            Err(e) if v6 && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    let clashes: Vec<Option<u64>> = wanted
        .iter()
        .map(|(_, addr)| {
            listening
                .iter()
                .find(|l| clashes(*addr, l.addr))
                .map(|l| l.inode)
        })
        .collect();
    let inodes: Vec<u64> = clashes.iter().flatten().copied().collect();
    let owners = if inodes.is_empty() {
        HashMap::new()
    } else {
        socket_owners(proc_root, &inodes)
    };
    Ok(wanted
        .iter()
        .zip(clashes)
        .map(|((role, addr), inode)| Port {
            role,
            addr: *addr,
            holder: match inode {
                None => Holder::Free,
                Some(inode) => match owners.get(&inode) {
                    Some((pid, comm)) => Holder::Process {
                        pid: *pid,
                        comm: comm.clone(),
                    },
                    None => Holder::Hidden,
                },
            },
        })
        .collect())
}

/// Listening sockets in one /proc/net/tcp or tcp6 table.
pub fn parse_listening(text: &str, v6: bool) -> Vec<Listening> {
    parse_sockets(text, v6, TCP_LISTEN)
}

/// The sockets of a /proc/net table in `state`.
fn parse_sockets(text: &str, v6: bool, state: &str) -> Vec<Listening> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) != Some(&state) {
                return None;
            }
            Some(Listening {
                addr: parse_addr(fields.get(1)?, v6)?,
                inode: fields.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F:1F90`: the address as the kernel's in-memory words printed in hex (so in host byte
/// order, 32 bits at a time), then the port.
fn parse_addr(text: &str, v6: bool) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip = if v6 {
        if addr.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for i in 0..4 {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
        }
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        if addr.len() != 8 {
            return None;
        }
        IpAddr::V4(Ipv4Addr::from(word(0)?))
    };
    Some(SocketAddr::new(ip, port))
}

/// Whether binding `ours` fails because `theirs` listens. Linux refuses the same port when
/// either side is a wildcard (a dual-stack `[::]` covers IPv4 too) or the addresses are equal.
pub fn clashes(ours: SocketAddr, theirs: SocketAddr) -> bool {
    ours.port() == theirs.port()
        && (ours.ip().is_unspecified()
            || theirs.ip().is_unspecified()
            || ours.ip().to_canonical() == theirs.ip().to_canonical())
}

/// inode -> (lowest pid holding it, its command name). The lowest pid is usually the parent
/// (nginx's master rather than a worker). Processes of other users stay invisible unless root.
fn socket_owners(proc_root: &Path, inodes: &[u64]) -> HashMap<u64, (u32, String)> {
    let mut owners: HashMap<u64, (u32, String)> = HashMap::new();
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return owners;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|l| l.parse::<u64>().ok())
            else {
                continue;
            };
            if inodes.contains(&inode) && owners.get(&inode).is_none_or(|(known, _)| pid < *known) {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                owners.insert(inode, (pid, comm.trim().to_string()));
            }
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address as the kernel prints it, on whatever byte order this machine has.
    fn kernel_hex(ip: IpAddr) -> String {
        let bytes: Vec<u8> = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        bytes
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    }

    fn line(n: usize, addr: SocketAddr, state: &str, inode: u64) -> String {
        format!(
            "{n:4}: {}:{:04X} {}:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0",
            kernel_hex(addr.ip()),
            addr.port(),
            kernel_hex(if addr.is_ipv4() {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                Ipv6Addr::UNSPECIFIED.into()
            })
        )
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    #[test]
    fn listening_sockets_are_parsed_in_both_families() {
        let v4 = format!(
            "{HEADER}\n{}\n{}\n",
            line(0, "0.0.0.0:443".parse().unwrap(), "0A", 4242),
            line(1, "127.0.0.1:8008".parse().unwrap(), "01", 99)
        );
        assert_eq!(
            parse_listening(&v4, false),
            [Listening {
                addr: "0.0.0.0:443".parse().unwrap(),
                inode: 4242
            }]
        );
        let v6 = format!(
            "{HEADER}\n{}\n",
            line(0, "[::1]:8448".parse().unwrap(), "0A", 7)
        );
        assert_eq!(
            parse_listening(&v6, true),
            [Listening {
                addr: "[::1]:8448".parse().unwrap(),
                inode: 7
            }]
        );
    }

    #[test]
    fn address_overlap_follows_linux_bind_rules() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(clashes(a("0.0.0.0:443"), a("127.0.0.1:443")));
        assert!(clashes(a("127.0.0.1:443"), a("0.0.0.0:443")));
        assert!(
            clashes(a("0.0.0.0:443"), a("[::]:443")),
            "a dual-stack wildcard covers IPv4"
        );
        assert!(clashes(a("127.0.0.1:443"), a("[::ffff:127.0.0.1]:443")));
        assert!(!clashes(a("127.0.0.1:443"), a("127.0.0.2:443")));
        assert!(!clashes(a("127.0.0.1:443"), a("[::1]:443")));
        assert!(!clashes(a("0.0.0.0:443"), a("0.0.0.0:80")));
    }

    /// A fake /proc where nginx (master 812, worker 813) listens on :443.
    #[test]
    fn busy_port_names_the_lowest_pid_holding_the_socket() {
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc.path().join("net")).unwrap();
        std::fs::write(
            proc.path().join("net/tcp"),
            format!(
                "{HEADER}\n{}\n",
                line(0, "0.0.0.0:443".parse().unwrap(), "0A", 4242)
            ),
        )
        .unwrap();
        for pid in [813, 812] {
            let dir = proc.path().join(pid.to_string());
            std::fs::create_dir_all(dir.join("fd")).unwrap();
            std::fs::write(dir.join("comm"), "nginx\n").unwrap();
            std::os::unix::fs::symlink("socket:[4242]", dir.join("fd/6")).unwrap();
            std::os::unix::fs::symlink("/dev/null", dir.join("fd/0")).unwrap();
        }
        let wanted = [
            ("http", "0.0.0.0:80".parse().unwrap()),
            ("https", "0.0.0.0:443".parse().unwrap()),
        ];
        let ports = holders(proc.path(), &wanted).unwrap();
        assert_eq!(ports[0].holder, Holder::Free);
        assert_eq!(
            ports[1].holder,
            Holder::Process {
                pid: 812,
                comm: "nginx".into()
            }
        );
    }

    #[test]
    fn a_socket_without_a_visible_owner_is_hidden() {
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc.path().join("net")).unwrap();
        std::fs::write(
            proc.path().join("net/tcp6"),
            format!(
                "{HEADER}\n{}\n",
                line(0, "[::]:80".parse().unwrap(), "0A", 5)
            ),
        )
        .unwrap();
        std::fs::write(proc.path().join("net/tcp"), format!("{HEADER}\n")).unwrap();
        let ports = holders(proc.path(), &[("http", "0.0.0.0:80".parse().unwrap())]).unwrap();
        assert_eq!(ports[0].holder, Holder::Hidden);
    }

    #[test]
    fn this_process_is_found_on_the_real_proc() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ports = holders(Path::new("/proc"), &[("https", addr)]).unwrap();
        assert!(
            matches!(&ports[0].holder, Holder::Process { pid, .. } if *pid == std::process::id()),
            "{ports:?}"
        );
    }

    #[test]
    fn a_bound_udp_socket_is_found_on_the_real_proc_and_tcp_does_not_count() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let ports = udp_holders(Path::new("/proc"), &[("turn.port", addr)]).unwrap();
        assert!(
            matches!(&ports[0].holder, Holder::Process { pid, .. } if *pid == std::process::id()),
            "{ports:?}"
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = listener.local_addr().unwrap();
        let ports = udp_holders(Path::new("/proc"), &[("turn.port", tcp)]).unwrap();
        assert_eq!(
            ports[0].holder,
            Holder::Free,
            "a TCP listener holds no UDP port"
        );
    }
}
