//! Downloads in a rehearsal: `curl`, `wget` and `git clone` of a remote URL are served from the
//! runbook's stand-in files (`downloads:` of its `sandbox/doubles.yaml`); any other remote URL
//! is refused the way each tool fails when it cannot resolve the host, adding "no network in a
//! rehearsal". A stand-in folder is served as a `.tar.gz` of it (scripts in it executable), or
//! copied as the clone. Every other `git` command runs the real git.
//!
//! Option tables: curl's from its manual (`curl --help all`, curl 7.x/8.x: the options that take
//! a value must be known to find the URLs); wget's from `wget --help` (GNU Wget 1.21); git
//! clone's from `git clone -h` (git 2.x).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Call, Env, Exit, Io, Outcome};

const NO_NETWORK: &str = "no network in a rehearsal";

/// A URL's host, for the tools' resolution errors.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', ':', '?']).next().unwrap_or(rest)
}

fn is_remote(url: &str) -> bool {
    let lower = url.to_lowercase();
    [
        "http://", "https://", "ftp://", "ftps://", "git://", "ssh://", "git@",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

/// The bytes served for `url`: the stand-in file, or a `.tar.gz` of a stand-in folder.
fn serve(env: &Env, url: &str, call: &mut Call) -> Option<Result<Vec<u8>, String>> {
    let d = env.config.download(url)?;
    call.effect(format!("served {url} from {}", d.path.display()));
    Some(if d.path.is_dir() {
        tarball(&d.path)
    } else {
        std::fs::read(&d.path).map_err(|e| format!("{}: {e}", d.path.display()))
    })
}

/// Copies `src` into `dst`, making files that start with `#!` executable (stand-ins built into
/// the binary lose their modes).
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else {
            let bytes = std::fs::read(entry.path())?;
            std::fs::write(&to, &bytes)?;
            let mode = if bytes.starts_with(b"#!") {
                0o755
            } else {
                0o644
            };
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

fn tarball(dir: &Path) -> Result<Vec<u8>, String> {
    let name = dir.file_name().ok_or("a stand-in folder without a name")?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    copy_tree(dir, &tmp.path().join(name)).map_err(|e| e.to_string())?;
    let out = Command::new("tar")
        .arg("-czf")
        .arg("-")
        .arg("-C")
        .arg(tmp.path())
        .arg(name)
        .output()
        .map_err(|e| format!("tar: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(out.stdout)
}

/// curl's options that take a value.
const CURL_VALUE: [&str; 40] = [
    "-o",
    "--output",
    "-H",
    "--header",
    "-X",
    "--request",
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "-A",
    "--user-agent",
    "-u",
    "--user",
    "-e",
    "--referer",
    "-m",
    "--max-time",
    "--connect-timeout",
    "--retry",
    "--retry-delay",
    "--retry-max-time",
    "-w",
    "--write-out",
    "-x",
    "--proxy",
    "--cacert",
    "--cert",
    "--key",
    "-b",
    "--cookie",
    "-c",
    "--cookie-jar",
    "-F",
    "--form",
    "-T",
    "--upload-file",
    "--url",
    "--resolve",
];

/// curl's options without a value.
const CURL_FLAG: [&str; 30] = [
    "-L",
    "--location",
    "-s",
    "--silent",
    "-S",
    "--show-error",
    "-f",
    "--fail",
    "-O",
    "--remote-name",
    "-k",
    "--insecure",
    "-I",
    "--head",
    "-v",
    "--verbose",
    "-#",
    "--progress-bar",
    "--compressed",
    "-G",
    "--get",
    "-i",
    "--include",
    "-N",
    "--no-buffer",
    "-4",
    "-6",
    "--http1.1",
    "--fail-with-body",
    "--create-dirs",
];

/// Runs `curl ARGS`.
pub fn run_curl(args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let unknown = |o: &str| {
        Exit::new(
            2,
            format!(
                "curl: option {o}: is unknown\ncurl: try 'curl --help' or 'curl --manual' for more information"
            ),
        )
    };
    let mut urls = Vec::new();
    let mut output: Option<String> = None;
    let (mut remote_name, mut head) = (false, false);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--url" {
            urls.extend(args.get(i).cloned());
            i += 1;
            continue;
        }
        if a.starts_with("--") {
            let name = a.split('=').next().unwrap_or(a);
            if CURL_VALUE.contains(&name) {
                let value = if name.len() < a.len() {
                    Some(a[name.len() + 1..].to_string())
                } else {
                    i += 1;
                    args.get(i - 1).cloned()
                };
                let Some(value) = value else {
                    return Err(Exit::new(
                        2,
                        format!(
                            "curl: option {a}: requires parameter\ncurl: try 'curl --help' or 'curl --manual' for more information"
                        ),
                    ));
                };
                if name == "--output" {
                    output = Some(value);
                }
            } else if CURL_FLAG.contains(&a) {
                remote_name |= a == "--remote-name";
                head |= a == "--head";
            } else {
                return Err(unknown(a));
            }
            call.flags.push(name.to_string());
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            // Combined shorts: -fsSL, -sIf, -o FILE, -oFILE.
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let short = format!("-{}", chars[j]);
                j += 1;
                if CURL_VALUE.contains(&short.as_str()) {
                    let rest: String = chars[j..].iter().collect();
                    let value = if rest.is_empty() {
                        i += 1;
                        args.get(i - 1).cloned()
                    } else {
                        Some(rest)
                    };
                    let Some(value) = value else {
                        return Err(Exit::new(
                            2,
                            format!(
                                "curl: option {short}: requires parameter\ncurl: try 'curl --help' or 'curl --manual' for more information"
                            ),
                        ));
                    };
                    if short == "-o" {
                        output = Some(value);
                    }
                    call.flags.push(short);
                    break;
                } else if CURL_FLAG.contains(&short.as_str()) {
                    remote_name |= short == "-O";
                    head |= short == "-I";
                    call.flags.push(short);
                } else {
                    return Err(unknown(&short));
                }
            }
            continue;
        }
        urls.push(a.to_string());
    }
    if urls.is_empty() {
        return Err(Exit::new(
            2,
            "curl: no URL specified!\ncurl: try 'curl --help' or 'curl --manual' for more information",
        ));
    }
    for url in urls {
        let body = match serve(env, &url, call) {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                return Err(Exit::new(
                    23,
                    format!("curl: (23) Failure writing output: {e}"),
                ));
            }
            None if url.starts_with("file://") => std::fs::read(&url[7..]).map_err(|_| {
                Exit::new(37, format!("curl: (37) Couldn't open file {}", &url[7..]))
            })?,
            None => {
                return Err(Exit::new(
                    6,
                    format!(
                        "curl: (6) Could not resolve host: {} ({NO_NETWORK})",
                        host(&url)
                    ),
                ));
            }
        };
        if head {
            if output.as_deref() != Some("/dev/null") {
                let _ = write!(
                    io.out,
                    "HTTP/2 200\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
            }
            continue;
        }
        let target = match (&output, remote_name) {
            (Some(o), _) => Some(o.clone()),
            (None, true) => Some(url.rsplit('/').next().unwrap_or("index.html").to_string()),
            (None, false) => None,
        };
        match target {
            Some(t) if t == "-" => {
                let _ = io.out.write_all(&body);
            }
            Some(t) => {
                let path = env.resolve(&t);
                std::fs::write(&path, &body).map_err(|e| {
                    Exit::new(
                        23,
                        format!("curl: (23) Failure writing output to destination: {e}"),
                    )
                })?;
                call.effect(format!("wrote {t}"));
            }
            None => {
                let _ = io.out.write_all(&body);
            }
        }
    }
    Ok(())
}

/// wget's options that take a value.
const WGET_VALUE: [&str; 12] = [
    "-O",
    "--output-document",
    "-P",
    "--directory-prefix",
    "-o",
    "--output-file",
    "-t",
    "--tries",
    "-T",
    "--timeout",
    "--header",
    "--user-agent",
];
/// wget's options without a value.
const WGET_FLAG: [&str; 12] = [
    "-q",
    "--quiet",
    "-nv",
    "--no-verbose",
    "-c",
    "--continue",
    "--no-check-certificate",
    "-N",
    "--timestamping",
    "-v",
    "--verbose",
    "--show-progress",
];

/// Runs `wget ARGS`.
pub fn run_wget(args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let usage = "Usage: wget [OPTION]... [URL]...\n\nTry `wget --help' for more options.";
    let mut urls = Vec::new();
    let (mut doc, mut prefix) = (None::<String>, None::<String>);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        let name = a.split('=').next().unwrap_or(a);
        if WGET_VALUE.contains(&name) {
            let value = if name.len() < a.len() && a.starts_with("--") {
                a[name.len() + 1..].to_string()
            } else if a.len() > 2 && !a.starts_with("--") {
                a[2..].to_string()
            } else {
                i += 1;
                args.get(i - 1).cloned().ok_or_else(|| {
                    Exit::new(
                        2,
                        format!(
                            "wget: option requires an argument -- '{}'\n{usage}",
                            a.trim_start_matches('-')
                        ),
                    )
                })?
            };
            match name {
                "-O" | "--output-document" => doc = Some(value),
                "-P" | "--directory-prefix" => prefix = Some(value),
                _ => {}
            }
            call.flags.push(name.to_string());
        } else if WGET_FLAG.contains(&a) {
            call.flags.push(a.to_string());
        } else if a.starts_with("--") {
            return Err(Exit::new(
                2,
                format!("wget: unrecognized option '{a}'\n{usage}"),
            ));
        } else if a.starts_with('-') && a.len() > 1 {
            let c = a.chars().nth(1).unwrap_or('-');
            return Err(Exit::new(
                2,
                format!("wget: invalid option -- '{c}'\n{usage}"),
            ));
        } else {
            urls.push(a.to_string());
        }
    }
    if urls.is_empty() {
        return Err(Exit::new(1, format!("wget: missing URL\n{usage}")));
    }
    for url in urls {
        let body = match serve(env, &url, call) {
            Some(b) => b.map_err(|e| Exit::new(3, format!("wget: {e}")))?,
            None => {
                let h = host(&url);
                return Err(Exit::new(
                    4,
                    format!(
                        "Resolving {h} ({h})... failed: Name or service not known ({NO_NETWORK}).\nwget: unable to resolve host address '{h}'"
                    ),
                ));
            }
        };
        match doc.as_deref() {
            Some("-") => {
                let _ = io.out.write_all(&body);
            }
            other => {
                let file = other.map(str::to_string).unwrap_or_else(|| {
                    let base = url
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or("index.html");
                    match &prefix {
                        Some(p) => format!("{p}/{base}"),
                        None => base.to_string(),
                    }
                });
                std::fs::write(env.resolve(&file), &body)
                    .map_err(|e| Exit::new(3, format!("{file}: {e}")))?;
                call.effect(format!("wrote {file}"));
            }
        }
    }
    Ok(())
}

/// The real git: the first `git` on `PATH` that is not this binary.
fn real_git(env: &Env) -> Option<PathBuf> {
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    let path = env.var("PATH").unwrap_or_default().to_string();
    std::env::split_paths(&path)
        .map(|d| d.join("git"))
        .filter(|p| p.is_file())
        .find(|p| p.canonicalize().ok() != me)
}

fn git(env: &Env, args: &[&str], dir: &Path) -> Result<(), String> {
    let git = real_git(env).ok_or("git: command not found")?;
    let out = Command::new(git)
        .args([
            "-c",
            "user.name=meshbook rehearsal",
            "-c",
            "user.email=rehearsal@meshbook.invalid",
            "-c",
            "init.defaultBranch=master",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `git clone`'s options that take a value.
const CLONE_VALUE: [&str; 10] = [
    "-b",
    "--branch",
    "--depth",
    "-o",
    "--origin",
    "-c",
    "--config",
    "--reference",
    "-j",
    "--jobs",
];
/// `git clone`'s options without a value.
const CLONE_FLAG: [&str; 12] = [
    "-q",
    "--quiet",
    "-v",
    "--verbose",
    "--single-branch",
    "--no-single-branch",
    "--recursive",
    "--recurse-submodules",
    "--bare",
    "--mirror",
    "-n",
    "--no-checkout",
];

/// Runs `git ARGS`: clones of remote URLs are served from stand-ins, other network commands are
/// refused, everything else is the real git.
pub fn run_git(args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let sub = args.iter().position(|a| !a.starts_with('-'));
    let Some(sub) = sub else {
        return passthrough(args, env, io);
    };
    call.command = args[sub].clone();
    match args[sub].as_str() {
        "clone" => clone(&args[sub + 1..], env, io, call),
        "fetch" | "pull" | "push" | "ls-remote"
            if args[sub + 1..].iter().any(|a| is_remote(a))
                || args[sub + 1..].iter().all(|a| a.starts_with('-')) =>
        {
            Err(Exit::new(
                128,
                format!(
                    "fatal: unable to access the remote: Could not resolve host ({NO_NETWORK})"
                ),
            ))
        }
        _ => passthrough(args, env, io),
    }
}

fn passthrough(args: &[String], env: &Env, io: &mut Io<'_>) -> Outcome {
    let git = real_git(env).ok_or_else(|| Exit::new(127, "git: command not found"))?;
    let out = Command::new(git)
        .args(args)
        .current_dir(&env.cwd)
        .output()
        .map_err(|e| Exit::new(127, format!("git: {e}")))?;
    let _ = io.out.write_all(&out.stdout);
    let _ = io.err.write_all(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(()),
        code => Err(Exit::new(code.unwrap_or(128), "")),
    }
}

fn clone(args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let usage = "usage: git clone [<options>] [--] <repo> [<dir>]";
    let mut positional = Vec::new();
    let mut i = 0;
    let mut quiet = false;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        let name = a.split('=').next().unwrap_or(a);
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        } else if CLONE_VALUE.contains(&name) {
            if name == a {
                i += 1;
            }
            call.flags.push(name.to_string());
        } else if CLONE_FLAG.contains(&a) {
            quiet |= a == "-q" || a == "--quiet";
            call.flags.push(a.to_string());
        } else if let Some(long) = a.strip_prefix("--") {
            return Err(Exit::new(
                129,
                format!("error: unknown option `{long}'\n{usage}"),
            ));
        } else if a.starts_with('-') && a.len() > 1 {
            return Err(Exit::new(
                129,
                format!("error: unknown switch `{}'\n{usage}", &a[1..2]),
            ));
        } else {
            positional.push(a.to_string());
        }
    }
    let Some(url) = positional.first() else {
        return Err(Exit::new(
            129,
            format!("fatal: You must specify a repository to clone.\n\n{usage}"),
        ));
    };
    if !is_remote(url) {
        let mut all = vec!["clone".to_string()];
        all.extend(args.iter().cloned());
        return passthrough(&all, env, io);
    }
    let dir = positional.get(1).cloned().unwrap_or_else(|| {
        url.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("repo")
            .trim_end_matches(".git")
            .to_string()
    });
    let target = env.resolve(&dir);
    if target.exists()
        && std::fs::read_dir(&target)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Exit::new(
            128,
            format!(
                "fatal: destination path '{dir}' already exists and is not an empty directory."
            ),
        ));
    }
    if !quiet {
        let _ = writeln!(io.err, "Cloning into '{dir}'...");
    }
    let Some(d) = env.config.download(url).cloned() else {
        return Err(Exit::new(
            128,
            format!(
                "fatal: unable to access '{url}': Could not resolve host: {} ({NO_NETWORK})",
                host(url)
            ),
        ));
    };
    if !d.path.is_dir() {
        return Err(Exit::new(
            128,
            format!(
                "fatal: the stand-in of {url} ({}) is not a folder",
                d.path.display()
            ),
        ));
    }
    copy_tree(&d.path, &target).map_err(|e| {
        Exit::new(
            128,
            format!("fatal: could not create work tree dir '{dir}': {e}"),
        )
    })?;
    let made = git(env, &["init", "-q"], &target)
        .and_then(|_| git(env, &["add", "-A"], &target))
        .and_then(|_| {
            git(
                env,
                &["commit", "-q", "-m", "rehearsal stand-in of the clone"],
                &target,
            )
        })
        .and_then(|_| git(env, &["remote", "add", "origin", url], &target));
    made.map_err(|e| Exit::new(128, format!("fatal: {e}")))?;
    call.effect(format!("cloned {url} into {dir} from {}", d.path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::Download;
    use crate::testing::{env_in, run_captured};

    fn env_with_downloads(dir: &Path) -> Env {
        let stand = dir.join("stand");
        std::fs::create_dir_all(stand.join("repo/sub")).unwrap();
        std::fs::write(stand.join("repo/sub/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::write(stand.join("script"), "echo served\n").unwrap();
        let mut env = env_in(dir);
        env.vars
            .insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        env.config.downloads = vec![
            Download {
                url: "https://example.com/script".into(),
                path: stand.join("script"),
            },
            Download {
                url: "https://example.com/repo-*.tar.gz".into(),
                path: stand.join("repo"),
            },
            Download {
                url: "https://github.com/o/repo.git".into(),
                path: stand.join("repo"),
            },
        ];
        env
    }

    #[test]
    fn curl_serves_stand_ins_and_refuses_other_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with_downloads(dir.path());
        let (code, out, _) =
            run_captured("curl", &["-fsSL", "https://example.com/script"], &env, "");
        assert_eq!((code, out.as_str()), (0, "echo served\n"));
        let (code, _, err) = run_captured(
            "curl",
            &["-fsLO", "https://example.com/repo-linux.tar.gz"],
            &env,
            "",
        );
        assert_eq!(code, 0, "{err}");
        let t = Command::new("tar")
            .args(["-tzvf", "repo-linux.tar.gz"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&t.stdout);
        assert!(
            listing.contains("-rwxr-xr-x") && listing.contains("repo/sub/run.sh"),
            "{listing}"
        );
        let (code, _, err) = run_captured("curl", &["-sL", "https://evil.example.org/x"], &env, "");
        assert_eq!(
            (code, err.as_str()),
            (
                6,
                "curl: (6) Could not resolve host: evil.example.org (no network in a rehearsal)\n"
            )
        );
        let (code, _, err) =
            run_captured("curl", &["--bogus", "https://example.com/script"], &env, "");
        assert_eq!(code, 2);
        assert!(
            err.starts_with("curl: option --bogus: is unknown\n"),
            "{err}"
        );
        let (code, _, err) = run_captured("wget", &["--bogus"], &env, "");
        assert_eq!(code, 2);
        assert!(
            err.starts_with("wget: unrecognized option '--bogus'\n"),
            "{err}"
        );
        let (code, _, err) = run_captured("wget", &["-q", "https://nope.example/x"], &env, "");
        assert_eq!(code, 4);
        assert!(
            err.ends_with("wget: unable to resolve host address 'nope.example'\n"),
            "{err}"
        );
    }

    #[test]
    fn git_clone_makes_a_repository_of_the_stand_in() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with_downloads(dir.path());
        if real_git(&env).is_none() {
            return;
        }
        let (code, _, err) = run_captured(
            "git",
            &["clone", "https://github.com/o/repo.git", "work"],
            &env,
            "",
        );
        assert_eq!(code, 0, "{err}");
        assert!(dir.path().join("work/.git").is_dir());
        assert!(dir.path().join("work/sub/run.sh").is_file());
        let (code, _, err) = run_captured(
            "git",
            &["clone", "https://github.com/o/repo.git", "work"],
            &env,
            "",
        );
        assert_eq!(code, 128);
        assert!(
            err.contains("already exists and is not an empty directory"),
            "{err}"
        );
        let (code, _, err) = run_captured(
            "git",
            &["clone", "https://github.com/o/other.git"],
            &env,
            "",
        );
        assert_eq!(code, 128);
        assert!(
            err.ends_with("Could not resolve host: github.com (no network in a rehearsal)\n"),
            "{err}"
        );
        let (code, _, err) = run_captured(
            "git",
            &["clone", "--bogus", "https://github.com/o/repo.git"],
            &env,
            "",
        );
        assert_eq!(code, 129);
        assert!(err.starts_with("error: unknown option `bogus'"), "{err}");
    }
}
