//! What keeps Synapse on the image it runs until `matrixbox upgrade` moves it through the health
//! gate, and the lock that keeps the daemon's reconciles out of an upgrade's way.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;

use super::*;

/// How often a reconcile looks whether an upgrade has released the stack.
const LOCK_POLL: Duration = Duration::from_millis(500);
/// A reconcile every 30 s would repeat the held image's warning: once, then hourly.
static HELD: crate::throttle::Throttle =
    crate::throttle::Throttle::new(1, Duration::from_secs(3600));

/// Held while the stack is changed: by every `up`, and by an upgrade from its backup to its
/// health gate (or rollback). Released when dropped (the lock is the open file's).
#[derive(Debug)]
pub struct StackLock {
    _file: File,
}

impl Stack {
    /// Waits until no one else changes the stack (an upgrade can take minutes; the daemon waits).
    pub async fn lock(&self) -> Result<StackLock, StackError> {
        let path = self.paths.stack_lock();
        let fs_err = |source| FsError {
            action: "lock",
            path: path.clone(),
            source,
        };
        // In the state dir, which `run` and `restore` make before they bring the stack up.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&path)
            .map_err(fs_err)?;
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StackLock { _file: file }),
                Err(TryLockError::WouldBlock) => {
                    if !told {
                        tracing::info!("waiting: an upgrade holds the stack ({})", path.display());
                        told = true;
                    }
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(TryLockError::Error(e)) => return Err(fs_err(e).into()),
            }
        }
    }

    /// Synapse's image for a reconcile: the configured one, unless Synapse already runs another
    /// image, which it keeps (a change of image goes through `matrixbox upgrade`).
    pub(super) async fn synapse_image(
        &self,
        engine: &Engine,
        wanted: String,
    ) -> Result<String, StackError> {
        if !self.hold_synapse {
            return Ok(wanted);
        }
        let Some(observed) = engine.inspect(&self.names.synapse).await? else {
            return Ok(wanted);
        };
        let running = engine.image_digests(&observed.image).await?.map(|d| d.id);
        let configured = engine.image_digests(&wanted).await?.map(|d| d.id);
        if holds(running.as_deref(), configured.as_deref()) {
            if HELD.allow().is_some() {
                tracing::warn!(
                running = %observed.image,
                configured = %wanted,
                "Synapse keeps the image it runs: run `matrixbox upgrade` to move it to the configured one (backup, health gate, rollback)"
                );
            }
            return Ok(observed.image);
        }
        Ok(wanted)
    }
}

/// Pure: whether Synapse keeps the image it runs (`running`, its image ID; None when that image is
/// gone) rather than the configured one (`configured`).
pub(super) fn holds(running: Option<&str>, configured: Option<&str>) -> bool {
    match (running, configured) {
        (Some(running), Some(configured)) => running != configured,
        (Some(_), None) => true,
        (None, _) => false,
    }
}
