//! Command-line types only (clap); behaviour lives in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::paths;

#[derive(Debug, Parser)]
#[command(
    name = "matrixbox",
    version,
    about = "A Matrix homeserver in one command: PostgreSQL + Synapse on Docker, kept running"
)]
pub struct Cli {
    /// Configuration file (the only file to edit).
    #[arg(long, global = true, env = "MATRIXBOX_CONFIG", default_value = paths::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Where secrets and data live.
    #[arg(long, global = true, env = "MATRIXBOX_STATE_DIR", default_value = paths::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Language of what matrixbox prints: `en` or `zh_CN` (default: from LC_ALL, LC_MESSAGES,
    /// LANG; English unless they ask for zh_CN).
    #[arg(long, global = true, env = "MATRIXBOX_LANG", value_parser = crate::i18n::Lang::parse)]
    pub lang: Option<crate::i18n::Lang>,
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check this host before anything is installed: what passes, what to fix, and how.
    Preflight(PreflightArgs),
    /// Write the configuration and generate secrets (never rotates existing ones).
    Setup(SetupArgs),
    /// Bring the homeserver up and keep it reconciled until SIGTERM/SIGINT (then stop it cleanly).
    Run(RunArgs),
    /// Show containers, versions, health and where data lives.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check the running server as a remote server and a client would: discovery, well-known,
    /// TLS, signing keys, client API; then containers, database, certificates and disk.
    Doctor(DoctorArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Invite people: links to the sign-up page (Synapse registration tokens).
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Stop Synapse, then PostgreSQL, cleanly. Data stays.
    Down {
        /// Also remove both containers and their network (the data directories stay; `run`
        /// recreates them).
        #[arg(long)]
        remove: bool,
    },
    /// Write what another platform needs to take this homeserver over.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Carry the images to a host that cannot reach a registry: export them where one is
    /// reachable, import them there (verified against their digests).
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Back up, verify and restore the server: database, local media, secrets, configuration.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Move Synapse to the configured image (images.synapse, or the pinned one): a backup first,
    /// then pull, recreate and a health gate; on failure, the old image and database come back.
    /// A new PostgreSQL major (images.postgres) is migrated first: dump, restore into a new data
    /// directory, verify, swap; the old data directory is kept.
    Upgrade {
        /// Only say what would be done; change nothing.
        #[arg(long)]
        check: bool,
        /// Seconds the new Synapse has to pass the health gate (its schema migration included)
        /// before the rollback.
        #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86400))]
        timeout: u64,
        /// Remove the data directories an earlier PostgreSQL major left after a migration.
        #[arg(long, conflicts_with = "check")]
        cleanup: bool,
    },
    /// Take over a server installed with the manual guide (docker compose with `synapse` and
    /// `postgres`): copy its database, signing key, secrets and media into a verified backup, stop
    /// the old stack, and run the same server under matrixbox. The old stack's files stay as they
    /// are.
    Adopt(AdoptArgs),
    /// Print the systemd unit for this binary (e.g. `matrixbox unit > /etc/systemd/system/matrixbox.service`).
    Unit,
    /// Print shell completions (used to build the package).
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
    /// Write a man page per command into a directory (used to build the package).
    #[command(hide = true)]
    Manpages { dir: std::path::PathBuf },
    /// The unprivileged edge process; started by `run` with its listeners, never by hand.
    #[command(hide = true)]
    Edge(EdgeArgs),
}

/// The descriptors `run` hands to the edge process (see `privsep`).
#[derive(Debug, Args)]
pub struct EdgeArgs {
    /// The socket the daemon's orders arrive on.
    #[arg(long)]
    pub orders: i32,
    /// Synapse's socket dir, opened as a path (when matrixbox runs Synapse).
    #[arg(long)]
    pub sockets: Option<i32>,
    /// The web client's dir, opened as a path.
    #[arg(long)]
    pub web: i32,
    #[arg(long)]
    pub http: Option<i32>,
    /// :443 and, when enabled, :8448.
    #[arg(long)]
    pub https: Vec<i32>,
    #[arg(long)]
    pub metrics: Option<i32>,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Where clients reach the server, e.g. matrix.example.com.
    #[arg(long)]
    pub domain: String,
    /// The name in user IDs (@alice:<server-name>); defaults to --domain.
    #[arg(long)]
    pub server_name: Option<String>,
    /// Contact address for Let's Encrypt.
    #[arg(long)]
    pub email: Option<String>,
    /// Overwrite an existing configuration (secrets are kept).
    #[arg(long)]
    pub force: bool,
    /// Do not check the host first (for CI and tests; `matrixbox preflight` runs the checks alone).
    #[arg(long)]
    pub skip_preflight: bool,
    /// Do not start matrixbox.service afterwards (setup starts it when systemd runs the host).
    #[arg(long)]
    pub no_start: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Do not check the host first (for CI and tests; `matrixbox preflight` runs the checks alone).
    #[arg(long)]
    pub skip_preflight: bool,
}

#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Check for this domain as `setup --domain` would, instead of the configuration file.
    #[arg(long)]
    pub domain: Option<String>,
    /// With --domain: the name in user IDs, as `setup --server-name`.
    #[arg(long, requires = "domain")]
    pub server_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Connect to ADDR:PORT whenever a step wants HOST:PORT, without asking DNS (as curl's
    /// option; repeatable). For a port forward in front of the server, or to test before DNS.
    #[arg(long, value_name = "HOST:PORT:ADDR:PORT")]
    pub connect_to: Vec<crate::doctor::net::ConnectTo>,
    /// Also trust this PEM root certificate (a private CA). matrixbox's internal CA is trusted
    /// automatically when it issued the server's certificate.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user through Synapse's shared-secret admin API.
    Add {
        /// Local part of the user ID (alice for @alice:example.com).
        name: String,
        /// Make the user a server admin.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts (deactivated ones too), with their admin flag.
    List,
    /// Set a new password (prompted twice) and sign the user out everywhere.
    ResetPassword {
        /// alice or @alice:example.com.
        name: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deactivate an account for good: it can no longer sign in; its name stays taken.
    Deactivate {
        /// alice or @alice:example.com.
        name: String,
        /// Also erase the user's profile and hide their messages from people who join later.
        #[arg(long)]
        erase: bool,
    },
    /// Grant or remove server admin rights.
    Admin {
        /// alice or @alice:example.com.
        name: String,
        #[arg(value_enum)]
        state: OnOff,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Make an invite link (and its QR code) for the sign-up page.
    Create {
        /// How many accounts the link may create (default: 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        uses: u64,
        /// How long the link stays valid: 30m, 12h, 7d, 2w (at most 365d).
        #[arg(long, default_value = "7d")]
        expires: String,
    },
    /// List the invites with their uses, expiry and state.
    List,
    /// Make an invite link unusable at once (accounts made with it stay).
    Revoke {
        /// As `invite list` shows it.
        #[arg(allow_hyphen_values = true)]
        token: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Values, Kubernetes Secret manifests and a runbook (English and Simplified Chinese) for the
    /// Element Server Suite Community Helm chart (`matrix-stack`).
    Ess(EssArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PostgresMode {
    /// The chart's own PostgreSQL in the cluster (nothing to provide beforehand).
    Bundled,
    /// A PostgreSQL server you run (e.g. a managed service): give --postgres-host.
    External,
}

#[derive(Debug, Args)]
pub struct EssArgs {
    /// Directory for the files; created if missing, refused if not empty (see --force).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Where the cluster's Synapse keeps its database.
    #[arg(long, value_enum, default_value_t = PostgresMode::Bundled)]
    pub postgres: PostgresMode,
    /// With --postgres external: the database server's host name or address.
    #[arg(long, required_if_eq("postgres", "external"))]
    pub postgres_host: Option<String>,
    /// With --postgres external: its port.
    #[arg(long, default_value_t = 5432)]
    pub postgres_port: u16,
    /// Write into a non-empty directory, replacing the files of an earlier export.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Write the configured images (pulled and verified first if needed) and a manifest of their
    /// digests into FILE (a tar archive, readable only by you).
    Export {
        /// The archive to write, e.g. matrixbox-images.tar.
        file: PathBuf,
    },
    /// Load the images from an archive made by `images export`, after checking each against its
    /// digest and this host's pins; a mismatch is refused and nothing is tagged.
    Import {
        /// The archive to read.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write one archive (0600) with the database (dumped online), local media, the signing key,
    /// the secrets and matrixbox.yaml, and a manifest with the checksum of each.
    Create {
        /// Where to write it (default: <state dir>/backups/<server>-<UTC time>.tar.gz).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a backup's manifest and every member's checksum, without restoring anything.
    Verify { file: PathBuf },
    /// Restore a backup onto a fresh host or a wiped state directory, then start the stack.
    Restore {
        file: PathBuf,
        /// Replace an existing database (what it holds now is lost).
        #[arg(long)]
        force: bool,
    },
    /// Copy a backup to the off-host bucket (`backup.offsite`), encrypted to
    /// `backup.offsite.recipient` when set; the local file is only read.
    Push { file: PathBuf },
    /// List the objects under `backup.offsite.prefix` in the bucket.
    List,
    /// Download a backup from the bucket into FILE (0600, never over an existing file),
    /// decrypting it with --identity when it is encrypted.
    Fetch {
        /// The object's key, as `backup list` shows it.
        key: String,
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// The age identity file (as `age-keygen` writes it) whose public key is
        /// `backup.offsite.recipient`.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The directory of the guide's docker-compose.yml (its containers carry it in compose's
    /// labels).
    #[arg(long, value_name = "DIR")]
    pub compose_dir: PathBuf,
    /// Where clients reach the server, when no matrixbox.yaml exists yet (default: the host of
    /// homeserver.yaml's public_baseurl, else the server name).
    #[arg(long)]
    pub domain: Option<String>,
    /// Only print what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}
