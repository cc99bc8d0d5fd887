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

/// Matrix canonical JSON: keys sorted by code point, no insignificant whitespace, UTF-8 as is,
/// integral numbers as integers.
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
        // The spec's numbers are integers below 2^53 in magnitude, written without exponent or
        // fraction: JSON's `-0` and `1e10` (floats to serde_json) are 0 and 10000000000.
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < MAX_SAFE_INTEGER => {
                (f as i64).to_string()
            }
            _ => n.to_string(),
        },
        scalar => scalar.to_string(),
    }
}

/// 2^53: integers below it in magnitude are exact as IEEE doubles.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

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

    // The Matrix specification's own vectors, quoted from its appendices (matrix-org/matrix-spec,
    // content/appendices.md at d0ba2aaef801e0134a4e5c6054a2c2f41bb55531; published as
    // https://spec.matrix.org/latest/appendices/): "Canonical JSON" > "Examples" and
    // "Cryptographic Test Vectors" > "JSON Signing". Fixed inputs and outputs, so the
    // canonicaliser is checked against the spec rather than against itself.
    #[test]
    fn canonical_json_matches_the_spec_examples() {
        let examples = [
            ("{}", "{}"),
            (
                "{\n    \"one\": 1,\n    \"two\": \"Two\"\n}",
                r#"{"one":1,"two":"Two"}"#,
            ),
            (
                "{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}",
                r#"{"a":"1","b":"2"}"#,
            ),
            (r#"{"b":"2","a":"1"}"#, r#"{"a":"1","b":"2"}"#),
            (
                r#"{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}"#,
                r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#,
            ),
            ("{\n    \"a\": \"日本語\"\n}", r#"{"a":"日本語"}"#),
            ("{\n    \"本\": 2,\n    \"日\": 1\n}", r#"{"日":1,"本":2}"#),
            ("{\n    \"a\": \"\\u65E5\"\n}", r#"{"a":"日"}"#),
            ("{\n    \"a\": null\n}", r#"{"a":null}"#),
            (
                "{\n    \"a\": -0,\n    \"b\": 1e10\n}",
                r#"{"a":0,"b":10000000000}"#,
            ),
        ];
        for (input, canonical) in examples {
            let value: Value = serde_json::from_str(input).unwrap();
            assert_eq!(canonical_json(&value), canonical, "for {input}");
        }
    }

    /// The spec's signing key: this seed, server "domain", key id "ed25519:1".
    fn spec_key() -> Ed25519KeyPair {
        // The spec's seed is 43 characters whose last one carries non-zero padding bits, which
        // a strict decoder refuses; the 32 bytes are unambiguous.
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_encode_padding(false)
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
                .with_decode_allow_trailing_bits(true),
        );
        let seed = lenient
            .decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
            .unwrap();
        Ed25519KeyPair::from_seed_unchecked(&seed).unwrap()
    }

    #[test]
    fn signatures_match_the_spec_json_signing_vectors() {
        let key = spec_key();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            key.public_key().as_ref().to_vec(),
        );
        let vectors = [
            (
                "{}",
                r#"{
    "signatures": {
        "domain": {
            "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        }
    }
}"#,
            ),
            (
                "{\n    \"one\": 1,\n    \"two\": \"Two\"\n}",
                r#"{
    "one": 1,
    "signatures": {
        "domain": {
            "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
        }
    },
    "two": "Two"
}"#,
            ),
        ];
        for (input, signed) in vectors {
            let input: Value = serde_json::from_str(input).unwrap();
            let signed: Value = serde_json::from_str(signed).unwrap();
            let expected = signed["signatures"]["domain"]["ed25519:1"]
                .as_str()
                .unwrap();
            // Signing what the canonicaliser makes of the input gives the spec's signature
            // (ed25519 is deterministic), and the spec's signed object verifies over the same
            // bytes once its signatures are taken off, as `verify` takes them off.
            let signature = key.sign(canonical_json(&input).as_bytes());
            assert_eq!(STANDARD_NO_PAD.encode(signature.as_ref()), expected);
            let bytes = canonical_json(&without(&signed, &["signatures", "unsigned"]));
            assert_eq!(bytes, canonical_json(&input));
            public
                .verify(bytes.as_bytes(), &STANDARD_NO_PAD.decode(expected).unwrap())
                .unwrap();
        }
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
