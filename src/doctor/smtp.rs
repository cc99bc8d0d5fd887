//! The SMTP server of `email:`, tried as Synapse will use it: connect, greeting, EHLO, TLS as
//! configured (certificate verified), and the login, then QUIT; no mail is sent.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::config::{Email, SmtpTls};
use crate::synapse::email::{SmtpPassword, read_password};

/// Each connect and each reply; a server slower than this also stalls Synapse's mail.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// RFC 5321 allows 512 octets a reply line; a longer one is not an SMTP server.
const LINE_LIMIT: usize = 2048;
const LINES_LIMIT: usize = 100;

/// What the server showed when everything worked.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub server: String,
    /// The greeting's text, e.g. `mail.example.com ESMTP`.
    pub greeting: String,
    pub tls: SmtpTls,
    /// The login name that was accepted; `None` when no login is configured.
    pub user: Option<String>,
    /// The password went in clear (`tls: off`) to an address outside this host and the private
    /// ranges, where others on the path could read it.
    pub cleartext_beyond_private: bool,
}

/// Where the exchange stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// `email.password_file` could not be used.
    PasswordFile {
        file: String,
        error: String,
    },
    Connect {
        server: String,
        error: String,
    },
    /// The server's words (or their absence) are not SMTP at this stage.
    Protocol {
        server: String,
        error: String,
    },
    /// `tls: starttls`, but the server does not offer STARTTLS.
    NoStartTls {
        server: String,
    },
    Tls {
        server: String,
        error: String,
    },
    /// A login is configured but the server offers no mechanism we speak (PLAIN, LOGIN).
    NoAuth {
        server: String,
        offered: String,
    },
    /// The server refused the login: its reply code and text.
    LoginRefused {
        server: String,
        user: String,
        file: String,
        reply: String,
    },
}

/// Tries the server of `email:`, trusting `roots` for its certificate.
pub async fn probe(
    email: &Email,
    helo_name: &str,
    roots: Arc<rustls::RootCertStore>,
) -> Result<Session, Failure> {
    let login = match &email.login {
        None => None,
        Some(login) => {
            let password = read_password(login).map_err(|e| Failure::PasswordFile {
                file: e.path.display().to_string(),
                error: e.reason.to_string(),
            })?;
            Some((
                login.user.clone(),
                password,
                login.password_file.display().to_string(),
            ))
        }
    };
    let server = match email.smtp_host.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("[{}]:{}", email.smtp_host, email.smtp_port),
        Err(_) => format!("{}:{}", email.smtp_host, email.smtp_port),
    };
    let protocol = |error: String| Failure::Protocol {
        server: server.clone(),
        error,
    };
    let tcp = match timeout(
        STEP_TIMEOUT,
        TcpStream::connect((email.smtp_host.as_str(), email.smtp_port)),
    )
    .await
    {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return Err(Failure::Connect {
                server: server.clone(),
                error: e.to_string(),
            });
        }
        Err(_) => {
            return Err(Failure::Connect {
                server: server.clone(),
                error: format!("no answer within {} s", STEP_TIMEOUT.as_secs()),
            });
        }
    };
    let peer = tcp.peer_addr().map(|a| a.ip()).ok();
    let tls_connector = |tcp| tls_handshake(tcp, &email.smtp_host, roots.clone(), &server);
    let (greeting, session) = match email.tls {
        SmtpTls::Implicit => {
            let mut conn = Conn::new(tls_connector(tcp).await?);
            let greeting = conn.expect(220, None).await.map_err(protocol)?;
            let extensions = conn.ehlo(helo_name).await.map_err(protocol)?;
            (greeting, conn.login(&server, extensions, login).await)
        }
        SmtpTls::Starttls => {
            let mut conn = Conn::new(tcp);
            let greeting = conn.expect(220, None).await.map_err(protocol)?;
            let extensions = conn.ehlo(helo_name).await.map_err(protocol)?;
            if !extensions
                .iter()
                .any(|e| e.eq_ignore_ascii_case("STARTTLS"))
            {
                return Err(Failure::NoStartTls {
                    server: server.clone(),
                });
            }
            conn.expect(220, Some("STARTTLS")).await.map_err(protocol)?;
            let mut conn = Conn::new(tls_connector(conn.into_inner()).await?);
            let extensions = conn.ehlo(helo_name).await.map_err(protocol)?;
            (greeting, conn.login(&server, extensions, login).await)
        }
        SmtpTls::Off => {
            let mut conn = Conn::new(tcp);
            let greeting = conn.expect(220, None).await.map_err(protocol)?;
            let extensions = conn.ehlo(helo_name).await.map_err(protocol)?;
            (greeting, conn.login(&server, extensions, login).await)
        }
    };
    let user = session?;
    Ok(Session {
        server,
        greeting,
        tls: email.tls,
        cleartext_beyond_private: email.tls == SmtpTls::Off
            && user.is_some()
            && !peer.is_some_and(is_local_or_private),
        user,
    })
}

