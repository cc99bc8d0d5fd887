use std::sync::Arc;

use super::*;

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"))
}

#[test]
fn requests_land_in_their_route_and_status_class() {
    let m = Arc::new(EdgeMetrics::default());
    m.request(RouteClass::Client, 200, Duration::from_millis(3));
    m.request(RouteClass::Client, 204, Duration::from_millis(30));
    m.request(RouteClass::Admin, 403, Duration::from_micros(50));
    m.request(RouteClass::Federation, 999, Duration::from_secs(100));
    let text = encode(&m, Observed::default());
    assert_eq!(
        line(
            &text,
            r#"matrixbox_edge_requests_total{route="client",status="2xx"}"#
        ),
        r#"matrixbox_edge_requests_total{route="client",status="2xx"} 2"#
    );
    assert!(text.contains(r#"matrixbox_edge_requests_total{route="admin",status="4xx"} 1"#));
    // Out-of-range statuses count in the nearest class rather than panicking.
    assert!(text.contains(r#"matrixbox_edge_requests_total{route="federation",status="5xx"} 1"#));
    assert!(text.contains(
        r#"matrixbox_edge_request_duration_seconds_bucket{le="0.005",route="client"} 1"#
    ));
    assert!(
        text.contains(
            r#"matrixbox_edge_request_duration_seconds_bucket{le="0.05",route="client"} 2"#
        )
    );
    assert!(text.contains(
        r#"matrixbox_edge_request_duration_seconds_bucket{le="+Inf",route="federation"} 1"#
    ));
    assert!(text.contains(r#"matrixbox_edge_request_duration_seconds_count{route="client"} 2"#));
    assert!(text.contains(r#"matrixbox_edge_request_duration_seconds_sum{route="client"} 0.033"#));
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn open_connections_follow_their_guards() {
    let m = Arc::new(EdgeMetrics::default());
    let a = m.connection(Protocol::Https2);
    let b = m.connection(Protocol::Https2);
    let c = m.connection(Protocol::Http1);
    drop(b);
    let text = encode(&m, Observed::default());
    assert!(text.contains(r#"matrixbox_edge_open_connections{protocol="https_h2"} 1"#));
    assert!(text.contains(r#"matrixbox_edge_open_connections{protocol="http1"} 1"#));
    assert!(text.contains(r#"matrixbox_edge_open_connections{protocol="https_http1"} 0"#));
    drop((a, c));
    let text = encode(&m, Observed::default());
    assert!(text.contains(r#"matrixbox_edge_open_connections{protocol="https_h2"} 0"#));
}

#[test]
fn reconciles_pools_and_certificates() {
    let m = Arc::new(EdgeMetrics::default());
    m.reconciled(false);
    m.reconciled(false);
    let text = encode(&m, Observed::default());
    assert!(text.contains(r#"matrixbox_reconcile_total{result="failed"} 2"#));
    assert!(text.contains("matrixbox_reconcile_failures_in_a_row 2"));
    assert!(
        !text.contains("matrixbox_backup_age_seconds"),
        "no backup yet"
    );
    assert!(text.contains("matrixbox_backup_last_attempt_failed 0"));
    m.backup_recorded(Some(9_000), true);
    m.reconciled(true);
    let observed = Observed {
        pools: vec![PoolState {
            pool: "sync",
            in_use: 3,
            idle: 1,
            max: 1024,
        }],
        certificates: vec![("matrix.example.org".into(), 61.5)],
        now: 10_000,
    };
    let text = encode(&m, observed);
    assert!(text.contains(r#"matrixbox_reconcile_total{result="ok"} 1"#));
    assert!(text.contains("matrixbox_reconcile_failures_in_a_row 0"));
    assert!(text.contains(r#"matrixbox_upstream_connections_in_use{pool="sync"} 3"#));
    assert!(text.contains(r#"matrixbox_upstream_connections_idle{pool="sync"} 1"#));
    assert!(text.contains(r#"matrixbox_upstream_connections_max{pool="sync"} 1024"#));
    assert!(text.contains(r#"matrixbox_certificate_days_left{name="matrix.example.org"} 61.5"#));
    assert!(text.contains("matrixbox_backup_age_seconds 1000"));
    assert!(text.contains("matrixbox_backup_last_attempt_failed 1"));
}
