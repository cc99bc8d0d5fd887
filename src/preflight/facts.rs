//! Gathering: what the host looks like, read once from /proc, the kernel, Docker, DNS and HTTP.
//! Nothing here judges; failures to look are facts too (kept as their error text).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use super::cause::cause;
use super::ports::{self, Port};
use super::probe::{self, Probe, TimeSample};
use super::{AcmeTarget, Target};
use crate::config;
use crate::disk::{Disk, DiskRole, disk};
use crate::dns::{self, NameLookup, ResolverError};
use crate::docker::engine::{self, Engine};
use crate::tuning;

/// Everything the checks read.
#[derive(Debug, Clone)]
pub struct Facts {
    /// uname: kernel name, release, machine.
    pub os: String,
    pub kernel: String,
    pub arch: String,
    /// /proc/cpuinfo as read.
    pub cpuinfo: Result<String, String>,
    pub cpus: Result<usize, String>,
    pub memory_mb: Option<u64>,
    pub os_release: OsRelease,
    pub uid: u32,
    pub user: String,
    /// Effective capability set from /proc/self/status.
    pub cap_eff: Option<u64>,
    /// Ports below this need CAP_NET_BIND_SERVICE (net.ipv4.ip_unprivileged_port_start).
    pub unprivileged_port_start: u16,
    /// This binary, for the `setcap` remedy.
    pub exe: String,
    pub self_pid: u32,
    pub docker: DockerFacts,
    pub disks: Vec<Disk>,
    pub ports: Result<Vec<Port>, String>,
    /// The TURN relay's ports: over TCP, then over UDP.
    pub turn_ports: Result<(Vec<Port>, Vec<Port>), String>,
    /// Addresses on this host's interfaces.
    pub local_addrs: Vec<IpAddr>,
    /// One lookup per target name; `Err` when the resolver itself cannot be set up.
    pub dns: Result<Vec<NameLookup>, ResolverError>,
    pub acme: AcmeFacts,
    pub registries: Vec<Registry>,
    pub installation: Installation,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsRelease {
    pub id: String,
    pub id_like: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    Open,
    Missing,
    Denied,
    /// A socket file nobody listens on (the engine stopped uncleanly).
    Refused,
    Other,
}

#[derive(Debug, Clone)]
pub struct DockerFacts {
    /// DOCKER_HOST or the default socket.
    pub host: String,
    /// For a unix socket: its path and whether this user can connect.
    pub socket: Option<(PathBuf, SocketState)>,
    pub dockerd_installed: bool,
    pub engine: Result<EngineFacts, String>,
}

#[derive(Debug, Clone)]
pub struct EngineFacts {
    pub version: String,
    pub api: String,
    pub storage_driver: Option<String>,
    pub data_root: Option<PathBuf>,
    /// The engine's clock against ours.
    pub time: Option<TimeSample>,
    /// (image, present on the engine).
    pub images: Vec<(String, bool)>,
}

/// How certificates will be had, and for ACME whether its directory answers.
#[derive(Debug, Clone, PartialEq)]
pub enum AcmeFacts {
    Internal,
    OwnFiles,
    Directory(Probe),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registry {
    pub host: String,
    /// The images from this registry.
    pub images: Vec<String>,
    /// None when every image is already on the engine and nothing needs pulling.
    pub probe: Option<Probe>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Installation {
    pub state_dir: PathBuf,
    pub secrets_dir: PathBuf,
    pub secrets: bool,
    pub config_path: PathBuf,
    pub config: ConfigState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigState {
    Missing,
    Loads { domain: String },
    Invalid(String),
}

/// Longest any one network question may take; they run side by side.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(10);
/// Registry host that Docker Hub image names resolve to.
pub const DOCKER_HUB: &str = "docker.io";

pub async fn gather(target: &Target) -> Facts {
    let (os, kernel, arch) = uname();
    let uid = nix::unistd::geteuid();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    let acme_probe = async {
        match &target.acme {
            AcmeTarget::Directory { url, ca_root } => {
                AcmeFacts::Directory(probe::get(url, ca_root.as_deref()).await)
            }
            AcmeTarget::Internal => AcmeFacts::Internal,
            AcmeTarget::OwnFiles => AcmeFacts::OwnFiles,
        }
    };
    let references: Vec<String> = target.images.iter().flatten().cloned().collect();
    let (docker, dns, acme) = tokio::join!(
        gather_docker(&references),
        dns::lookup_all(&target.names),
        acme_probe
    );
    let registries = gather_registries(&target.images, &docker).await;
    let mut disks = vec![disk(DiskRole::State, target.paths.state())];
    // The data root is a path on the engine's host: only a local (unix socket) engine's is ours.
    if let Ok(engine) = &docker.engine
        && let Some(root) = &engine.data_root
        && docker.socket.is_some()
    {
        disks.push(disk(DiskRole::DockerRoot, root));
    }
    Facts {
        os,
        kernel,
        arch,
        cpuinfo: std::fs::read_to_string("/proc/cpuinfo").map_err(|e| e.to_string()),
        cpus: std::thread::available_parallelism()
            .map(usize::from)
            .map_err(|e| e.to_string()),
        memory_mb: tuning::host_memory_mb(),
        os_release: std::fs::read_to_string("/etc/os-release")
            .map(|t| parse_os_release(&t))
            .unwrap_or_default(),
        uid: uid.as_raw(),
        user,
        cap_eff: std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| parse_cap_eff(&t)),
        unprivileged_port_start: std::fs::read_to_string(
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        )
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(1024),
        exe: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "matrixbox".into()),
        self_pid: std::process::id(),
        docker,
        disks,
        ports: ports::holders(Path::new("/proc"), &target.listen),
        turn_ports: ports::holders(Path::new("/proc"), &target.turn_tcp).and_then(|tcp| {
            Ok((
                tcp,
                ports::udp_holders(Path::new("/proc"), &target.turn_udp)?,
            ))
        }),
        local_addrs: local_addrs(),
        dns,
        acme,
        registries,
        installation: installation(target),
    }
}

fn uname() -> (String, String, String) {
    match nix::sys::utsname::uname() {
        Ok(u) => (
            u.sysname().to_string_lossy().into_owned(),
            u.release().to_string_lossy().into_owned(),
            u.machine().to_string_lossy().into_owned(),
        ),
        Err(_) => (
            std::env::consts::OS.into(),
            String::new(),
            std::env::consts::ARCH.into(),
        ),
    }
}

pub fn parse_os_release(text: &str) -> OsRelease {
    let mut release = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_string();
        match key.trim() {
            "ID" => release.id = value,
            "ID_LIKE" => release.id_like = value.split_whitespace().map(String::from).collect(),
            _ => {}
        }
    }
    release
}

/// The `CapEff:` hex mask of /proc/<pid>/status.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

async fn gather_docker(images: &[String]) -> DockerFacts {
    let host = engine::docker_host();
    let socket = host.strip_prefix("unix://").map(|path| {
        let path = PathBuf::from(path);
        let state = socket_state(&path);
        (path, state)
    });
    let engine = match tokio::time::timeout(DOCKER_TIMEOUT, engine_facts(images)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {}s", DOCKER_TIMEOUT.as_secs())),
    };
    DockerFacts {
        host,
        socket,
        dockerd_installed: dockerd_installed(),
        engine,
    }
}

fn socket_state(path: &Path) -> SocketState {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => SocketState::Open,
        Err(e) => match e.kind() {
            std::io::ErrorKind::NotFound => SocketState::Missing,
            std::io::ErrorKind::PermissionDenied => SocketState::Denied,
            std::io::ErrorKind::ConnectionRefused => SocketState::Refused,
            _ => SocketState::Other,
        },
    }
}