/// Pure: loopback, RFC 1918 / unique-local, or link-local: a relay on this host or its network.
fn is_local_or_private(ip: std::net::IpAddr) -> bool {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local()
        }
    }
}

async fn tls_handshake(
    tcp: TcpStream,
    host: &str,
    roots: Arc<rustls::RootCertStore>,
    server: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let error = |error: String| Failure::Tls {
        server: server.to_string(),
        error,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| error(e.to_string()))?;
    match timeout(
        STEP_TIMEOUT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(error(e.to_string())),
        Err(_) => Err(error(format!(
            "no handshake within {} s",
            STEP_TIMEOUT.as_secs()
        ))),
    }
}

/// One SMTP connection: commands out, replies in.
struct Conn<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Conn<S> {
        Conn {
            stream: BufReader::new(stream),
        }
    }

    /// The stream for a TLS handshake: after `220` to STARTTLS the server sends nothing more.
    fn into_inner(self) -> S {
        self.stream.into_inner()
    }

    /// Sends `command` (if any), reads the reply and wants `code`; returns the reply's text.
    async fn expect(&mut self, code: u16, command: Option<&str>) -> Result<String, String> {
        let (got, lines) = self.exchange(command).await?;
        if got != code {
            let what = command.map_or("the greeting".to_string(), |c| format!("`{c}`"));
            return Err(format!("{what} answered {got} {}", lines.join(" ")));
        }
        Ok(lines.join(" "))
    }

    /// Sends `command` (if any) and reads one reply: its code and its lines' text.
    async fn exchange(&mut self, command: Option<&str>) -> Result<(u16, Vec<String>), String> {
        if let Some(command) = command {
            let line = format!("{command}\r\n");
            let write = async {
                self.stream.get_mut().write_all(line.as_bytes()).await?;
                self.stream.get_mut().flush().await
            };
            match timeout(STEP_TIMEOUT, write).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("sending failed: {e}")),
                Err(_) => return Err("sending timed out".into()),
            }
        }
        let mut lines = Vec::new();
        loop {
            let mut raw = Vec::new();
            let mut limited = (&mut self.stream).take(LINE_LIMIT as u64);
            let read = limited.read_until(b'\n', &mut raw);
            match timeout(STEP_TIMEOUT, read).await {
                Ok(Ok(0)) => return Err("the server closed the connection".into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("reading failed: {e}")),
                Err(_) => {
                    return Err(format!("no reply within {} s", STEP_TIMEOUT.as_secs()));
                }
            }
            let text = String::from_utf8_lossy(&raw);
            let (code, last, text) = reply_line(&text)?;
            // The server's words reach a terminal: no escape sequences.
            lines.push(
                text.chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect(),
            );
            if last {
                return Ok((code, lines));
            }
            if lines.len() >= LINES_LIMIT {
                return Err("the reply does not end".into());
            }
        }
    }

    /// EHLO: the extensions the server offers (first word of each line after the first).
    async fn ehlo(&mut self, name: &str) -> Result<Vec<String>, String> {
        let (code, lines) = self.exchange(Some(&format!("EHLO {name}"))).await?;
        if code != 250 {
            return Err(format!("`EHLO` answered {code} {}", lines.join(" ")));
        }
        Ok(lines.into_iter().skip(1).collect())
    }

    /// Logs in with PLAIN (or LOGIN), then says QUIT. Returns the user name logged in as.
    async fn login(
        &mut self,
        server: &str,
        extensions: Vec<String>,
        login: Option<(String, SmtpPassword, String)>,
    ) -> Result<Option<String>, Failure> {
        let protocol = |error: String| Failure::Protocol {
            server: server.to_string(),
            error,
        };
        let Some((user, password, file)) = login else {
            self.quit().await;
            return Ok(None);
        };
        let mechanisms = auth_mechanisms(&extensions);
        let refused = |code: u16, lines: Vec<String>| Failure::LoginRefused {
            server: server.to_string(),
            user: user.clone(),
            file: file.clone(),
            reply: format!("{code} {}", lines.join(" ")),
        };
        let (code, lines) = if mechanisms.iter().any(|m| m == "PLAIN") {
            let token = STANDARD.encode(format!("\0{user}\0{}", password.expose()));
            self.exchange(Some(&format!("AUTH PLAIN {token}")))
                .await
                .map_err(protocol)?
        } else if mechanisms.iter().any(|m| m == "LOGIN") {
            let (code, lines) = self.exchange(Some("AUTH LOGIN")).await.map_err(protocol)?;
            if code != 334 {
                return Err(refused(code, lines));
            }
            let (code, lines) = self
                .exchange(Some(&STANDARD.encode(&user)))
                .await
                .map_err(protocol)?;
            if code != 334 {
                return Err(refused(code, lines));
            }
            self.exchange(Some(&STANDARD.encode(password.expose())))
                .await
                .map_err(protocol)?
        } else {
            return Err(Failure::NoAuth {
                server: server.to_string(),
                offered: if mechanisms.is_empty() {
                    "none".into()
                } else {
                    mechanisms.join(" ")
                },
            });
        };
        if code != 235 {
            return Err(refused(code, lines));
        }
        self.quit().await;
        Ok(Some(user))
    }

    /// Polite end; what the server says to it changes nothing.
    async fn quit(&mut self) {
        let _ = self.exchange(Some("QUIT")).await;
    }
}

