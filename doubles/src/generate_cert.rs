//! The double of Istio's `generate_cert` (`security/tools/generate_cert/main.go`): Go `flag`
//! parsing of its table (exit 2 and the usage on an unknown flag, as `flag.Parse` does), the
//! mode checks of `checkCmdLine` (`log.Fatalf`, exit 1), and real PEM files: the certificate
//! (0644) and key (0600), self-signed or signed by `--signer-cert`/`--signer-priv`, with the
//! hosts as SANs (URIs for `spiffe://`, IPs, DNS names), the organization, and the CA, client
//! and server usages asked for. Keys are ECDSA P-256 whatever `--key-size` says (rcgen does not
//! generate RSA keys); signer keys may be ECDSA, Ed25519 or PKCS#8 RSA.

use std::io::Write;
use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::cli::{GoFlag, parse_go};
use crate::{Call, Env, Exit, Io, Outcome};

const fn f(
    name: &'static str,
    ty: &'static str,
    default: &'static str,
    usage: &'static str,
) -> GoFlag {
    GoFlag {
        name,
        ty,
        default,
        usage,
    }
}

/// The flags of `security/tools/generate_cert/main.go` (the `var (...)` block).
pub const FLAGS: [GoFlag; 14] = [
    f(
        "host",
        "string",
        "",
        "Comma-separated hostnames and IPs to generate a certificate for.",
    ),
    f(
        "start-date",
        "string",
        "",
        "Creation date in format of Jan 2 15:04:05 2006",
    ),
    f(
        "duration",
        "duration",
        "8760h0m0s",
        "Duration that certificate is valid for.",
    ),
    f(
        "ca",
        "bool",
        "false",
        "Whether this cert should be a Certificate Authority.",
    ),
    f(
        "signer-cert",
        "string",
        "",
        "Signer certificate file (PEM encoded).",
    ),
    f(
        "signer-priv",
        "string",
        "",
        "Signer private key file (PEM encoded).",
    ),
    f(
        "client",
        "bool",
        "false",
        "Whether this certificate is for a client.",
    ),
    f(
        "organization",
        "string",
        "Juju org",
        "Organization for the cert.",
    ),
    f("out-cert", "string", "cert.pem", "Output certificate file."),
    f("out-priv", "string", "priv.pem", "Output private key file."),
    f(
        "key-size",
        "int",
        "2048",
        "Size of the generated private key",
    ),
    f(
        "mode",
        "string",
        "self-signed",
        "Supported mode: self-signed, signer, citadel",
    ),
    f(
        "server",
        "bool",
        "false",
        "Whether this certificate is for a server.",
    ),
    f(
        "ec",
        "bool",
        "false",
        "Generate an elliptical curve private key",
    ),
];

fn table() -> &'static [GoFlag] {
    &FLAGS
}

/// `log.Fatalf`: a timestamped line on stderr, exit 1.
fn fatal(msg: &str) -> Exit {
    let now = time::OffsetDateTime::now_utc();
    Exit::new(
        1,
        format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02} {msg}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        ),
    )
}

/// Parses Go's `time.ParseDuration` forms the tool's users write (`8760h`, `90m`, `1h30m`).
fn parse_duration(text: &str) -> Option<time::Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = text.chars().peekable();
    if text.is_empty() {
        return None;
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(time::Duration::seconds_f64(total))
}

/// The tool's `timeLayout`, which `-start-date` is read with (Go's `time.Parse`).
const TIME_LAYOUT: &str = "Jan 2 15:04:05 2006";

