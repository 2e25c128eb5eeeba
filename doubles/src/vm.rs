//! What a simulated VM has besides its files: the commands a provisioning script runs with
//! `sudo` that would change a real machine (`systemctl`, `service`, `apt-get`/`apt`, `dpkg`,
//! `docker`), as small shell scripts in the VM's `/.meshbook/bin`, first on the VM's `PATH`. They
//! act on the VM's folder only, so a test (or a person) can read what the VM would be running:
//!
//! - `/.meshbook/services/UNIT`: `active` or `inactive` (`systemctl start|stop|restart UNIT`,
//!   `service UNIT start|stop|restart`); `systemctl is-active UNIT` answers from it;
//! - `/.meshbook/packages/NAME`: packages `apt-get install` or `dpkg -i FILE.deb` installed;
//! - `/.meshbook/containers/NAME`: the image of each `docker run --name NAME … IMAGE`;
//! - `/.meshbook/commands.log`: every such command, one line each.
//!
//! Units are not checked against unit files and packages are not unpacked: the VM has no
//! network to fetch them from. Refusals use the words of the tools on Debian 12 (systemd 252,
//! apt 2.6, dpkg 1.21, OpenSSH 9.2), checked against them on this project's machine.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `sudo`: the command runs as is (the VM's shell is already root in its user namespace).
const SUDO: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -u|-g) shift 2;; -*) shift;; *) break;; esac; done
exec "$@"
"#;

/// `systemctl VERB [UNIT…]`.
const SYSTEMCTL: &str = r#"#!/bin/sh
echo "systemctl $*" >> /.meshbook/commands.log
S=/.meshbook/services
mkdir -p "$S"
verb=; units=
for a in "$@"; do
  case "$a" in
    -q|--quiet|--no-block|--now|--no-pager|-f|--force|--system|--no-ask-password) ;;
    -*) echo "systemctl: unrecognized option '$a'" >&2; exit 1;;
    *) if [ -z "$verb" ]; then verb=$a; else units="$units ${a%.service}"; fi;;
  esac
done
state() { cat "$S/$1" 2>/dev/null || echo inactive; }
case "$verb" in
  start|restart|reload|try-restart|reload-or-restart) for u in $units; do echo active > "$S/$u"; done;;
  stop) for u in $units; do echo inactive > "$S/$u"; done;;
  enable|disable|daemon-reload|mask|unmask) ;;
  is-active) rc=0; for u in $units; do s=$(state "$u"); echo "$s"; [ "$s" = active ] || rc=3; done; exit $rc;;
  status) rc=0; for u in $units; do s=$(state "$u"); echo "* $u.service"; echo "     Active: $s"; [ "$s" = active ] || rc=3; done; exit $rc;;
  *) echo "Unknown command verb $verb." >&2; exit 1;;
esac
"#;

/// `service UNIT start|stop|restart|status` (SysV style, as Ubuntu's wrapper hands to systemctl).
const SERVICE: &str = r#"#!/bin/sh
[ $# -ge 2 ] || { echo "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]" >&2; exit 1; }
exec systemctl "$2" "$1"
"#;

/// `apt-get [OPTIONS] update|install|remove …` (and `apt`).
const APT_GET: &str = r#"#!/bin/sh
echo "apt-get $*" >> /.meshbook/commands.log
P=/.meshbook/packages
mkdir -p "$P"
op=; pkgs=
while [ $# -gt 0 ]; do
  case "$1" in
    -y|--yes|--assume-yes|-q|-qq|--quiet|--no-install-recommends|--fix-broken|-f|--allow-unauthenticated) ;;
    -o) shift;;
    --*) echo "E: Command line option --${1#--} is not understood in combination with the other options" >&2; exit 100;;
    -*) c=$(printf %s "$1" | cut -c2); echo "E: Command line option '$c' [from $1] is not understood in combination with the other options." >&2; exit 100;;
    *) if [ -z "$op" ]; then op=$1; else pkgs="$pkgs $1"; fi;;
  esac
  shift
