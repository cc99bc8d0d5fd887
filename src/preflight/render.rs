//! The report for people (aligned columns, in their language) and for scripts (JSON).

use super::i18n::M;
use super::{Report, Status};

/// The whole report: a header, one line per check (its remedy indented below), and a verdict.
pub fn text(report: &Report, names: &[String]) -> String {
    let l = report.lang;
    let mut out = if names.is_empty() {
        l.t(M::Header, &[])
    } else {
        l.t(M::HeaderFor, &[&names.join(", ")])
    };
    out.push_str("\n\n");
    out.push_str(&lines(report, |_| true));
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    out.push('\n');
    out.push_str(&l.t(
        M::Summary,
        &[
            &count(Status::Pass),
            &count(Status::Warn),
            &count(Status::Fail),
        ],
    ));
    out.push('\n');
    if report.ready {
        out.push_str(&l.t(M::Ready, &[]));
    } else {
        out.push_str(&l.t(M::NotReady, &[&stopping_titles(report)]));
    }
    out.push('\n');
    out
}

/// Only the checks that are not a plain pass: what `run` logs at start.
pub fn problems(report: &Report) -> String {
    lines(report, |s| s != Status::Pass)
}

/// Titles of the blocking failures, for one-line messages.
pub fn stopping_titles(report: &Report) -> String {
    report
        .stopping()
        .map(|c| c.title.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn lines(report: &Report, keep: impl Fn(Status) -> bool) -> String {
    let l = report.lang;
    let shown: Vec<_> = report.checks.iter().filter(|c| keep(c.status)).collect();
    let title_width = shown.iter().map(|c| width(&c.title)).max().unwrap_or(0);
    let word = |s: Status| match s {
        Status::Pass => l.t(M::Pass, &[]),
        Status::Warn => l.t(M::Warn, &[]),
        Status::Fail => l.t(M::Fail, &[]),
    };
    let status_width = [Status::Pass, Status::Warn, Status::Fail]
        .map(|s| width(&word(s)))
        .into_iter()
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in shown {
        let status = word(c.status);
        out.push_str(&format!(
            "  {status}{}  {}{}  {}\n",
            " ".repeat(status_width - width(&status)),
            c.title,
            " ".repeat(title_width - width(&c.title)),
            c.evidence
        ));
        if let Some(remedy) = &c.remedy {
            out.push_str(&format!(
                "  {}    {}{remedy}\n",
                " ".repeat(status_width + title_width),
                l.t(M::Fix, &[])
            ));
        }
    }
    out
}

/// Columns a terminal gives the text: CJK and full-width characters take two.
pub(crate) fn width(text: &str) -> usize {
    text.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::{Check, Lang};

    fn check(id: &str, title: &str, status: Status, remedy: Option<&str>) -> Check {
        Check {
            id: id.into(),
            title: title.into(),
            status,
            evidence: format!("{id} evidence"),
            remedy: remedy.map(String::from),
            blocking: true,
        }
    }

    #[test]
    fn columns_line_up_and_remedies_sit_under_the_evidence() {
        let report = Report::new(
            Lang::En,
            vec![
                check("os", "operating system", Status::Pass, None),
                check(
                    "port-https",
                    "port 443 (https)",
                    Status::Fail,
                    Some("stop nginx"),
                ),
            ],
        );
        let text = text(&report, &["m.org".into()]);
        assert_eq!(
            text,
            "matrixbox preflight for m.org\n\n\
             \x20 pass  operating system  os evidence\n\
             \x20 fail  port 443 (https)  port-https evidence\n\
             \x20                         fix: stop nginx\n\
             \n1 passed, 0 warnings, 1 failed\nnot ready: port 443 (https) must be fixed first\n"
        );
        assert_eq!(problems(&report).lines().count(), 2);
    }

    #[test]
    fn chinese_text_is_aligned_by_display_width() {
        assert_eq!(width("内存"), 4);
        assert_eq!(width("端口 443（https）"), 17);
        let report = Report::new(
            Lang::ZhCn,
            vec![
                check("memory", "内存", Status::Pass, None),
                check("cpus", "CPU 核数", Status::Pass, None),
            ],
        );
        let text = text(&report, &[]);
        assert!(
            text.contains("  通过  内存      memory evidence\n"),
            "{text}"
        );
        assert!(text.contains("  通过  CPU 核数  cpus evidence\n"), "{text}");
        assert!(
            text.ends_with("就绪：本机没有阻止 matrixbox 运行的问题\n"),
            "{text}"
        );
    }
}
