//! `ssh` and `scp` to the simulated cloud's VMs. The simulated cloud (`MESHBOOK_GCP_DIR`) keeps
//! `instances.json` (`[{"name","zone","project","status","internalIP","externalIP","root"}]`)
//! and each VM's filesystem under `instances/<name>/root/`. A destination host is matched to a
//! RUNNING instance by external IP, internal IP or name; anything else fails as ssh fails when it
//! cannot connect, adding "no network in a rehearsal".
//!
//! A remote command runs with bash inside the VM's filesystem: in a user, mount and network
//! namespace of its own (`unshare`), chrooted into the VM's root with the host's `/usr` bound
//! read-only and only the harmless devices, and only a loopback interface that is down: `sudo tee
//! -a /etc/hosts` on the VM writes the VM's `/etc/hosts`, never this machine's, and nothing the
//! VM runs reaches a network. The VM's `PATH` starts with its own `sudo`, `systemctl`, `service`,
//! `apt-get`, `apt`, `dpkg` and `docker` (see [`crate::vm`]), which change only the VM's folder.
//! HOME is `/home/USER` (USER from `user@`, `-l`, else `$USER`). Where namespaces are not
//! allowed the double refuses to run remote commands rather than run them on this machine.
//!
//! `gcloud compute ssh` and `scp` (gcloud 528) call them as
//! `ssh -T -i ~/.ssh/google_compute_engine -o CheckHostIP=no -o HashKnownHosts=no -o
//! HostKeyAlias=compute.ID -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o
//! UserKnownHostsFile=~/.ssh/google_compute_known_hosts USER@EXTERNAL_IP -- COMMAND` (first with
//! the command `:` while the key propagates) and `scp -i … -o … FILE… USER@EXTERNAL_IP:~`.
//!
//! Option tables and usage from OpenSSH 9.2p1's ssh(1) and scp(1) (`ssh -?`, `scp -?`):
//! unknown options get `unknown option -- X` and the usage, exit 255 (ssh) or 1 (scp).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::{Call, Env, Exit, Io, Outcome};

const NO_NETWORK: &str = "no network in a rehearsal";

const SSH_BOOL: &str = "46AaCfGgKkMNnqsTtVvXxYy";
const SSH_VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";
const SSH_USAGE: &str = "usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface]
           [-b bind_address] [-c cipher_spec] [-D [bind_address:]port]
           [-E log_file] [-e escape_char] [-F configfile] [-I pkcs11]
           [-i identity_file] [-J [user@]host[:port]] [-L address]
           [-l login_name] [-m mac_spec] [-O ctl_cmd] [-o option] [-p port]
           [-Q query_option] [-R address] [-S ctl_path] [-W host:port]
           [-w local_tun[:remote_tun]] destination [command [argument ...]]";
const SCP_BOOL: &str = "346ABCOpqRrsTv";
const SCP_VALUE: &str = "cDFiJloPSX";
const SCP_USAGE: &str =
    "usage: scp [-346ABCOpqRrsTv] [-c cipher] [-D sftp_server_path] [-F ssh_config]
           [-i identity_file] [-J destination] [-l limit] [-o ssh_option]
           [-P port] [-S program] [-X sftp_option] source ... target";

/// One instance of the simulated cloud.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default, rename = "internalIP")]
    internal_ip: String,
    #[serde(default, rename = "externalIP")]
    external_ip: String,
    #[serde(default)]
    root: Option<PathBuf>,
}

/// Options and operands, getopt style (options stop at the first operand or `--`).
struct Getopt {
    flags: Vec<(char, Option<String>)>,
    operands: Vec<String>,
}

fn getopt(args: &[String], bools: &str, values: &str) -> Result<Getopt, char> {
    let mut out = Getopt {
        flags: Vec::new(),
        operands: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            out.operands.extend(args[i + 1..].iter().cloned());
            return Ok(out);
        }
        if !a.starts_with('-') || a.len() < 2 {
            out.operands.extend(args[i..].iter().cloned());
            return Ok(out);
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            if bools.contains(c) {
                out.flags.push((c, None));
            } else if values.contains(c) {
                let rest: String = chars[j..].iter().collect();
                let value = if rest.is_empty() {
                    i += 1;
                    args.get(i).cloned().ok_or(c)?
                } else {
                    rest
                };
                out.flags.push((c, Some(value)));
                break;
            } else {
                return Err(c);
            }
        }
        i += 1;
    }
    Ok(out)
}

