//! A TURN allocation as a calling client makes it (RFC 5766 over UDP, long-term credentials):
//! the STUN messages (pure) and the exchange with the relay.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

const MAGIC: u32 = 0x2112_A442;
const ALLOCATE: u16 = 0x0003;
const REFRESH: u16 = 0x0004;
const SUCCESS: u16 = 0x0100;
const ERROR: u16 = 0x0110;
const USERNAME: u16 = 0x0006;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const ERROR_CODE: u16 = 0x0009;
const LIFETIME: u16 = 0x000D;
const REALM: u16 = 0x0014;
const NONCE: u16 = 0x0015;
const XOR_RELAYED_ADDRESS: u16 = 0x0016;
const REQUESTED_TRANSPORT: u16 = 0x0019;
/// Each request is sent this many times before the relay counts as silent (UDP loses packets).
const TRIES: u32 = 3;
const WAIT: Duration = Duration::from_secs(2);

/// Why no relay was allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnProblem {
    /// Synapse handed out no credentials (or could not be asked).
    Credentials(String),
    /// Nothing answered at the address.
    NoAnswer(SocketAddr),
    /// The relay answered with an error (e.g. 401: the credentials are not accepted).
    Refused { code: u16, reason: String },
    /// The answer was not a TURN answer.
    Malformed(String),
}

/// Long-term credentials as Synapse hands them out (`/voip/turnServer`).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A decoded answer: its class and what the probe reads from it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub success: bool,
    pub error: Option<(u16, String)>,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub relayed: Option<SocketAddr>,
}

/// Pure: a request of `method` with `attributes`, signed with `key` (MESSAGE-INTEGRITY) if given.
pub fn request(
    method: u16,
    id: [u8; 12],
    attributes: &[(u16, &[u8])],
    key: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&method.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&id);
    for (kind, value) in attributes {
        push_attribute(&mut out, *kind, value);
    }
    if let Some(key) = key {
        // The length covers the integrity attribute itself (24 bytes) while it is computed.
        set_length(&mut out, 24);
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(&out);
        let tag = mac.finalize().into_bytes();
        push_attribute(&mut out, MESSAGE_INTEGRITY, &tag);
    }
    set_length(&mut out, 0);
    out
}

fn push_attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Writes the header's length: the attributes present plus `extra` bytes still to come.
fn set_length(out: &mut [u8], extra: usize) {
    let length = (out.len() - 20 + extra) as u16;
    out[2..4].copy_from_slice(&length.to_be_bytes());
}

/// Pure: the long-term credential key, MD5(username:realm:password) (RFC 5389 15.4).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> Vec<u8> {
    Md5::digest(format!("{username}:{realm}:{password}")).to_vec()
}

/// Pure: decodes an answer to the request `id`; `None` when it is not one.
pub fn parse(bytes: &[u8], id: [u8; 12]) -> Option<Answer> {
    if bytes.len() < 20 || bytes[4..8] != MAGIC.to_be_bytes() || bytes[8..20] != id {
        return None;
    }
    let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
    let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    let body = bytes.get(20..20 + length)?;
    let mut answer = Answer {
        success: kind & 0x0110 == SUCCESS,
        ..Answer::default()
    };
    if kind & 0x0110 != SUCCESS && kind & 0x0110 != ERROR {
        return None;
    }
    let mut rest = body;
    while rest.len() >= 4 {
        let attr = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len)?;
        let text = || String::from_utf8_lossy(value).into_owned();
        match attr {
            ERROR_CODE if len >= 4 => {
                let code = u16::from(value[2] & 0x07) * 100 + u16::from(value[3]);
                answer.error = Some((code, String::from_utf8_lossy(&value[4..]).into_owned()));
            }
            REALM => answer.realm = Some(text()),
            NONCE => answer.nonce = Some(text()),
            XOR_RELAYED_ADDRESS => answer.relayed = xor_address(value, &bytes[8..20]),
            _ => {}
        }
        rest = rest
            .get((4 + len).next_multiple_of(4)..)
            .unwrap_or_default();
    }
    Some(answer)
}

fn xor_address(value: &[u8], id: &[u8]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]) ^ (MAGIC >> 16) as u16;
    let mask: Vec<u8> = MAGIC.to_be_bytes().iter().chain(id).copied().collect();
    let ip = match value.get(1)? {
        1 => {
            let raw: [u8; 4] = value.get(4..8)?.try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(std::array::from_fn::<u8, 4, _>(|i| {
                raw[i] ^ mask[i]
            })))
        }
        2 => {
            let raw: [u8; 16] = value.get(4..20)?.try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(std::array::from_fn::<u8, 16, _>(|i| {
                raw[i] ^ mask[i]
            })))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn transaction_id() -> [u8; 12] {
    let mut id = [0u8; 12];
    // A transaction ID needs to be unpredictable only against spoofed answers; fall back to time.
    if getrandom::fill(&mut id).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        id.copy_from_slice(&nanos.to_be_bytes()[4..]);
    }
    id
}

