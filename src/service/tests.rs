use super::events::{EVENTS_RETRY_FIRST, EVENTS_RETRY_MAX};
use super::tasks::{Ended, judge_end};
use super::*;

#[test]
fn backoff_doubles_up_to_its_cap() {
    let waits: Vec<u64> = (1..=8)
        .map(|n| backoff(RETRY_FIRST, n, RETRY_MAX).as_secs())
        .collect();
    assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(backoff(RETRY_FIRST, u32::MAX, RETRY_MAX), RETRY_MAX);
    assert_eq!(
        backoff(EVENTS_RETRY_FIRST, 1, EVENTS_RETRY_MAX).as_secs(),
        1
    );
}

#[test]
fn a_task_may_end_only_when_asked() {
    assert!(judge_end("t", Ended::Returned, true).is_none());
    assert!(judge_end("t", Ended::Aborted, true).is_none());
    let text = |e: Option<ServiceError>| e.expect("a failure").to_string();
    assert_eq!(
        text(judge_end("the certificate manager", Ended::Returned, false)),
        "the certificate manager ended on its own while the daemon was running"
    );
    assert_eq!(
        text(judge_end(
            "an HTTPS listener",
            Ended::Panicked("boom".into()),
            true
        )),
        "an HTTPS listener panicked (boom) while the daemon was running",
        "a panic is a failure even during shutdown"
    );
}

/// The join-set logic with real tasks: the first unexpected end is reported by name, a task
/// stopped on request is not, and `failure` pends while every task runs.
#[tokio::test]
async fn the_first_task_that_dies_is_reported_by_name() {
    let mut tasks = Tasks::new();
    let stop = CancellationToken::new();
    let waiting = stop.clone();
    tasks.spawn("the HTTP listener", stop.clone(), async move {
        waiting.cancelled().await
    });
    let manager = CancellationToken::new();
    let replaced = manager.clone();
    tasks.spawn("the old certificate manager", manager.clone(), async move {
        replaced.cancelled().await
    });
    let quiet = tokio::time::timeout(Duration::from_millis(200), tasks.failure()).await;
    assert!(quiet.is_err(), "no failure while every task runs");
    // A manager replaced on reload ends on request: not a failure.
    manager.cancel();
    let quiet = tokio::time::timeout(Duration::from_millis(200), tasks.failure()).await;
    assert!(quiet.is_err(), "a task stopped on request is no failure");

    let (go, now) = tokio::sync::oneshot::channel::<()>();
    tasks.spawn(
        "the certificate manager",
        CancellationToken::new(),
        async move {
            let _ = now.await;
            panic!("renewal state is corrupt");
        },
    );
    go.send(()).unwrap();
    let failure = tokio::time::timeout(Duration::from_secs(5), tasks.failure())
        .await
        .expect("the panic is seen");
    assert_eq!(
        failure.to_string(),
        "the certificate manager panicked (renewal state is corrupt) while the daemon was running"
    );
    assert!(failure.hint().unwrap().contains("systemd"));

    tasks.spawn(
        "the Docker event watcher",
        CancellationToken::new(),
        async {},
    );
    let failure = tokio::time::timeout(Duration::from_secs(5), tasks.failure())
        .await
        .expect("the end is seen");
    assert!(
        failure
            .to_string()
            .starts_with("the Docker event watcher ended on its own")
    );

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), tasks.wait_all())
        .await
        .expect("every task ends once asked");
}

#[test]
fn a_busy_port_names_its_own_key() {
    let busy = |role| ServiceError::Bind {
        addr: "127.0.0.1:9101".parse().unwrap(),
        role,
        source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
    };
    let hint = busy("metrics").hint().unwrap();
    assert!(
        hint.contains("`listen.metrics`") && hint.contains("9101"),
        "{hint}"
    );
    assert!(busy("https").hint().unwrap().contains("`listen.https`"));
}
