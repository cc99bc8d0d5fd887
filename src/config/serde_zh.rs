//! serde's own messages about a value's type ("invalid type: string \"x\", expected u16") in
//! Simplified Chinese: the forms serde writes are few and fixed, so they are rewritten by shape;
//! anything else stays as serde said it.

/// `message` in Chinese where its shape is one serde writes; `None` otherwise.
pub fn translate(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ")?;
        return Some(format!(
            "类型不对：{}，应为{}",
            found_zh(found),
            expected_zh(expected)
        ));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = rest.split_once(", expected ")?;
        return Some(format!(
            "取值不对：{}，应为{}",
            found_zh(found),
            expected_zh(expected)
        ));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (found, expected) = rest.split_once(", expected ")?;
        let expected = expected.strip_prefix("one of ").unwrap_or(expected);
        return Some(format!("未知的取值 {found}，可选：{expected}"));
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return Some(format!("缺少字段 {field}"));
    }
    if let Some(field) = message.strip_prefix("duplicate field ") {
        return Some(format!("字段 {field} 重复"));
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let (found, expected) = rest.split_once(", expected ")?;
        return Some(format!("长度不对：{found}，应为{}", expected_zh(expected)));
    }
    if let Some(rest) = message.strip_prefix("expected `auto` or a number of megabytes, found ") {
        return Some(format!("应为 `auto` 或兆字节数，实际为 {rest}"));
    }
    None
}

/// serde's `Unexpected`: "string \"x\"", "integer `5`", "a sequence", ...
fn found_zh(found: &str) -> String {
    const KINDS: &[(&str, &str)] = &[
        ("string ", "字符串 "),
        ("integer ", "整数 "),
        ("floating point ", "小数 "),
        ("boolean ", "布尔值 "),
        ("character ", "字符 "),
    ];
    for (en, zh) in KINDS {
        if let Some(value) = found.strip_prefix(en) {
            return format!("{zh}{value}");
        }
    }
    match found {
        "sequence" | "a sequence" => "列表".into(),
        "map" | "a map" => "映射".into(),
        "unit value" | "null" => "空值".into(),
        other => other.into(),
    }
}

/// What the type wanted ("a string", "u16", "struct Acme", ...), spaced from the Chinese before
/// it where it starts with a Latin letter or digit.
fn expected_zh(expected: &str) -> String {
    let zh = expected_words(expected);
    if zh.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '`') {
        format!(" {zh}")
    } else {
        zh
    }
}

fn expected_words(expected: &str) -> String {
    match expected {
        "a string" | "string" => "字符串".into(),
        "a boolean" | "bool" => "布尔值（true 或 false）".into(),
        "u8" => "0 到 255 的整数".into(),
        "u16" => "0 到 65535 的整数".into(),
        "u32" | "u64" | "usize" => "非负整数".into(),
        "i32" | "i64" => "整数".into(),
        "f32" | "f64" => "数字".into(),
        "a sequence" => "列表".into(),
        "a map" => "映射".into(),
        other if other.starts_with("struct ") => "映射（键: 值）".into(),
        other if other.starts_with("a sequence") || other.starts_with("a list") => "列表".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_serde_writes_read_in_chinese() {
        for (en, zh) in [
            (
                "invalid type: string \"x\", expected u16",
                "类型不对：字符串 \"x\"，应为 0 到 65535 的整数",
            ),
            (
                "invalid type: integer `5`, expected a string",
                "类型不对：整数 `5`，应为字符串",
            ),
            (
                "invalid type: sequence, expected struct RawAcme",
                "类型不对：列表，应为映射（键: 值）",
            ),
            (
                "unknown variant `tls`, expected one of `off`, `starttls`, `implicit`",
                "未知的取值 `tls`，可选：`off`, `starttls`, `implicit`",
            ),
            ("missing field `host`", "缺少字段 `host`"),
            (
                "expected `auto` or a number of megabytes, found `lots`",
                "应为 `auto` 或兆字节数，实际为 `lots`",
            ),
        ] {
            assert_eq!(translate(en).as_deref(), Some(zh), "{en}");
        }
        assert_eq!(translate("something serde never says"), None);
    }
}