/// Pure: one reply line -> (code, is it the last line, text).
fn reply_line(line: &str) -> Result<(u16, bool, &str), String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let bytes = line.as_bytes();
    let code = line
        .get(..3)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (200..600).contains(c));
    match (code, bytes.get(3)) {
        (Some(code), None) => Ok((code, true, "")),
        (Some(code), Some(b' ')) => Ok((code, true, &line[4..])),
        (Some(code), Some(b'-')) => Ok((code, false, &line[4..])),
        _ => {
            let shown: String = line.chars().take(80).collect();
            Err(format!("`{shown}` is not an SMTP reply"))
        }
    }
}

/// Pure: the AUTH mechanisms in EHLO's extensions, upper-cased.
fn auth_mechanisms(extensions: &[String]) -> Vec<String> {
    extensions
        .iter()
        .filter_map(|e| {
            let mut words = e.split_whitespace();
            let keyword = words.next()?;
            keyword
                .eq_ignore_ascii_case("AUTH")
                .then(|| words.map(str::to_ascii_uppercase).collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines() {
        assert_eq!(
            reply_line("220 mail ESMTP\r\n"),
            Ok((220, true, "mail ESMTP"))
        );
        assert_eq!(
            reply_line("250-AUTH PLAIN\r\n"),
            Ok((250, false, "AUTH PLAIN"))
        );
        assert_eq!(reply_line("250\r\n"), Ok((250, true, "")));
        for bad in [
            "HTTP/1.1 400 Bad Request\r\n",
            "22 x\r\n",
            "220x\r\n",
            "",
            "999 no\r\n",
        ] {
            assert!(reply_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn private_addresses() {
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "172.20.0.1",
            "169.254.1.1",
            "::1",
            "fd00::2",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_local_or_private(local.parse().unwrap()), "{local}");
        }
        for public in ["203.0.113.5", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!is_local_or_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn mechanisms() {
        let ext: Vec<String> = ["PIPELINING", "auth login Plain", "SIZE 100", "AUTH=LOGIN"]
            .map(String::from)
            .to_vec();
        assert_eq!(auth_mechanisms(&ext), ["LOGIN", "PLAIN"]);
        assert!(auth_mechanisms(&["STARTTLS".to_string()]).is_empty());
    }

    /// A scripted server on loopback: for each line it reads, the next canned reply (after the
    /// greeting, sent first). Returns the port and what it was sent.
    async fn scripted(
        greeting: &'static str,
        replies: Vec<&'static str>,
    ) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut conn = BufReader::new(tcp);
            conn.get_mut().write_all(greeting.as_bytes()).await.unwrap();
            let mut seen = Vec::new();
            for reply in replies {
                let mut line = String::new();
                if conn.read_line(&mut line).await.unwrap() == 0 {
                    break;
                }
                seen.push(line.trim_end().to_string());
                conn.get_mut().write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        (port, task)
    }

    fn email(port: u16, tls: SmtpTls, password_file: Option<&std::path::Path>) -> Email {
        Email {
            smtp_host: "127.0.0.1".into(),
            smtp_port: port,
            tls,
            login: password_file.map(|f| crate::config::SmtpLogin {
                user: "u@example.org".into(),
                password_file: f.to_path_buf(),
            }),
            from: "m@example.org".into(),
            notifications: true,
        }
    }

    fn roots() -> Arc<rustls::RootCertStore> {
        Arc::new(rustls::RootCertStore::empty())
    }

    fn password(dir: &std::path::Path) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("pw");
        std::fs::write(&path, "pa ss\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[tokio::test]
    async fn login_falls_back_to_auth_login() {
        let dir = tempfile::tempdir().unwrap();
        let file = password(dir.path());
        let (port, server) = scripted(
            "220 mx \x1b[31mESMTP\r\n",
            vec![
                "250-mx\r\n250 AUTH LOGIN\r\n",
                "334 VXNlcm5hbWU6\r\n",
                "334 UGFzc3dvcmQ6\r\n",
                "235 ok\r\n",
                "221 bye\r\n",
            ],
        )
        .await;
        let session = probe(&email(port, SmtpTls::Off, Some(&file)), "a.test", roots())
            .await
            .unwrap();
        assert_eq!(session.user.as_deref(), Some("u@example.org"));
        assert_eq!(session.greeting, "mx ?[31mESMTP");
        let sent = server.await.unwrap();
        assert_eq!(
            sent,
            [
                "EHLO a.test",
                "AUTH LOGIN",
                &STANDARD.encode("u@example.org"),
                &STANDARD.encode("pa ss"),
                "QUIT"
            ]
        );
    }

    #[tokio::test]
    async fn each_stage_fails_by_name() {
        // Something else on the port: an HTTP server answers the greeting's wait with nothing,
        // then its own words.
        let (port, _server) = scripted("HTTP/1.1 400 Bad Request\r\n", vec![]).await;
        let failure = probe(&email(port, SmtpTls::Off, None), "a.test", roots()).await;
        assert!(
            matches!(&failure, Err(Failure::Protocol { error, .. }) if error.contains("not an SMTP reply")),
            "{failure:?}"
        );
        let (port, _server) = scripted("220 mx\r\n", vec!["250-mx\r\n250 SIZE 10\r\n"]).await;
        let failure = probe(&email(port, SmtpTls::Starttls, None), "a.test", roots()).await;
        assert!(
            matches!(failure, Err(Failure::NoStartTls { .. })),
            "{failure:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = password(dir.path());
        let (port, _server) = scripted(
            "220 mx\r\n",
            vec!["250-mx\r\n250 AUTH CRAM-MD5\r\n", "221 bye\r\n"],
        )
        .await;
        let failure = probe(&email(port, SmtpTls::Off, Some(&file)), "a.test", roots()).await;
        assert!(
            matches!(&failure, Err(Failure::NoAuth { offered, .. }) if offered == "CRAM-MD5"),
            "{failure:?}"
        );
        // A relay without login: EHLO, then QUIT.
        let (port, server) = scripted("220 relay\r\n", vec!["250 relay\r\n", "221 bye\r\n"]).await;
        let session = probe(&email(port, SmtpTls::Off, None), "a.test", roots())
            .await
            .unwrap();
        assert_eq!(session.user, None);
        assert_eq!(server.await.unwrap(), ["EHLO a.test", "QUIT"]);
        // A greeting refusing service (554) is not a working server.
        let (port, _server) = scripted("554 go away\r\n", vec![]).await;
        let failure = probe(&email(port, SmtpTls::Off, None), "a.test", roots()).await;
        assert!(
            matches!(&failure, Err(Failure::Protocol { error, .. }) if error.contains("554 go away")),
            "{failure:?}"
        );
    }
}
