//! matrixbox: a Matrix homeserver (PostgreSQL + Synapse on Docker) from one binary.
//!
//! A map of the modules, from the command line down; imports flow one way, downwards.
//!
//! Commands and what they print:
//! - [`cli`]: the command line's types (clap), nothing else.
//! - [`commands`]: one file per subcommand; `execute` dispatches.
//! - [`report`]: an error as a person reads it (`error:` / `caused by:` / `hint:`) and the
//!   process's exit code.
//! - [`preflight`]: what the host must offer, checked before anything is written or started.
//! - [`doctor`]: on a running installation, walks the path a remote server takes; tries the SMTP
//!   server of `email:`.
//! - [`backup`]: one archive to keep a server (dump, media, secrets, config, manifest), verified
//!   and restored; copied off the host to an S3-compatible bucket, age-encrypted (`offsite`).
//! - [`upgrade`]: `upgrade`: Synapse moved to the configured image through a health gate, with a
//!   backup first and a rollback of image and database when the gate fails; a new PostgreSQL
//!   major migrated first (dump, restore beside, counts compared, data directories swapped); the
//!   old major's data directory kept for `upgrade.keep_old_postgres`, then removed by the daemon
//!   (`upgrade::kept`).
//! - [`adopt`]: `adopt`: a server installed with the manual guide (docker compose) copied into a
//!   verified backup, its old stack stopped, and restored under matrixbox.
//! - [`ess`]: `export ess`: values, Secret manifests and runbook for the ESS Community chart.
//! - [`i18n`]: the language of every user-facing text (en, zh_CN) and its display width.
//!
//! The daemon (`matrixbox run`):
//! - [`service`]: the supervisor: listeners, certificates and the stack, reloads, shutdown; and
//!   `matrixbox edge`, the process that serves the listeners (`service::edge`).
//! - [`privsep`]: the edge as its own process: started unprivileged (uid 64443, no capabilities)
//!   with the listeners inherited, kept current by the daemon's orders over a socket.
//! - [`proxy`]: the public edge on :80/:443, local answers (well-known, the onboarding and invite
//!   pages, the web client's name), forwarding to Synapse, and the metrics listener.
//! - [`metrics`]: the edge's Prometheus counters (lock-free) and their exposition.
//! - [`tls`]: the certificate store the listeners read, and the rustls configuration.
//! - [`acme`]: certificates: ACME, the internal CA, the user's files, storage and renewal.
//! - [`notify`]: telling systemd how the daemon is doing (readiness, watchdog, status line).
//! - [`wellknown`]: the `/.well-known/matrix/*` documents.
//! - [`calls`]: the TURN relay's config (coturn) and the TURN and LiveKit settings clients get.
//!
//! The homeserver:
//! - [`stack`]: PostgreSQL and Synapse as containers, brought up in order and down cleanly.
//! - [`docker`]: the engine's API: desired specs, what it reports, reconciling the two; images
//!   from registry mirrors in order, and offline image archives (`images export`/`import`).
//! - [`synapse`]: homeserver.yaml and its log config (with `email:`'s SMTP settings and password
//!   file), and Synapse's HTTP API (the admin API as matrixbox's service account: invites and
//!   accounts).
//! - [`upstream`]: where Synapse is reached: its UNIX socket (held by Synapse alone) or TCP.
//! - [`tuning`]: sizing PostgreSQL and Synapse from the memory they share.
//! - [`workers`]: Synapse's generic workers: which run (`workers:`, the core count) and which
//!   requests the edge sends to each (Synapse's documented endpoint patterns); their YAML is
//!   `synapse::workers`', their containers and Redis `stack`'s.
//! - [`webclient`]: Element Web: its `config.json`, its files copied out of the pinned image into
//!   the state dir, and what the edge answers on its name.
//!
//! What everything reads:
//! - [`config`]: the one file users edit, validated into `Config` with every problem at once.
//! - [`secrets`]: generated secrets under the state dir (never printed, even in `Debug`).
//! - [`people`]: pure decisions about invites and accounts (expiry, token state, page language).
//! - [`paths`]: every on-disk location, derived from the config path and state dir.
//! - [`diagnostic`]: what an error knows about itself: its hint and its exit code.
//! - [`dns`]: name lookups (A and AAAA) as the internet sees them, for preflight and doctor.
//! - [`disk`]: free space where the state and the Docker data root live.
//! - [`fsio`]: atomic, permission-aware file writes.
//! - [`yaml`]: the only door to YAML.
//! - [`embedded`]: assets compiled into the binary (templates, web pages, systemd unit).
//! - [`unit`]: the systemd unit, as shipped and as printed by `matrixbox unit`.
//! - [`logging`]: where log events go (journald or stderr).
//! - [`throttle`]: warnings an attacker can trigger, rate-limited so they cannot grow the log.

pub mod acme;
pub mod adopt;
pub mod backup;
pub mod calls;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diagnostic;
pub mod disk;
pub mod dns;
pub mod docker;
pub mod doctor;
pub mod embedded;
pub mod ess;
pub mod fsio;
#[cfg(test)]
mod golden;
pub mod i18n;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod paths;
pub mod people;
pub mod preflight;
pub mod privsep;
pub mod proxy;
pub mod report;
pub mod secrets;
pub mod service;
pub mod stack;
pub mod synapse;
pub mod throttle;
pub mod tls;
pub mod tuning;
pub mod unit;
pub mod upgrade;
pub mod upstream;
pub mod webclient;
pub mod wellknown;
pub mod workers;
pub mod yaml;
