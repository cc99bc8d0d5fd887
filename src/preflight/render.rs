//! The report for people (aligned columns, in their language) and for scripts (JSON).

use super::messages::M;
use super::{Report, Status};
use crate::i18n::{pad, width};

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
            "  {}  {}  {}\n",
            pad(&status, status_width),
            pad(&c.title, title_width),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::preflight::Check;

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
