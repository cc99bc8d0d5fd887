//! Two installations with different instance names on one Docker engine at the same time: each
//! healthy behind its own edge, each with its own containers and network (found by their labels),
//! and `down --remove` of one leaves the other serving, its containers untouched.

mod common;

use std::time::Duration;

use common::*;

const HEALTHY_WITHIN: Duration = Duration::from_secs(300);
const LABEL: &str = "io.matrixbox.instance";

/// Names of the containers (or networks, with `kind` "network") labelled with `instance`.
fn labelled(kind: &str, instance: &str) -> Vec<String> {
    let filter = format!("label={LABEL}={instance}");
    let listed = match kind {
        "network" => docker_ok(&[
            "network",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ]),
        _ => docker_ok(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]),
    };
    let mut names: Vec<String> = listed.lines().map(String::from).collect();
    names.sort();
    names
}

/// `GET /_matrix/client/versions` through the instance's edge, trusting its internal CA.
fn versions_through_the_edge(mbx: &Instance) -> String {
    let status = mbx.status_json();
    let root = status["certificates"][0]["trust_root"]
        .as_str()
        .unwrap_or_else(|| panic!("{status:#}"))
        .to_string();
    let (code, body) = curl(
        std::path::Path::new(&root),
        "localhost",
        mbx.https_port,
        "/_matrix/client/versions",
    );
    assert_eq!(code, "200", "{body}");
    body
}

#[test]
fn two_instances_share_an_engine_and_one_removed_leaves_the_other_serving() {
    let (one, two) = (Instance::new(), Instance::new());
    for mbx in [&one, &two] {
        assert_success(&mbx.run(&["setup", "--domain", "localhost", "--skip-preflight"]));
        mbx.append_config(&mbx.bench_lines());
    }
    let mut daemon_one = one.spawn_run();
    let mut daemon_two = two.spawn_run();
    one.wait_healthy(&mut daemon_one, HEALTHY_WITHIN);
    two.wait_healthy(&mut daemon_two, HEALTHY_WITHIN);

    for mbx in [&one, &two] {
        let objects = &mbx.objects;
        assert_eq!(
            labelled("container", &objects.name),
            [objects.postgres(), objects.synapse()]
        );
        assert_eq!(labelled("network", &objects.name), [objects.network()]);
        for container in [objects.postgres(), objects.synapse()] {
            assert_eq!(
                inspect(
                    &container,
                    "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}"
                ),
                objects.network(),
                "{container} is on its own instance's network only"
            );
        }
        // Synapse reaches its own PostgreSQL through the socket directory of its own state dir,
        // which both of its containers mount.
        let homeserver = read(&mbx.state_dir().join("synapse-config/homeserver.yaml"));
        assert!(
            homeserver.contains("host: /run/matrixbox-postgres"),
            "{homeserver}"
        );
        let socket_dir = mbx.state_dir().join("postgres-socket");
        for container in [objects.postgres(), objects.synapse()] {
            let mounts = inspect(&container, "{{range .Mounts}}{{.Source}} {{end}}");
            assert!(
                mounts.contains(socket_dir.to_str().unwrap()),
                "{container}: {mounts}"
            );
        }
        assert!(versions_through_the_edge(mbx).contains("\"versions\""));
    }
    let started = |mbx: &Instance| {
        [mbx.objects.postgres(), mbx.objects.synapse()]
            .map(|c| inspect(&c, "{{.Id}} {{.State.StartedAt}}"))
    };
    let one_before = started(&one);

    // The second installation goes away as uninstalling takes it: daemon gone, then `down --remove`.
    drop(daemon_two);
    assert_success(&two.run(&["down", "--remove"]));
    assert!(labelled("container", &two.objects.name).is_empty());
    assert!(labelled("network", &two.objects.name).is_empty());
    for object in [two.objects.synapse(), two.objects.postgres()] {
        assert!(!docker(&["inspect", &object]).status.success(), "{object}");
    }

    // The first is untouched and still serving.
    assert_eq!(
        started(&one),
        one_before,
        "the other instance was restarted"
    );
    assert_eq!(one.status_json()["healthy"], true);
    assert!(versions_through_the_edge(&one).contains("\"versions\""));
    daemon_one.stop();
}
