//! Where log events go: to journald as structured entries when systemd connected stderr to the
//! journal (`journalctl -u matrixbox CONTAINER=matrixbox-synapse`, `-p warning`), plain lines on
//! stderr otherwise.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// The `-v` count this process was started with, for the processes it starts (the edge).
static VERBOSE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// `verbose` counts `-v`; `MATRIXBOX_LOG` (an EnvFilter) overrides it.
pub fn init(verbose: u8) {
    VERBOSE.store(verbose, std::sync::atomic::Ordering::Relaxed);
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("MATRIXBOX_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let registry = tracing_subscriber::registry().with(filter);
    match stderr_is_journal().then(Journald::connect).flatten() {
        Some(journald) => registry.with(journald).init(),
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .init(),
    }
}

/// The `-v` count given to `init`.
pub fn verbosity() -> u8 {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

/// systemd sets JOURNAL_STREAM to the device and inode of the journal stream it connected; a
/// shell started from the unit inherits the variable but not the stream, hence the comparison.
fn stderr_is_journal() -> bool {
    let Ok(expected) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    journal_stream_matches(&expected, stat.st_dev, stat.st_ino)
}

/// Pure: `JOURNAL_STREAM` is `<device>:<inode>`, both decimal.
fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    value
        .split_once(':')
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)))
        == Some((dev, ino))
}

/// Sends each event over journald's native protocol: MESSAGE is the whole line as a person reads
/// it (message and fields), and every field is also a journal field of its own.
struct Journald {
    socket: UnixDatagram,
}

impl Journald {
    fn connect() -> Option<Journald> {
        let socket = UnixDatagram::unbound().ok()?;
        socket.connect(JOURNAL_SOCKET).ok()?;
        Some(Journald { socket })
    }
}

impl<S: Subscriber> Layer<S> for Journald {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let entry = journal_entry(event.metadata().level(), event.metadata().target(), &fields);
        if self.socket.send(&entry).is_err() {
            // The journal is gone or the entry too big for a datagram: the line still goes out.
            eprintln!("{}", fields.line());
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, String)>,
}

impl Fields {
    fn line(&self) -> String {
        let mut line = self.message.clone();
        for (name, value) in &self.others {
            let _ = write!(line, " {name}={value}");
        }
        line
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.others.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.others.push((field.name(), format!("{value:?}")));
        }
    }
}

/// Pure: one datagram of the native protocol (`NAME=value\n`, or the length-prefixed form for
/// values with newlines).
fn journal_entry(level: &Level, target: &str, fields: &Fields) -> Vec<u8> {
    let priority = match *level {
        Level::ERROR => "3",
        Level::WARN => "4",
        Level::INFO => "6",
        Level::DEBUG | Level::TRACE => "7",
    };
    let mut entry = Vec::new();
    put(&mut entry, "MESSAGE", &fields.line());
    put(&mut entry, "PRIORITY", priority);
    put(&mut entry, "SYSLOG_IDENTIFIER", "matrixbox");
    put(&mut entry, "TARGET", target);
    for (name, value) in &fields.others {
        if let Some(name) = journal_field_name(name) {
            put(&mut entry, &name, value);
        }
    }
    entry
}

fn put(entry: &mut Vec<u8>, name: &str, value: &str) {
    entry.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        entry.push(b'\n');
        entry.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        entry.push(b'=');
    }
    entry.extend_from_slice(value.as_bytes());
    entry.push(b'\n');
}

/// journald accepts uppercase letters, digits and `_`, not leading `_` (trusted fields) or digit,
/// and would drop the whole field otherwise; names that map onto ours are skipped.
fn journal_field_name(name: &str) -> Option<String> {
    let upper: String = name
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            c @ ('A'..='Z' | '0'..='9') => c,
            _ => '_',
        })
        .collect();
    let reserved = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "TARGET"];
    let valid = upper.starts_with(|c: char| c.is_ascii_uppercase()) && upper.len() <= 64;
    (valid && !reserved.contains(&upper.as_str())).then_some(upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_is_device_and_inode() {
        assert!(journal_stream_matches("8:12345", 8, 12345));
        assert!(!journal_stream_matches("8:12345", 8, 12346));
        assert!(!journal_stream_matches("8", 8, 12345));
        assert!(!journal_stream_matches("", 0, 0));
    }

    #[test]
    fn entry_carries_the_line_and_each_field() {
        let fields = Fields {
            message: "stopping".into(),
            others: vec![
                ("container", "matrixbox-synapse".into()),
                ("error", "line one\nline two".into()),
            ],
        };
        let entry = journal_entry(&Level::WARN, "matrixbox::stack", &fields);
        let mut expected = b"MESSAGE\n".to_vec();
        let line = "stopping container=matrixbox-synapse error=line one\nline two";
        expected.extend_from_slice(&(line.len() as u64).to_le_bytes());
        expected.extend_from_slice(line.as_bytes());
        expected.extend_from_slice(
            b"\nPRIORITY=4\nSYSLOG_IDENTIFIER=matrixbox\nTARGET=matrixbox::stack\n\
              CONTAINER=matrixbox-synapse\nERROR\n",
        );
        expected.extend_from_slice(&17u64.to_le_bytes());
        expected.extend_from_slice(b"line one\nline two\n");
        assert_eq!(entry, expected);
    }

    #[test]
    fn field_names_follow_journald_rules() {
        assert_eq!(
            journal_field_name("not_after").as_deref(),
            Some("NOT_AFTER")
        );
        assert_eq!(
            journal_field_name("retries-left").as_deref(),
            Some("RETRIES_LEFT")
        );
        assert_eq!(journal_field_name("_uid"), None);
        assert_eq!(journal_field_name("1st"), None);
        assert_eq!(journal_field_name("priority"), None);
        assert_eq!(journal_field_name(&"x".repeat(65)), None);
    }
}