fn instances(env: &Env) -> Vec<(Instance, PathBuf)> {
    let Some(dir) = env.var("MESHBOOK_GCP_DIR").map(PathBuf::from) else {
        return Vec::new();
    };
    let list: Vec<Instance> = std::fs::read_to_string(dir.join("instances.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    list.into_iter()
        .map(|i| {
            let root = match &i.root {
                Some(r) if r.is_absolute() => r.clone(),
                Some(r) => dir.join(r),
                None => dir.join("instances").join(&i.name).join("root"),
            };
            (i, root)
        })
        .collect()
}

/// The VM a host reaches, or ssh's failure to connect.
fn reach(env: &Env, host: &str, port: &str) -> Result<(Instance, PathBuf), String> {
    let found = instances(env).into_iter().find(|(i, _)| {
        [&i.external_ip, &i.internal_ip, &i.name]
            .iter()
            .any(|a| !a.is_empty() && a.as_str() == host)
    });
    match found {
        Some((i, root)) if i.status == "RUNNING" => Ok((i, root)),
        Some(_) => Err(format!(
            "ssh: connect to host {host} port {port}: Connection refused ({NO_NETWORK})"
        )),
        None if host.parse::<std::net::IpAddr>().is_ok() => Err(format!(
            "ssh: connect to host {host} port {port}: Connection refused ({NO_NETWORK})"
        )),
        None => Err(format!(
            "ssh: Could not resolve hostname {host}: Name or service not known ({NO_NETWORK})"
        )),
    }
}

/// `[user@]host` or `ssh://[user@]host[:port]`.
fn destination(d: &str) -> (Option<String>, String) {
    let d = d.strip_prefix("ssh://").unwrap_or(d);
    let (user, host) = match d.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, d),
    };
    (user, host.split(':').next().unwrap_or(host).to_string())
}

fn login(env: &Env, user: Option<String>, flags: &[(char, Option<String>)]) -> String {
    user.or_else(|| {
        flags
            .iter()
            .rev()
            .find(|(c, _)| *c == 'l')
            .and_then(|(_, v)| v.clone())
    })
    .or_else(|| env.var("USER").map(str::to_string))
    .unwrap_or_else(|| "root".into())
}

/// Runs `script` with bash inside the VM's root, isolated from this machine's filesystem.
fn run_in_vm(
    root: &Path,
    user: &str,
    script: &str,
    stdin: &[u8],
    io: &mut Io<'_>,
) -> Result<i32, String> {
    crate::vm::prepare(root, user)
        .map_err(|e| format!("cannot prepare the VM's filesystem: {e}"))?;
    let setup = r#"set -e
R="$1"; shift
mount --rbind /usr "$R/usr"
mount -o remount,bind,ro "$R/usr" 2>/dev/null || true
for d in null zero random urandom; do mount --bind "/dev/$d" "$R/dev/$d"; done
for l in bin lib lib64 sbin; do [ -e "/$l" ] && [ ! -e "$R/$l" ] && ln -s "usr/$l" "$R/$l"; done
exec chroot "$R" /usr/bin/env -i HOME="$HOME_IN_VM" USER="$USER_IN_VM" PATH=/.meshbook/bin:/usr/local/bin:/usr/bin:/bin TERM=dumb /bin/bash -c 'cd "$HOME" && eval "$1"' bash "$@""#;
    let mut child = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--net",
            "--fork",
            "sh",
            "-c",
            setup,
            "sh",
        ])
        .arg(root)
        .arg(script)
        .env("HOME_IN_VM", format!("/home/{user}"))
        .env("USER_IN_VM", user)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot isolate the VM's filesystem (unshare: {e}); refusing to run the command on this machine"))?;
    if let Some(mut s) = child.stdin.take() {
        let _ = s.write_all(stdin);
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = io.out.write_all(&out.stdout);
    let _ = io.err.write_all(&out.stderr);
    Ok(out.status.code().unwrap_or(255))
}

