//! The server's signing keys as a remote server checks them: `/_matrix/key/v2/server` must name
//! this server, still be valid, and carry an ed25519 signature by each key it publishes (pure).

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedKeys {
    /// `ed25519:<id>` of every key whose signature checked out.
    pub key_ids: Vec<String>,
    pub valid_until_ts: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyProblem {
    NotJson(String),
    WrongServerName {
        found: String,
    },
    NoValidUntil,
    Expired {
        valid_until_ts: i64,
    },
    NoKeys,
    /// A published key is not 32 bytes of unpadded base64.
    BadKey {
        key_id: String,
    },
    /// No signature by this server with this key.
    Unsigned {
        key_id: String,
    },
    BadSignature {
        key_id: String,
    },
}

/// Checks a key response for `server_name` at `now_ms` (milliseconds since the epoch).
pub fn verify(body: &[u8], server_name: &str, now_ms: i64) -> Result<VerifiedKeys, KeyProblem> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| KeyProblem::NotJson(e.to_string()))?;
    let found = doc["server_name"].as_str().unwrap_or_default();
    if found != server_name {
        return Err(KeyProblem::WrongServerName {
            found: found.to_string(),
        });
    }
    let valid_until_ts = doc["valid_until_ts"]
        .as_i64()
        .ok_or(KeyProblem::NoValidUntil)?;
    if valid_until_ts <= now_ms {
        return Err(KeyProblem::Expired { valid_until_ts });
    }
    let keys = doc["verify_keys"]
        .as_object()
        .filter(|k| k.keys().any(|id| id.starts_with("ed25519:")))
        .ok_or(KeyProblem::NoKeys)?;
    let signed = canonical_json(&without(&doc, &["signatures", "unsigned"]));
    let mut key_ids = Vec::new();
    for (key_id, key) in keys.iter().filter(|(id, _)| id.starts_with("ed25519:")) {
        let bad_key = || KeyProblem::BadKey {
            key_id: key_id.clone(),
        };
        let public = key["key"]
            .as_str()
            .and_then(|k| STANDARD_NO_PAD.decode(k).ok())
            .filter(|k| k.len() == 32)
            .ok_or_else(bad_key)?;
        let signature = doc["signatures"][server_name][key_id.as_str()]
            .as_str()
            .ok_or_else(|| KeyProblem::Unsigned {
                key_id: key_id.clone(),
            })?;
        let signature =
            STANDARD_NO_PAD
                .decode(signature)
                .map_err(|_| KeyProblem::BadSignature {
                    key_id: key_id.clone(),
                })?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| KeyProblem::BadSignature {
                key_id: key_id.clone(),
            })?;
        key_ids.push(key_id.clone());
    }
    Ok(VerifiedKeys {
        key_ids,
        valid_until_ts,
    })
}

fn without(doc: &Value, fields: &[&str]) -> Value {
    let mut doc = doc.clone();
    if let Some(map) = doc.as_object_mut() {
        for field in fields {
            map.remove(*field);
        }
    }
    doc
}

/// Matrix canonical JSON: keys sorted by code point, no insignificant whitespace, UTF-8 as is.
/// Sorted here rather than trusting serde_json's map order, which a feature flag can change.
pub fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    fn key_pair() -> Ed25519KeyPair {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    /// A key response as Synapse builds it, signed with `key`.
    fn signed(key: &Ed25519KeyPair, server_name: &str, valid_until_ts: i64) -> Value {
        let mut doc = json!({
            "server_name": server_name,
            "valid_until_ts": valid_until_ts,
            "verify_keys": {"ed25519:a_XyZ": {"key": STANDARD_NO_PAD.encode(key.public_key().as_ref())}},
            "old_verify_keys": {},
        });
        let signature = key.sign(canonical_json(&doc).as_bytes());
        doc["signatures"] =
            json!({server_name: {"ed25519:a_XyZ": STANDARD_NO_PAD.encode(signature.as_ref())}});
        doc["unsigned"] = json!({"added": "after signing"});
        doc
    }

    fn check(doc: &Value) -> Result<VerifiedKeys, KeyProblem> {
        verify(doc.to_string().as_bytes(), "example.org", NOW)
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": 1, "a": {"z": [1, "é"], "y": null} }"#).unwrap();
        assert_eq!(canonical_json(&v), r#"{"a":{"y":null,"z":[1,"é"]},"b":1}"#);
    }

    #[test]
    fn a_correctly_signed_response_verifies() {
        let doc = signed(&key_pair(), "example.org", NOW + 3_600_000);
        assert_eq!(
            check(&doc),
            Ok(VerifiedKeys {
                key_ids: vec!["ed25519:a_XyZ".into()],
                valid_until_ts: NOW + 3_600_000
            })
        );
    }

    #[test]
    fn a_tampered_response_fails_the_signature() {
        let mut doc = signed(&key_pair(), "example.org", NOW + 3_600_000);
        doc["valid_until_ts"] = json!(NOW + 7_200_000);
        assert_eq!(
            check(&doc),
            Err(KeyProblem::BadSignature {
                key_id: "ed25519:a_XyZ".into()
            })
        );
        // Signed by another key than the one published.
        let mut doc = signed(&key_pair(), "example.org", NOW + 3_600_000);
        doc["signatures"] =
            signed(&key_pair(), "example.org", NOW + 3_600_000)["signatures"].clone();
        assert!(matches!(check(&doc), Err(KeyProblem::BadSignature { .. })));
    }

    #[test]
    fn expired_other_server_unsigned_and_malformed_responses_fail() {
        let key = key_pair();
        assert_eq!(
            check(&signed(&key, "example.org", NOW - 1)),
            Err(KeyProblem::Expired {
                valid_until_ts: NOW - 1
            })
        );
        assert_eq!(
            check(&signed(&key, "other.org", NOW + 1000)),
            Err(KeyProblem::WrongServerName {
                found: "other.org".into()
            })
        );
        let mut unsigned = signed(&key, "example.org", NOW + 1000);
        unsigned["signatures"] = json!({});
        assert_eq!(
            check(&unsigned),
            Err(KeyProblem::Unsigned {
                key_id: "ed25519:a_XyZ".into()
            })
        );
        let mut no_keys = signed(&key, "example.org", NOW + 1000);
        no_keys["verify_keys"] = json!({});
        assert_eq!(check(&no_keys), Err(KeyProblem::NoKeys));
        let mut bad_key = signed(&key, "example.org", NOW + 1000);
        bad_key["verify_keys"]["ed25519:a_XyZ"]["key"] = json!("not base64!");
        assert!(matches!(check(&bad_key), Err(KeyProblem::BadKey { .. })));
        assert!(matches!(
            verify(b"<html>", "example.org", NOW),
            Err(KeyProblem::NotJson(_))
        ));
    }
}
