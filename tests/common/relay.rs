//! A UNIX-socket relay in front of the bench's Docker engine, for faults between a daemon and
//! its engine (the bench's engine is shared and must not be restarted or stopped).

use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::docker_host;

/// A UNIX-socket relay in front of the bench's engine that can drop every connection and refuse
/// new ones for a while, as a restart of Docker does (the bench's engine itself is shared and
/// must not be restarted).
pub struct EngineRelay {
    path: std::path::PathBuf,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<UnixStream>>>,
}

impl EngineRelay {
    pub fn start(dir: &std::path::Path) -> EngineRelay {
        let engine = docker_host()
            .strip_prefix("unix://")
            .expect("the bench's engine is on a UNIX socket")
            .to_string();
        let path = dir.join("engine-relay.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (refuse, live) = (down.clone(), open.clone());
        // Ends with the test process: a blocked accept holds nothing but the socket.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if refuse.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(upstream) = UnixStream::connect(&engine) else {
                    continue;
                };
                let mut live = live.lock().unwrap();
                live.push(client.try_clone().unwrap());
                live.push(upstream.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        EngineRelay { path, down, open }
    }

    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Drops every connection and refuses new ones for `outage`.
    pub fn restart(&self, outage: Duration) {
        self.cut();
        std::thread::sleep(outage);
        self.restore();
    }

    /// Drops every connection and refuses new ones until `restore`: the daemon behind the relay
    /// can neither see the engine's events nor repair anything meanwhile.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}