/// Whether the engine binary is anywhere a package would put it (PATH may lack the sbin dirs).
fn dockerd_installed() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/bin",
                "/usr/sbin",
                "/usr/local/bin",
                "/usr/local/sbin",
                "/snap/bin",
            ]
            .map(PathBuf::from),
        )
        .any(|dir| dir.join("dockerd").is_file())
}

async fn engine_facts(images: &[String]) -> Result<EngineFacts, String> {
    let engine = Engine::connect_any().await.map_err(|e| cause(&e))?;
    let version = engine.version().await.map_err(|e| cause(&e))?;
    // An old engine may lack parts of `info`; the version alone still lets preflight judge it.
    let info = engine.info().await.ok();
    let local = OffsetDateTime::now_utc();
    let time = info
        .as_ref()
        .and_then(|i| i.system_time.as_deref())
        .and_then(|t| {
            let remote =
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
            Some(TimeSample { remote, local })
        });
    let mut present = Vec::new();
    for image in images {
        present.push((
            image.clone(),
            engine.image_present(image).await.unwrap_or(false),
        ));
    }
    Ok(EngineFacts {
        version: version.version,
        api: version.api,
        storage_driver: info.as_ref().and_then(|i| i.storage_driver.clone()),
        data_root: info.and_then(|i| i.data_root).map(PathBuf::from),
        time,
        images: present,
    })
}