/// Sends `message` until an answer to `id` arrives.
async fn exchange(
    socket: &tokio::net::UdpSocket,
    server: SocketAddr,
    message: &[u8],
    id: [u8; 12],
) -> Result<Answer, TurnProblem> {
    let mut buf = vec![0u8; 2048];
    for _ in 0..TRIES {
        socket
            .send(message)
            .await
            .map_err(|e| TurnProblem::Malformed(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + WAIT;
        while let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            match received {
                Ok(n) => {
                    if let Some(answer) = parse(&buf[..n], id) {
                        return Ok(answer);
                    }
                }
                // An ICMP "port unreachable" shows as a refused receive: nothing listens.
                Err(_) => return Err(TurnProblem::NoAnswer(server)),
            }
        }
    }
    Err(TurnProblem::NoAnswer(server))
}

/// Allocates a UDP relay at `server` with `credentials`, then releases it. The relayed address.
pub async fn allocate(
    server: SocketAddr,
    credentials: &Credentials,
) -> Result<SocketAddr, TurnProblem> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| TurnProblem::Malformed(e.to_string()))?;
    socket
        .connect(server)
        .await
        .map_err(|_| TurnProblem::NoAnswer(server))?;
    let udp: &[u8] = &[17, 0, 0, 0];
    // The first request carries no credentials: the relay answers 401 with its realm and nonce.
    let id = transaction_id();
    let first = exchange(
        &socket,
        server,
        &request(ALLOCATE, id, &[(REQUESTED_TRANSPORT, udp)], None),
        id,
    )
    .await?;
    let (Some(realm), Some(nonce)) = (first.realm, first.nonce) else {
        return Err(refused(first.error));
    };
    let key = long_term_key(&credentials.username, &realm, &credentials.password);
    let signed = |method: u16, id: [u8; 12], extra: &[(u16, &[u8])]| {
        let mut attributes: Vec<(u16, &[u8])> = extra.to_vec();
        attributes.push((USERNAME, credentials.username.as_bytes()));
        attributes.push((REALM, realm.as_bytes()));
        attributes.push((NONCE, nonce.as_bytes()));
        request(method, id, &attributes, Some(&key))
    };
    let id = transaction_id();
    let answer = exchange(
        &socket,
        server,
        &signed(ALLOCATE, id, &[(REQUESTED_TRANSPORT, udp)]),
        id,
    )
    .await?;
    if !answer.success {
        return Err(refused(answer.error));
    }
    let relayed = answer
        .relayed
        .ok_or_else(|| TurnProblem::Malformed("no relayed address in the answer".into()))?;
    // Released at once (lifetime 0), so that the check uses none of the user's allocation quota.
    let id = transaction_id();
    let _ = exchange(
        &socket,
        server,
        &signed(REFRESH, id, &[(LIFETIME, &[0, 0, 0, 0])]),
        id,
    )
    .await;
    Ok(relayed)
}

fn refused(error: Option<(u16, String)>) -> TurnProblem {
    match error {
        Some((code, reason)) => TurnProblem::Refused { code, reason },
        None => TurnProblem::Malformed("an error answer without an error code".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_framed_and_signed_as_rfc_5769_says() {
        let id = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let plain = request(ALLOCATE, id, &[(REQUESTED_TRANSPORT, &[17, 0, 0, 0])], None);
        assert_eq!(plain.len(), 28);
        assert_eq!(&plain[..4], &[0, 3, 0, 8]);
        assert_eq!(&plain[4..8], &MAGIC.to_be_bytes());
        // A 3-byte value is padded to 4.
        let signed = request(ALLOCATE, id, &[(USERNAME, b"abc")], Some(b"key"));
        assert_eq!(signed.len(), 20 + 8 + 24);
        assert_eq!(u16::from_be_bytes([signed[2], signed[3]]), 32);
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(b"key").unwrap();
        mac.update(&signed[..28]);
        assert_eq!(&signed[32..], mac.finalize().into_bytes().as_slice());
        // RFC 5389's long-term key for user, realm, password.
        assert_eq!(
            hex::encode(long_term_key("user", "realm", "pass")),
            hex::encode(Md5::digest(b"user:realm:pass"))
        );
    }

    #[test]
    fn answers_are_decoded() {
        let id = [9; 12];
        // 401 with realm and nonce.
        let mut msg = vec![0x01, 0x13, 0, 0];
        msg.extend_from_slice(&MAGIC.to_be_bytes());
        msg.extend_from_slice(&id);
        push_attribute(
            &mut msg,
            ERROR_CODE,
            &[0, 0, 4, 1, b'U', b'n', b'a', b'u', b't', b'h'],
        );
        push_attribute(&mut msg, REALM, b"example.com");
        push_attribute(&mut msg, NONCE, b"n0nce");
        set_length(&mut msg, 0);
        let answer = parse(&msg, id).unwrap();
        assert!(!answer.success);
        assert_eq!(answer.error, Some((401, "Unauth".into())));
        assert_eq!(answer.realm.as_deref(), Some("example.com"));
        assert_eq!(answer.nonce.as_deref(), Some("n0nce"));
        assert_eq!(parse(&msg, [8; 12]), None, "another transaction's answer");
        // Success with 192.0.2.1:32853 as XOR-RELAYED-ADDRESS (RFC 5769 2.2's address).
        let mut ok = vec![0x01, 0x03, 0, 0];
        ok.extend_from_slice(&MAGIC.to_be_bytes());
        ok.extend_from_slice(&id);
        push_attribute(
            &mut ok,
            XOR_RELAYED_ADDRESS,
            &[0, 1, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43],
        );
        set_length(&mut ok, 0);
        let answer = parse(&ok, id).unwrap();
        assert!(answer.success);
        assert_eq!(answer.relayed, Some("192.0.2.1:32853".parse().unwrap()));
        assert_eq!(parse(&ok[..19], id), None);
    }
}
