//! The doctor report as text: one line per step, the fix under it, a summary last.

use super::messages::M;
use super::{Report, Status};
use crate::i18n::{pad, width};

fn word(status: Status, report: &Report) -> String {
    let l = report.lang;
    l.t(
        match status {
            Status::Pass => M::Pass,
            Status::Warn => M::Warn,
            Status::Fail => M::Fail,
            Status::Skip => M::Skip,
        },
        &[],
    )
}

pub fn text(report: &Report) -> String {
    let l = report.lang;
    let mut out = format!("{}\n\n", l.t(M::Header, &[&report.server_name]));
    let status_width = report
        .steps
        .iter()
        .map(|s| width(&word(s.status, report)))
        .max()
        .unwrap_or(0);
    let title_width = report
        .steps
        .iter()
        .map(|s| width(&s.title))
        .max()
        .unwrap_or(0);
    for s in &report.steps {
        let status = word(s.status, report);
        out.push_str(&format!(
            "  {}  {}  {}\n",
            pad(&status, status_width),
            pad(&s.title, title_width),
            s.evidence
        ));
        if let Some(remedy) = &s.remedy {
            out.push_str(&format!(
                "  {}    {}{remedy}\n",
                " ".repeat(status_width + title_width),
                l.t(M::Fix, &[])
            ));
        }
    }
    let count = |status| report.steps.iter().filter(|s| s.status == status).count();
    out.push_str(&format!(
        "\n{}\n",
        l.t(
            M::Summary,
            &[
                &count(Status::Pass),
                &count(Status::Warn),
                &count(Status::Fail),
                &count(Status::Skip)
            ]
        )
    ));
    let failed: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.status == Status::Fail)
        .map(|s| s.title.as_str())
        .collect();
    match failed.first() {
        None => out.push_str(&format!("{}\n", l.t(M::Healthy, &[&report.server_name]))),
        Some(first) => out.push_str(&format!("{}\n", l.t(M::Unhealthy, &[first]))),
    }
    out
}