/// Runs `ssh ARGS`.
pub fn run_ssh(args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    // OpenSSH's own getopt ends this line with "\r\n" (ssh 9.2 on Debian 12).
    let unknown = |c| Exit::new(255, format!("unknown option -- {c}\r\n{SSH_USAGE}"));
    let mut g = getopt(args, SSH_BOOL, SSH_VALUE).map_err(unknown)?;
    // Options may follow the destination too, up to `--` (ssh.c parses them again).
    if g.operands.len() > 1 && g.operands[1].starts_with('-') {
        let dest = g.operands[0].clone();
        let rest = getopt(&g.operands[1..], SSH_BOOL, SSH_VALUE).map_err(unknown)?;
        g.flags.extend(rest.flags);
        g.operands = std::iter::once(dest).chain(rest.operands).collect();
    }
    call.flags = g.flags.iter().map(|(c, _)| format!("-{c}")).collect();
    let Some(dest) = g.operands.first() else {
        return Err(Exit::new(255, SSH_USAGE));
    };
    let (user, host) = destination(dest);
    let port = g
        .flags
        .iter()
        .rev()
        .find(|(c, _)| *c == 'p')
        .and_then(|(_, v)| v.clone())
        .unwrap_or_else(|| "22".into());
    let (vm, root) = reach(env, &host, &port).map_err(|e| Exit::new(255, e))?;
    let user = login(env, user, &g.flags);
    let command = g.operands[1..].join(" ");
    let mut stdin = Vec::new();
    if !g.flags.iter().any(|(c, _)| *c == 'n') {
        let _ = io.stdin.read_to_end(&mut stdin);
    }
    let script = if command.is_empty() {
        String::from_utf8_lossy(&stdin).into_owned()
    } else {
        command
    };
    call.effect(format!("ran a command on VM {} as {user}", vm.name));
    let code = run_in_vm(&root, &user, &script, &stdin, io)
        .map_err(|e| Exit::new(255, format!("ssh: {e}")))?;
    if code == 0 {
        Ok(())
    } else {
        Err(Exit::new(code, ""))
    }
}

/// A side of a copy: local, or a VM path.
enum Side {
    Local(PathBuf),
    Remote {
        host: String,
        user: Option<String>,
        path: String,
    },
}

fn side(env: &Env, s: &str) -> Side {
    // host:path, user@host:path; a `:` after a `/` is part of a local path.
    match s.split_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains('/') => {
            let (user, host) = destination(h);
            Side::Remote {
                host,
                user,
                path: p.to_string(),
            }
        }
        _ => Side::Local(env.resolve(s)),
    }
}

/// A VM path inside its root: relative and `~` paths are under the user's home.
fn vm_path(root: &Path, user: &str, path: &str) -> PathBuf {
    let home = root.join("home").join(user);
    let rel = path
        .strip_prefix("~/")
        .or_else(|| path.strip_prefix('~'))
        .unwrap_or(path);
    if path.starts_with('/') {
        root.join(path.trim_start_matches('/'))
    } else if rel.is_empty() {
        home
    } else {
        home.join(rel)
    }
}

fn copy(from: &Path, to: &Path, recursive: bool) -> Result<(), String> {
    let to = if to.is_dir() {
        to.join(from.file_name().unwrap_or_default())
    } else {
        to.to_path_buf()
    };
    if from.is_dir() {
        if !recursive {
            return Err(format!("{}: not a regular file", from.display()));
        }
        std::fs::create_dir_all(&to).map_err(|e| e.to_string())?;
        for e in std::fs::read_dir(from).map_err(|e| e.to_string())? {
            let e = e.map_err(|e| e.to_string())?;
            copy(&e.path(), &to.join(e.file_name()), true)?;
        }
        return Ok(());
    }
    std::fs::copy(from, &to)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", to.display()))
}