/// `-start-date` as the tool's `getNotBefore` reads it: now when empty, else Go's
/// `time.Parse("Jan 2 15:04:05 2006", text)` (UTC), with Go's words when it cannot be read.
fn not_before(text: &str) -> Result<time::OffsetDateTime, String> {
    if text.is_empty() {
        return Ok(time::OffsetDateTime::now_utc());
    }
    /// One element of the layout: its month name, a literal, or a number of `min..=max` digits
    /// (Go: `2` and `15` take one or two, `04` and `05` two, `2006` four), with the largest
    /// value Go accepts there before reading on.
    enum Elem {
        Month,
        Literal(char),
        Number(usize, usize, Option<(&'static str, u32)>),
    }
    use Elem::{Literal, Month, Number};
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let layout = [
        Month,
        Literal(' '),
        Number(1, 2, None),
        Literal(' '),
        Number(1, 2, Some(("hour", 23))),
        Literal(':'),
        Number(2, 2, Some(("minute", 59))),
        Literal(':'),
        Number(2, 2, Some(("second", 59))),
        Literal(' '),
        Number(4, 4, None),
    ];
    // Where each element starts in TIME_LAYOUT, to name it in an error as Go does.
    let names = [
        "Jan", " ", "2", " ", "15", ":", "04", ":", "05", " ", "2006",
    ];
    let out_of_range = |what: &str| format!("parsing time {text:?}: {what} out of range");
    let mut rest = text;
    let mut read: Vec<u32> = Vec::new();
    for (elem, name) in layout.iter().zip(names) {
        let used = match elem {
            Month => MONTHS
                .iter()
                .position(|m| rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(m)))
                .map(|i| {
                    read.push(i as u32 + 1);
                    3
                }),
            Literal(c) => rest.starts_with(*c).then_some(1),
            Number(min, max, _) => {
                let n = rest
                    .bytes()
                    .take(*max)
                    .take_while(u8::is_ascii_digit)
                    .count();
                (n >= *min).then(|| {
                    read.push(rest[..n].parse().unwrap_or(0));
                    n
                })
            }
        };
        let Some(used) = used else {
            return Err(format!(
                "parsing time {text:?} as {TIME_LAYOUT:?}: cannot parse {rest:?} as {name:?}"
            ));
        };
        rest = &rest[used..];
        // As Go: a number out of range fails at once, before the rest is read.
        if let Number(_, _, Some((what, largest))) = elem
            && read.last().is_some_and(|n| n > largest)
        {
            return Err(out_of_range(what));
        }
    }
    if !rest.is_empty() {
        return Err(format!("parsing time {text:?}: extra text: {rest:?}"));
    }
    // The date as a whole is checked last, as Go does.
    // Every element read, so six numbers: month, day, hour, minute, second, year.
    let [month, day, hour, minute, second, year] = read[..] else {
        return Err(format!("parsing time {text:?} as {TIME_LAYOUT:?}"));
    };
    let month = time::Month::try_from(month as u8).map_err(|_| out_of_range("month"))?;
    let date = time::Date::from_calendar_date(year as i32, month, day as u8)
        .map_err(|_| out_of_range("day"))?;
    let at = time::Time::from_hms(hour as u8, minute as u8, second as u8)
        .map_err(|_| out_of_range("hour"))?;
    Ok(time::PrimitiveDateTime::new(date, at).assume_utc())
}

/// Runs `generate_cert ARGS`.
pub fn run(args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let p = parse_go("generate_cert", table(), args).map_err(|text| Exit::new(2, text))?;
    call.flags = p.flags.keys().map(|k| format!("-{k}")).collect();
    let value = |n: &str| p.value(table(), n);
    let mode = value("mode");
    let has_signer = !value("signer-cert").is_empty() || !value("signer-priv").is_empty();
    match mode.as_str() {
        "self-signed" | "citadel" if has_signer => {
            return Err(fatal(&format!(
                "--mode={mode} is incompatible with --signer-cert or --signer-priv."
            )));
        }
        "signer" if value("signer-cert").is_empty() || value("signer-priv").is_empty() => {
            return Err(fatal(
                "Need --signer-cert and --signer-priv for --mode=signer.",
            ));
        }
        "self-signed" | "signer" => {}
        "citadel" => {
            return Err(fatal(
                "Command failed error: the generate_cert double does not read istio-ca-secret (mode citadel)",
            ));
        }
        other => return Err(fatal(&format!("Unsupported mode {other}"))),
    }
    let ttl = parse_duration(&value("duration")).ok_or_else(|| {
        Exit::new(
            2,
            format!(
                "invalid value \"{}\" for flag -duration: parse error",
                value("duration")
            ),
        )
    })?;
    let mut params = CertificateParams::default();
    // The subject is the organization only, as util.GenCertTemplate makes it.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, value("organization"));
    let not_before = not_before(&value("start-date")).map_err(|e| {
        fatal(&format!(
            // The tool ends this with a newline, which Go's log does not double.
            "Failed to parse the '-start-from' option as a time (error: {e})"
        ))
    })?;
    params.not_before = not_before;
    params.not_after = not_before + ttl;
    for host in value("host")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        let san =
            if let Ok(ip) = host.parse::<IpAddr>() {
                SanType::IpAddress(ip)
            } else if host.contains("://") {
                SanType::URI(host.try_into().map_err(|_| {
                    fatal(&format!("Failed to generate certificate: bad URI {host}"))
                })?)
            } else {
                SanType::DnsName(host.try_into().map_err(|_| {
                    fatal(&format!("Failed to generate certificate: bad host {host}"))
                })?)
            };
        params.subject_alt_names.push(san);
    }
    if value("ca") == "true" {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
    } else {
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
    }
    if value("client") == "true" {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    if value("server") == "true" {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    let key =
        KeyPair::generate().map_err(|e| fatal(&format!("Failed to generate certificate: {e}")))?;
    let cert = if mode == "signer" {
        let read = |flag: &str| {
            let path = env.resolve(&value(flag));
            std::fs::read_to_string(&path).map_err(|e| {
                fatal(&format!(
                    "Failed to load signer key cert from file: open {}: {e}",
                    value(flag)
                ))
            })
        };
        let signer_cert = read("signer-cert")?;
        let signer_key = KeyPair::from_pem(&read("signer-priv")?)
            .map_err(|e| fatal(&format!("Failed to load signer key cert from file: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(&signer_cert, signer_key)
            .map_err(|e| fatal(&format!("Failed to load signer key cert from file: {e}")))?;
        params.signed_by(&key, &issuer)
    } else {
        params.self_signed(&key)
    }
    .map_err(|e| fatal(&format!("Failed to generate certificate: {e}\n")))?;
    let out_cert = value("out-cert");
    let out_priv = value("out-priv");
    write_file(&env.resolve(&out_cert), &cert.pem(), 0o644)
        .map_err(|e| fatal(&format!("Could not write output certificate: {e}.")))?;
    write_file(&env.resolve(&out_priv), &key.serialize_pem(), 0o600)
        .map_err(|e| fatal(&format!("Could not write output private key: {e}.")))?;
    call.effect(format!(
        "wrote certificate {out_cert} and key {out_priv} ({mode})"
    ));
    let _ = writeln!(
        io.out,
        "Certificate and private files successfully saved in {out_cert} and {out_priv}"
    );
    Ok(())
}

fn write_file(path: &std::path::Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::not_before;
    use crate::testing::{env_in, run_captured};

    #[test]
    fn start_dates_are_read_as_go_reads_the_tools_layout() {
        let at = |t: &str| not_before(t).map(|d| d.to_string());
        assert_eq!(
            at("Jan 2 15:04:05 2006").unwrap(),
            "2006-01-02 15:04:05.0 +00:00:00"
        );
        assert_eq!(
            at("dec 31 0:00:00 2030").unwrap(),
            "2030-12-31 0:00:00.0 +00:00:00"
        );
        assert_eq!(
            at("2020-01-01").unwrap_err(),
            "parsing time \"2020-01-01\" as \"Jan 2 15:04:05 2006\": cannot parse \"2020-01-01\" as \"Jan\""
        );
        assert_eq!(
            at("Jan 2 15:4:05 2006").unwrap_err(),
            "parsing time \"Jan 2 15:4:05 2006\" as \"Jan 2 15:04:05 2006\": cannot parse \"4:05 2006\" as \"04\""
        );
        assert_eq!(
            at("Jan 2  15:04:05 2006").unwrap_err(),
            "parsing time \"Jan 2  15:04:05 2006\" as \"Jan 2 15:04:05 2006\": cannot parse \" 15:04:05 2006\" as \"15\""
        );
        assert_eq!(
            at("Jan 2 24:00:00 2006x").unwrap_err(),
            "parsing time \"Jan 2 24:00:00 2006x\": hour out of range"
        );
        assert_eq!(
            at("Jan 2 15:04:05 2006 x").unwrap_err(),
            "parsing time \"Jan 2 15:04:05 2006 x\": extra text: \" x\""
        );
        assert_eq!(
            at("Feb 30 00:00:00 2021").unwrap_err(),
            "parsing time \"Feb 30 00:00:00 2021\": day out of range"
        );
        let now = time::OffsetDateTime::now_utc();
        assert!((not_before("").unwrap() - now).abs() < time::Duration::seconds(5));
    }

    #[test]
    fn signs_a_workload_certificate_with_the_given_ca() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let (code, _, err) = run_captured(
            "generate_cert",
            &[
                "-mode",
                "self-signed",
                "-ca",
                "-organization",
                "Root CA",
                "-host",
                "root.example",
                "-out-cert",
                "ca-cert.pem",
                "-out-priv",
                "ca-key.pem",
            ],
            &env,
            "",
        );
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = run_captured(
            "generate_cert",
            &[
                "-client",
                "-host",
                "spiffe://cluster.local/ns/default/sa/default",
                "--out-priv",
                "key.pem",
                "--out-cert",
                "cert-chain.pem",
                "--mode",
                "signer",
                "--signer-cert",
                "ca-cert.pem",
                "--signer-priv",
                "ca-key.pem",
            ],
            &env,
            "",
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            "Certificate and private files successfully saved in cert-chain.pem and key.pem\n"
        );
        let pem = std::fs::read_to_string(dir.path().join("cert-chain.pem")).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The chain verifies with the real openssl, when there is one.
        if let Ok(o) = std::process::Command::new("openssl")
            .args(["verify", "-CAfile", "ca-cert.pem", "cert-chain.pem"])
            .current_dir(dir.path())
            .output()
        {
            assert!(
                o.status.success(),
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }

    #[test]
    fn the_certificate_starts_at_the_start_date() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let args = |date: &'static str| {
            [
                "-mode",
                "self-signed",
                "-host",
                "a.example",
                "-start-date",
                date,
                "-duration",
                "24h",
                "-out-cert",
                "cert.pem",
                "-out-priv",
                "key.pem",
            ]
        };
        let (code, _, err) = run_captured("generate_cert", &args("Jan 1 00:00:00 2040"), &env, "");
        assert_eq!(code, 0, "{err}");
        let dates = std::process::Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-startdate",
                "-enddate",
                "-in",
                "cert.pem",
            ])
            .current_dir(dir.path())
            .output()
            .expect("openssl is installed");
        assert_eq!(
            String::from_utf8_lossy(&dates.stdout),
            "notBefore=Jan  1 00:00:00 2040 GMT\nnotAfter=Jan  2 00:00:00 2040 GMT\n"
        );
        let (code, _, err) = run_captured("generate_cert", &args("2040-01-01"), &env, "");
        assert_eq!(code, 1);
        assert!(
            err.ends_with(
                " Failed to parse the '-start-from' option as a time (error: parsing time \"2040-01-01\" as \"Jan 2 15:04:05 2006\": cannot parse \"2040-01-01\" as \"Jan\")\n"
            ),
            "{err}"
        );
    }

    #[test]
    fn refuses_root_cert_as_go_flag_does() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let (code, _, err) = run_captured(
            "generate_cert",
            &["-client", "--root-cert", "r.pem"],
            &env,
            "",
        );
        assert_eq!(code, 2);
        assert!(
            err.starts_with(
                "flag provided but not defined: -root-cert\nUsage of generate_cert:\n  -ca\n"
            ),
            "{err}"
        );
        assert!(err.contains("  -duration duration\n    \tDuration that certificate is valid for. (default 8760h0m0s)\n"), "{err}");
        let (code, _, err) = run_captured("generate_cert", &["-mode", "signer"], &env, "");
        assert_eq!(code, 1);
        assert!(
            err.ends_with(" Need --signer-cert and --signer-priv for --mode=signer.\n"),
            "{err}"
        );
    }
}
