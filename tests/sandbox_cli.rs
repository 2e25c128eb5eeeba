//! `meshbook sandbox up|kubeconfig|down` from the binary: the real kubectl drives the clusters, and a
//! restart with the same `--state` keeps the objects.

mod runkit;

use runkit::Scratch;

/// Where `meshbook sandbox up` keeps its runtime files by default.
const DIR: &str = ".meshbook/sandbox";

#[test]
fn kubectl_drives_the_sandbox_and_objects_survive_a_restart() {
    let s = Scratch::new();
    let up = || s.sandbox_up("east,west", DIR, &["--state", "state"]);
    let child = up();
    let printed = s.meshbook(&["sandbox", "kubeconfig"]);
    let text = &printed.stdout;
    assert!(
        text.contains("name: east") && text.contains("name: west"),
        "{text}"
    );
    assert!(text.contains("certificate-authority-data"), "{text}");

    let created = s.kubectl(DIR, Some("east"), &["create", "namespace", "kept"]);
    assert_eq!(created.code, 0, "{}", created.all());
    let west = s.kubectl(DIR, Some("west"), &["get", "namespace", "kept"]);
    assert_ne!(west.code, 0, "clusters are not isolated");
    s.sandbox_down(DIR, child);

    let child = up();
    let again = s.kubectl(
        DIR,
        Some("east"),
        &["get", "namespace", "kept", "-o", "jsonpath={.status.phase}"],
    );
    assert_eq!(again.stdout, "Active", "{}", again.all());
    s.sandbox_down(DIR, child);
}