/// The registry an image reference pulls from (its first path part when that names a host).
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => DOCKER_HUB.to_string(),
    }
}

/// Where a registry's API answers. Docker Hub's lives on its own host; Docker speaks plain HTTP
/// to registries on loopback (its default insecure range), HTTPS to every other. Any HTTP answer
/// (401 included) means reachable.
pub fn registry_url(host: &str) -> String {
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let loopback = name == "localhost"
        || name
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match host {
        DOCKER_HUB => "https://registry-1.docker.io/v2/".into(),
        _ if loopback => format!("http://{host}/v2/"),
        _ => format!("https://{host}/v2/"),
    }
}

/// Each registry the images' candidates pull from, probed unless every image it would serve is
/// already on the engine under one of its names (a copy from another mirror counts).
async fn gather_registries(images: &[Vec<String>], docker: &DockerFacts) -> Vec<Registry> {
    let mut registries: Vec<Registry> = Vec::new();
    for image in images.iter().flatten() {
        let host = registry_of(image);
        match registries.iter_mut().find(|r| r.host == host) {
            Some(r) => r.images.push(image.clone()),
            None => registries.push(Registry {
                host,
                images: vec![image.clone()],
                probe: None,
            }),
        }
    }
    let on_engine = |reference: &String| {
        docker
            .engine
            .as_ref()
            .is_ok_and(|e| e.images.iter().any(|(i, p)| i == reference && *p))
    };
    let present = |reference: &String| {
        images
            .iter()
            .filter(|candidates| candidates.contains(reference))
            .all(|candidates| candidates.iter().any(on_engine))
    };
    let probes = registries.iter().map(|r| async {
        if r.images.iter().all(present) {
            return None;
        }
        Some(probe::get(&registry_url(&r.host), None).await)
    });
    let results = futures_util::future::join_all(probes).await;
    for (registry, probe) in registries.iter_mut().zip(results) {
        registry.probe = probe;
    }
    registries
}

fn local_addrs() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return vec![];
    };
    let mut out: Vec<IpAddr> = addrs
        .filter_map(|a| a.address)
        .filter_map(|a| {
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .collect();
    out.dedup();
    out
}

fn installation(target: &Target) -> Installation {
    let secrets_dir = target.paths.secrets_dir();
    let secrets = std::fs::read_dir(&secrets_dir).is_ok_and(|mut d| d.next().is_some());
    let config = match config::load(&target.paths.config) {
        Ok(c) => ConfigState::Loads { domain: c.domain },
        Err(config::ConfigError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            ConfigState::Missing
        }
        Err(e) => ConfigState::Invalid(
            e.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches(':')
                .to_string(),
        ),
    };
    Installation {
        state_dir: target.paths.state().to_path_buf(),
        secrets_dir,
        secrets,
        config_path: target.paths.config.clone(),
        config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_is_read_from_status() {
        let status = "Name:\tmatrixbox\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1fffeffffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }

    #[test]
    fn os_release_fields() {
        let r = parse_os_release("PRETTY_NAME=\"Ubuntu 24.04 LTS\"\nID=ubuntu\nID_LIKE=debian\n");
        assert_eq!(
            r,
            OsRelease {
                id: "ubuntu".into(),
                id_like: vec!["debian".into()]
            }
        );
    }

    #[test]
    fn registries_of_image_references() {
        assert_eq!(registry_of("matrixdotorg/synapse:v1.163.2"), DOCKER_HUB);
        assert_eq!(registry_of("postgres:15.14-bookworm"), DOCKER_HUB);
        assert_eq!(
            registry_of("mirror.local:5000/matrixdotorg/synapse:v1"),
            "mirror.local:5000"
        );
        assert_eq!(registry_of("ghcr.io/element-hq/synapse:v1"), "ghcr.io");
        assert_eq!(registry_of("localhost/pg:15"), "localhost");
    }

    #[test]
    fn registry_urls_follow_dockers_rules() {
        assert_eq!(registry_url(DOCKER_HUB), "https://registry-1.docker.io/v2/");
        assert_eq!(registry_url("m.example:5000"), "https://m.example:5000/v2/");
        assert_eq!(registry_url("127.0.0.1:5000"), "http://127.0.0.1:5000/v2/");
        assert_eq!(registry_url("localhost:5000"), "http://localhost:5000/v2/");
        assert_eq!(registry_url("[::1]:5000"), "http://[::1]:5000/v2/");
    }
}