done
case "$op" in
  update|upgrade|dist-upgrade|autoremove|clean) ;;
  install) for p in $pkgs; do touch "$P/${p%%=*}"; done;;
  remove|purge) for p in $pkgs; do rm -f "$P/$p"; done;;
  "") echo "E: No operation given" >&2; exit 100;;
  *) echo "E: Invalid operation $op" >&2; exit 100;;
esac
"#;

/// `dpkg -i FILE.deb…` (and `-l`).
const DPKG: &str = r#"#!/bin/sh
echo "dpkg $*" >> /.meshbook/commands.log
P=/.meshbook/packages
mkdir -p "$P"
case "$1" in
  -i|--install) shift
    for f in "$@"; do
      [ -f "$f" ] || { echo "dpkg: error: cannot access archive '$f': No such file or directory" >&2; exit 2; }
      n=$(basename "$f" .deb); touch "$P/${n%%_*}"
    done;;
  -l|--list) ls "$P";;
  -r|--remove|-P|--purge) shift; for p in "$@"; do rm -f "$P/$p"; done;;
  *) echo "dpkg: error: unknown option $1" >&2; exit 2;;
esac
"#;

/// `docker run|ps|stop|rm …`.
const DOCKER: &str = r#"#!/bin/sh
echo "docker $*" >> /.meshbook/commands.log
C=/.meshbook/containers
mkdir -p "$C"
cmd=$1; [ $# -gt 0 ] && shift
case "$cmd" in
  run) name=
    while [ $# -gt 0 ]; do
      case "$1" in
        --name) name=$2; shift 2;;
        --name=*) name=${1#--name=}; shift;;
        -p|-e|-v|--publish|--env|--volume|--network|--restart|--log-driver) shift 2;;
        -d|--detach|--rm|-i|-t|-it|--privileged) shift;;
        -*) echo "unknown flag: $1" >&2; echo "See 'docker run --help'." >&2; exit 125;;
        *) break;;
      esac
    done
    [ $# -gt 0 ] || { echo "\"docker run\" requires at least 1 argument." >&2; exit 1; }
    [ -n "$name" ] || name=container-$$
    [ -e "$C/$name" ] && { echo "docker: Error response from daemon: Conflict. The container name \"/$name\" is already in use." >&2; exit 125; }
    echo "$1" > "$C/$name"; echo "$name";;
  ps) ls "$C";;
  stop|kill) for n in "$@"; do echo "$n"; done;;
  rm) for n in "$@"; do case "$n" in -*) ;; *) rm -f "$C/$n"; echo "$n";; esac; done;;
  *) echo "docker: '$cmd' is not a docker command." >&2; echo "See 'docker --help'" >&2; exit 1;;
esac
"#;

/// The commands, by name.
const COMMANDS: [(&str, &str); 7] = [
    ("sudo", SUDO),
    ("systemctl", SYSTEMCTL),
    ("service", SERVICE),
    ("apt-get", APT_GET),
    ("apt", APT_GET),
    ("dpkg", DPKG),
    ("docker", DOCKER),
];

/// Makes the VM's folders (its root, `/home/USER`, the stand-in devices) and its commands.
pub(crate) fn prepare(root: &Path, user: &str) -> std::io::Result<()> {
    for d in ["etc", "tmp", "usr", "dev", ".meshbook/bin"] {
        crate::private::create_dir(&root.join(d))?;
    }
    crate::private::create_dir(&root.join("home").join(user))?;
    for (name, script) in COMMANDS {
        let path = root.join(".meshbook/bin").join(name);
        crate::private::write(&path, script.as_bytes())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
    }
    for dev in ["null", "zero", "random", "urandom"] {
        let p = root.join("dev").join(dev);
        if !p.exists() {
            crate::private::write(&p, b"")?;
        }
    }
    Ok(())
}
