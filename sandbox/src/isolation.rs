//! Network isolation of commands run through `exec`: each runs in a network namespace of its
//! own that holds only a loopback interface, so `kubectl exec POD -- curl 10.x.y.z` cannot
//! reach a real network. Where the kernel refuses new namespaces the command runs in the
//! host's network namespace (see docs/sandbox.md).

use std::process::Stdio;
use std::sync::OnceLock;

/// How exec commands are isolated on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A new network namespace (`unshare --net`; needs CAP_SYS_ADMIN).
    Namespace,
    /// A new user and network namespace (`unshare --map-root-user --net`, for unprivileged
    /// users where user namespaces are allowed).
    UserNamespace,
    /// None: the kernel or the machine refuses both.
    Host,
}

fn works(args: &[&str]) -> bool {
    std::process::Command::new("unshare")
        .args(args)
        .args(["--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The isolation this machine allows, probed once.
pub fn isolation() -> Isolation {
    static MODE: OnceLock<Isolation> = OnceLock::new();
    *MODE.get_or_init(|| {
        if works(&["--net"]) {
            Isolation::Namespace
        } else if works(&["--map-root-user", "--net"]) {
            Isolation::UserNamespace
        } else {
            Isolation::Host
        }
    })
}

/// The command that runs `argv` as an exec'd process, isolated as far as the machine allows.
/// Inside the namespace loopback is brought up (when `ip` exists), as in a pod.
pub fn command(argv: &[String]) -> tokio::process::Command {
    let (program, args) = match argv.split_first() {
        Some((p, a)) => (p.as_str(), a),
        None => ("true", &[][..]),
    };
    let unshare: &[&str] = match isolation() {
        Isolation::Namespace => &["--net"],
        Isolation::UserNamespace => &["--map-root-user", "--net"],
        Isolation::Host => {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args);
            return cmd;
        }
    };
    let mut cmd = tokio::process::Command::new("unshare");
    cmd.args(unshare)
        .args([
            "--",
            "/bin/sh",
            "-c",
            "ip link set lo up 2>/dev/null; exec \"$0\" \"$@\"",
            program,
        ])
        .args(args);
    cmd
}
