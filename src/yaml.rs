//! The only door to YAML: parsing with locations, serialising, and deep merge.
//!
//! `serde_yaml` is yaml_serde, its maintained continuation, under the old name (Cargo.toml);
//! keeping every call here lets the crate be swapped in one place.

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use serde_yaml::{Mapping, Value};

/// A YAML syntax error with a 1-based line and column when the parser knows them.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        SyntaxError {
            // serde_yaml appends " at line X column Y"; the location is reported separately.
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
        }
    })
}

/// Deserialises `value` and, on failure, returns the dotted path inside it and the message.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.into_inner().to_string())
    })
}

pub fn to_value<T: Serialize>(value: &T) -> Value {
    serde_yaml::to_value(value).expect("plain data always serialises to YAML")
}

pub fn to_string<T: Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).expect("plain data always serialises to YAML")
}

/// Merges `overlay` into `base`: mappings merge key by key, recursively; anything else in
/// `overlay` (scalars, sequences, null) replaces what `base` had.
pub fn deep_merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_merge_merges_maps_and_replaces_the_rest() {
        let mut base = parse("a: {b: 1, c: [1, 2]}\nd: x").unwrap();
        deep_merge(&mut base, parse("a: {c: [3], e: null}\nf: 2").unwrap());
        assert_eq!(
            base,
            parse("a: {b: 1, c: [3], e: null}\nd: x\nf: 2").unwrap()
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(err.line.is_some() && err.column.is_some(), "{err:?}");
        assert!(!err.message.contains(" at line "));
    }
}