/// Runs `scp ARGS`.
pub fn run_scp(args: &[String], env: &Env, _io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let g = getopt(args, SCP_BOOL, SCP_VALUE)
        .map_err(|c| Exit::new(1, format!("scp: unknown option -- {c}\r\n{SCP_USAGE}")))?;
    call.flags = g.flags.iter().map(|(c, _)| format!("-{c}")).collect();
    if g.operands.len() < 2 {
        return Err(Exit::new(1, SCP_USAGE));
    }
    let recursive = g.flags.iter().any(|(c, _)| *c == 'r');
    let port = g
        .flags
        .iter()
        .rev()
        .find(|(c, _)| *c == 'P')
        .and_then(|(_, v)| v.clone())
        .unwrap_or_else(|| "22".into());
    let resolve = |s: &Side| -> Result<PathBuf, Exit> {
        match s {
            Side::Local(p) => Ok(p.clone()),
            Side::Remote { host, user, path } => {
                let (_, root) = reach(env, host, &port)
                    .map_err(|e| Exit::new(255, format!("{e}\r\nscp: Connection closed")))?;
                let user = login(env, user.clone(), &g.flags);
                crate::vm::prepare(&root, &user).map_err(|e| Exit::new(1, format!("scp: {e}")))?;
                Ok(vm_path(&root, &user, path))
            }
        }
    };
    let (sources, target) = g.operands.split_at(g.operands.len() - 1);
    let target_side = side(env, &target[0]);
    let to = resolve(&target_side)?;
    if sources.len() > 1 && !to.is_dir() {
        return Err(Exit::new(1, format!("scp: {}: Not a directory", target[0])));
    }
    for s in sources {
        let from = resolve(&side(env, s))?;
        if !from.exists() {
            return Err(Exit::new(1, format!("scp: {s}: No such file or directory")));
        }
        copy(&from, &to, recursive).map_err(|e| Exit::new(1, format!("scp: {e}")))?;
        call.effect(format!("copied {s} to {}", target[0]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{env_in, run_captured};

    /// A hand-made simulated cloud: one running VM, one stopped.
    fn cloud(dir: &Path) -> Env {
        let gcp = dir.join("gcp");
        std::fs::create_dir_all(gcp.join("instances/istio-gce/root")).unwrap();
        std::fs::write(
            gcp.join("instances.json"),
            r#"[{"name":"istio-gce","zone":"us-west2-a","project":"p","status":"RUNNING","internalIP":"10.168.0.50","externalIP":"127.0.0.77","root":"instances/istio-gce/root"},
               {"name":"stopped","zone":"us-west2-a","project":"p","status":"TERMINATED","internalIP":"10.168.0.51","externalIP":"127.0.0.78"}]"#,
        )
        .unwrap();
        let mut env = env_in(dir);
        env.vars
            .insert("MESHBOOK_GCP_DIR".into(), gcp.display().to_string());
        env.vars.insert("USER".into(), "me".into());
        env
    }

    #[test]
    fn scp_and_ssh_reach_the_vm_filesystem_only() {
        let dir = tempfile::tempdir().unwrap();
        let env = cloud(dir.path());
        std::fs::write(
            dir.path().join("gce-script.sh"),
            "echo \"$1 istiod\" | sudo tee -a /etc/hosts\n",
        )
        .unwrap();
        let (code, _, err) = run_captured(
            "scp",
            &[
                "-i",
                "key",
                "-o",
                "StrictHostKeyChecking=no",
                "gce-script.sh",
                "alice@127.0.0.77:~",
            ],
            &env,
            "",
        );
        assert_eq!(code, 0, "{err}");
        let root = dir.path().join("gcp/instances/istio-gce/root");
        assert!(root.join("home/alice/gce-script.sh").is_file());
        let (code, out, err) = run_captured(
            "ssh",
            &[
                "-t",
                "-i",
                "key",
                "-o",
                "CheckHostIP=no",
                "alice@127.0.0.77",
                "--",
                "bash gce-script.sh 127.0.0.9 && pwd && cat /etc/hosts",
            ],
            &env,
            "",
        );
        if err.contains("cannot isolate") {
            // Namespaces are not allowed here: the double refused rather than touch this machine.
            assert_eq!(code, 255);
            return;
        }
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, "127.0.0.9 istiod\n/home/alice\n127.0.0.9 istiod\n");
        assert_eq!(
            std::fs::read_to_string(root.join("etc/hosts")).unwrap(),
            "127.0.0.9 istiod\n"
        );
        let (code, _, _) = run_captured("ssh", &["127.0.0.77", "exit 3"], &env, "");
        assert_eq!(code, 3);
    }

    /// gcloud's own argv (see the module's comment), with the key and known-hosts files.
    fn gcloud_options(dir: &Path) -> Vec<String> {
        let ssh = dir.join(".ssh");
        let mut out = vec![
            "-i".to_string(),
            ssh.join("google_compute_engine").display().to_string(),
        ];
        for o in [
            "CheckHostIP=no".to_string(),
            "HashKnownHosts=no".to_string(),
            "HostKeyAlias=compute.5314070059854320598".to_string(),
            "IdentitiesOnly=yes".to_string(),
            "StrictHostKeyChecking=no".to_string(),
            format!(
                "UserKnownHostsFile={}",
                ssh.join("google_compute_known_hosts").display()
            ),
        ] {
            out.push("-o".into());
            out.push(o);
        }
        out
    }

    #[test]
    fn a_provisioning_script_changes_only_the_vm() {
        let dir = tempfile::tempdir().unwrap();
        let env = cloud(dir.path());
        std::fs::write(
            dir.path().join("gce-script.sh"),
            "#!/usr/bin/env bash\nset -euo pipefail\n\
             echo \"127.0.0.9 istiod.istio-system.svc\" | sudo tee -a /etc/hosts\n\
             sudo apt-get update -qq && sudo apt-get install -y docker.io\n\
             sudo systemctl start istio\n\
             sudo docker run -d --name productcatalogservice -p 3550:3550 gcr.io/google-samples/pc:v0.2.0\n",
        )
        .unwrap();
        let mut scp: Vec<String> = gcloud_options(dir.path());
        scp.extend(["gce-script.sh".into(), "root@127.0.0.77:~".into()]);
        let scp: Vec<&str> = scp.iter().map(String::as_str).collect();
        let (code, _, err) = run_captured("scp", &scp, &env, "");
        assert_eq!(code, 0, "{err}");
        let root = dir.path().join("gcp/instances/istio-gce/root");
        assert!(root.join("home/root/gce-script.sh").is_file());
        let ssh = |command: &str| {
            let mut args = vec!["-T".to_string()];
            args.extend(gcloud_options(dir.path()));
            args.extend(["root@127.0.0.77".into(), "--".into(), command.into()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_captured("ssh", &args, &env, "")
        };
        let (code, _, err) = ssh(":");
        if err.contains("cannot isolate") {
            // Namespaces are not allowed here: the double refused rather than touch this machine.
            assert_eq!(code, 255);
            return;
        }
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = ssh("chmod +x gce-script.sh; ./gce-script.sh");
        assert_eq!(code, 0, "{err}");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
        assert_eq!(read("etc/hosts"), "127.0.0.9 istiod.istio-system.svc\n");
        assert_eq!(read(".meshbook/services/istio"), "active\n");
        assert!(root.join(".meshbook/packages/docker.io").is_file());
        assert_eq!(
            read(".meshbook/containers/productcatalogservice"),
            "gcr.io/google-samples/pc:v0.2.0\n"
        );
        let (code, out, _) = ssh("sudo systemctl stop istio; systemctl is-active istio");
        assert_eq!((code, out.as_str()), (3, "inactive\n"));
        let (code, _, err) = ssh("sudo systemctl frob istio");
        assert_eq!((code, err.as_str()), (1, "Unknown command verb frob.\n"));
        // The VM has no network: not even this machine's loopback answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (code, _, _) = ssh(&format!("echo hi > /dev/tcp/127.0.0.1/{port}"));
        assert_ne!(code, 0, "the VM reached this machine's port {port}");
    }

    /// The real ssh and scp, when installed, refuse an unknown option in the same words.
    #[test]
    fn unknown_options_are_refused_in_openssh_words() {
        let dir = tempfile::tempdir().unwrap();
        let env = cloud(dir.path());
        for tool in ["ssh", "scp"] {
            let (code, _, err) = run_captured(tool, &["-z", "127.0.0.77"], &env, "");
            let first = err.lines().next().unwrap_or_default().to_string();
            assert_eq!(code, if tool == "ssh" { 255 } else { 1 }, "{err}");
            let Ok(real) = Command::new(tool).args(["-z", "127.0.0.77"]).output() else {
                continue;
            };
            let real_err = String::from_utf8_lossy(&real.stderr).into_owned();
            assert_eq!(real.status.code(), Some(code), "{tool}: {real_err}");
            assert_eq!(real_err.lines().next(), Some(first.as_str()), "{tool}");
            let version = Command::new("ssh").arg("-V").output().map(|o| o.stderr);
            if version.is_ok_and(|v| v.starts_with(b"OpenSSH_9.2")) {
                assert_eq!(
                    real_err, err,
                    "{tool}: the usage of the release the table follows"
                );
            }
        }
    }

    #[test]
    fn other_hosts_and_options_fail_as_openssh_does() {
        let dir = tempfile::tempdir().unwrap();
        let env = cloud(dir.path());
        let (code, _, err) = run_captured("ssh", &["203.0.113.5", "true"], &env, "");
        assert_eq!(
            (code, err.as_str()),
            (
                255,
                "ssh: connect to host 203.0.113.5 port 22: Connection refused (no network in a rehearsal)\n"
            )
        );
        let (code, _, err) = run_captured("ssh", &["127.0.0.78", "true"], &env, "");
        assert_eq!(code, 255, "a stopped VM refuses connections: {err}");
        let (code, _, err) = run_captured("ssh", &["-z", "127.0.0.77"], &env, "");
        assert_eq!(code, 255);
        assert!(
            err.starts_with("unknown option -- z\r\nusage: ssh [-46AaCfGgKkMNnqsTtVvXxYy]"),
            "{err}"
        );
        let (code, _, err) = run_captured("scp", &["-z", "a", "b"], &env, "");
        assert_eq!(code, 1);
        assert!(
            err.starts_with("scp: unknown option -- z\r\nusage: scp [-346ABCOpqRrsTv]"),
            "{err}"
        );
        let (code, _, err) = run_captured("scp", &["f", "nohost.example:"], &env, "");
        assert_eq!(code, 255);
        assert!(
            err.contains("Could not resolve hostname nohost.example"),
            "{err}"
        );
    }
}
