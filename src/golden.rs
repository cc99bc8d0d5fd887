//! Golden files for tests: text held against tests/golden/NAME, rewritten with UPDATE_GOLDEN=1.

use std::path::PathBuf;

/// Fails when `actual` differs from tests/golden/`name`; UPDATE_GOLDEN=1 writes it first.
pub(crate) fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs: review, then UPDATE_GOLDEN=1",
        path.display()
    );
}
