//! The `asmcli` double (Anthos Service Mesh's installer, a bash script): `create-mesh` and
//! `install`, with the script's own option handling and messages.
//!
//! Option tables from GoogleCloudPlatform/anthos-service-mesh-packages, `asmcli/`:
//! `asmcli.sh` (main: subcommands), `lib/parse.sh` (parse_args: install's options; unknown
//! ones get `fatal_with_usage "Unknown option ${1}"`), `commands/create-mesh.sh`
//! (create-mesh_parse_args: FLEET_ID first, then options, kubeconfig files and
//! PROJECT/LOCATION/CLUSTER triples), `commands/help.sh` (usage_short, unknown subcommands),
//! `lib/util.sh` (`fatal` and `fatal_with_usage` print `asmcli: [ERROR]: …` on stderr, exit 2).
//!
//! `create-mesh` installs a remote secret for every ordered pair of the given clusters, as
//! `install_one_remote_secret` does (`istioctl x create-remote-secret … | kubectl apply`).
//! `install` installs the in-cluster control plane at the ASM revision with the istioctl
//! double's renderer. What needs Google Cloud (the fleet project check, fleet registration,
//! GKE credentials for PROJECT/LOCATION/CLUSTER arguments) is reported, not simulated.

use crate::istioctl::{self, RemoteSecret, operator};
use crate::{Call, Env, Exit, Io, Outcome, kube};

const DEFAULT_VERSION: &str = "1.13.4-asm.4";
const NAME: &str = "asmcli";

fn version_message(version: &str) -> String {
    format!("{version}+config1")
}

fn usage_short(version: &str) -> String {
    format!(
        "{NAME} {}
usage: {NAME} [SUBCOMMAND] [OPTION]...

Set up, validate, and install ASM in a Google Cloud environment.
Use -h|--help with -v|--verbose to show detailed descriptions.

SUBCOMMANDS:
  install
  validate
  print-config
  create-mesh
  build-offline-package

OPTIONS:
  -l|--cluster_location  <LOCATION>
  -n|--cluster_name      <NAME>
  -p|--project_id        <ID>
  --kc|--kubeconfig      <KUBECONFIG_FILE>
  --ctx|--context        <CONTEXT>
  --fleet_id             <FLEET ID>
  --network_id           <NETWORK ID>
  -c|--ca                <CA>

  -o|--option            <FILE NAME>
  -s|--service_account   <ACCOUNT>
  -k|--key_file          <FILE PATH>
  -D|--output_dir        <DIR PATH>
  --co|--custom_overlay  <FILE NAME>

  --ca_cert              <FILE PATH>
  --ca_key               <FILE PATH>
  --root_cert            <FILE PATH>
  --cert_chain           <FILE PATH>
  -r|--revision_name     <REVISION NAME>
  --platform             <PLATFORM>

FLAGS:
  -e|--enable_all
     --enable_cluster_roles
     --enable_cluster_labels
     --enable_gcp_apis
     --enable_gcp_iam_roles
     --enable_gcp_components
     --enable_registration
     --enable_namespace_creation
     --managed
     --print_config
     --disable_canonical_service
  -v|--verbose
     --dry_run
     --only_validate
     --only_enable
  -h|--help
  --version
",
        version_message(version)
    )
}

fn info(io: &mut Io<'_>, text: &str) {
    let _ = writeln!(io.err, "{NAME}: {text}");
}

fn fatal(text: &str) -> Exit {
    Exit::new(2, format!("{NAME}: [ERROR]: {text}"))
}

fn fatal_with_usage(version: &str, text: &str) -> Exit {
    Exit::new(
        2,
        format!("{NAME}: [ERROR]: {text}\n{}", usage_short(version)),
    )
}

/// `parse_args`' options that take a value (both spellings).
const VALUE_OPTIONS: [&[&str]; 22] = [
    &["-l", "--cluster_location", "--cluster-location"],
    &["-n", "--cluster_name", "--cluster-name"],
    &["--kc", "--kubeconfig"],
    &["--ctx", "--context"],
    &["-p", "--project_id", "--project-id"],
    &["-m", "--mode"],
    &["--fleet_id", "--fleet-id"],
    &["--network_id", "--network-id"],
    &["-c", "--ca"],
    &["--ca_name", "--ca-name"],
    &["-o", "--option"],
    &["--co", "--custom_overlay", "--custom-overlay"],
    &["-s", "--service_account", "--service-account"],
    &["-k", "--key_file", "--key-file"],
    &["-D", "--output_dir", "--output-dir"],
    &["--ca_cert", "--ca-cert"],
    &["--ca_key", "--ca-key"],
    &["--root_cert", "--root-cert"],
    &["--cert_chain", "--cert-chain"],
    &["-r", "--revision_name", "--revision-name"],
    &["--platform"],
    &["--channel"],
];

/// `parse_args`' options without a value.
const FLAG_OPTIONS: [&[&str]; 17] = [
    &["-e", "--enable_all", "--enable-all"],
    &["--enable_cluster_roles", "--enable-cluster-roles"],
    &["--enable_cluster_labels", "--enable-cluster-labels"],
    &["--enable_gcp_apis", "--enable-gcp-apis"],
    &["--enable_gcp_iam_roles", "--enable-gcp-iam-roles"],
    &["--enable_gcp_components", "--enable-gcp-components"],
    &["--enable_registration", "--enable-registration"],
    &["--enable_namespace_creation", "--enable-namespace-creation"],
    &["--managed"],
    &["--disable_canonical_service", "--disable-canonical-service"],
    &["--print_config", "--print-config"],
    &["--dry_run", "--dry-run"],
    &["--only_validate", "--only-validate"],
    &["--only_enable", "--only-enable"],
    &["-v", "--verbose"],
    &["-h", "--help"],
    &["--version"],
];

/// Options as `parse_args` reads them: (canonical name, value).
fn parse_options(version: &str, args: &[String]) -> Result<Vec<(&'static str, String)>, Exit> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_lowercase();
        if let Some(names) = VALUE_OPTIONS.iter().find(|n| n.contains(&a.as_str())) {
            let value = args
                .get(i + 1)
                .filter(|v| !v.is_empty() && !v.starts_with('-'));
            let Some(value) = value else {
                return Err(fatal(&format!("Option {} requires an argument.", args[i])));
            };
            out.push((names[names.len() - 1], value.clone()));
            i += 2;
        } else if let Some(names) = FLAG_OPTIONS.iter().find(|n| n.contains(&a.as_str())) {
            out.push((names[names.len() - 1], "1".into()));
            i += 1;
        } else {
            return Err(fatal_with_usage(
                version,
                &format!("Unknown option {}", args[i]),
            ));
        }
    }
    Ok(out)
}

/// Runs `asmcli ARGS`.
pub fn run(args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let version = env
        .config
        .versions
        .get(NAME)
        .cloned()
        .unwrap_or_else(|| DEFAULT_VERSION.into());
    call.version = Some(version.clone());
    let Some(sub) = args.first() else {
        return Err(Exit::new(2, usage_short(&version)));
    };
    call.command = sub.to_lowercase();
    match sub.to_lowercase().as_str() {
        "create-mesh" => create_mesh(&args[1..], env, io, call),
        "install" | "apply" => install(&version, &args[1..], env, io, call),
        "validate" | "print-config" | "experimental" | "x" | "build-offline-package" => {
            parse_options(&version, &args[1..])?;
            Err(fatal(&format!(
                "the asmcli double does not perform `{sub}`"
            )))
        }
        _ => {
            for a in args {
                match a.as_str() {
                    "-v" | "--verbose" | "-h" | "--help" => {}
                    "--version" => {
                        let _ = writeln!(io.out, "{}", version_message(&version));
                        return Ok(());
                    }
                    other => {
                        return Err(fatal_with_usage(
                            &version,
                            &format!("Unknown subcommand {other}"),
                        ));
                    }
                }
            }
            let _ = write!(io.out, "{}", usage_short(&version));
            Ok(())
        }
    }
}

/// A secret name from a context name, as `generate_secret_name` makes it a DNS name.
fn secret_name(context: &str) -> String {
    let mut out: String = context
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(63);
    out.trim_matches('-').to_string()
}

fn create_mesh(args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    if args.len() < 2 {
        return Err(Exit::new(
            2,
            format!(
                "usage: {NAME} create-mesh FLEET_ID (PROJECT_ID/CLUSTER_LOCATION/CLUSTER_NAME | KUBECONFIG_PATH) ..."
            ),
        ));
    }
    let fleet = &args[0];
    if fleet.starts_with('-') {
        return Err(fatal("First argument must be the fleet ID."));
    }
    let mut files = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-D" | "--output_dir" | "--output-dir" | "--working_dir" | "--working-dir" => {
                if args.get(i + 1).is_none_or(|v| v.starts_with('-')) {
                    return Err(fatal(&format!("Option {a} requires an argument.")));
                }
                i += 2;
                continue;
            }
            "-v"
            | "--verbose"
            | "-h"
            | "--help"
            | "--version"
            | "--offline"
            | "--ignore_workload_identity_mismatch"
            | "--ignore-workload-identity-mismatch" => {}
            _ if env.resolve(a).is_file() => files.push(a.to_string()),
            _ => {
                // A PROJECT/LOCATION/CLUSTER triple: the script fetches its credentials with
                // gcloud, which the double cannot stand in for.
                info(io, &format!("Fetching/writing GCP credentials for {a}..."));
                return Err(fatal(&format!(
                    "cannot fetch GKE credentials for {a}: the asmcli double takes kubeconfig files (no network in a rehearsal)"
                )));
            }
        }
        i += 1;
    }
    call.flags = args[1..]
        .iter()
        .filter(|a| a.starts_with('-'))
        .cloned()
        .collect();
    info(
        io,
        &format!(
            "[WARNING]: fleet {fleet}: the project and the clusters' fleet registration are not checked in a rehearsal"
        ),
    );
    call.effect(format!(
        "fleet {fleet} not checked, clusters not registered (no simulated fleet)"
    ));
    crate::block_on(async {
        for kcf1 in &files {
            for kcf2 in &files {
                if kcf1 == kcf2 {
                    continue;
                }
                let config1 = kube::kubeconfig(env, Some(kcf1)).map_err(|e| fatal(&e))?;
                let ctx1 = kube::context_name(&config1, None).map_err(|e| fatal(&e))?;
                let config2 = kube::kubeconfig(env, Some(kcf2)).map_err(|e| fatal(&e))?;
                let ctx2 = kube::context_name(&config2, None).map_err(|e| fatal(&e))?;
                let name = secret_name(&ctx1);
                info(io, &format!("Installing remote secret {name} on {kcf2}..."));
                let opt = RemoteSecret {
                    name: Some(name),
                    ..RemoteSecret::default()
                };
                let yaml = istioctl::remote_secret(env, Some(kcf1), Some(&ctx1), &opt, call)
                    .await
                    .map_err(|e| fatal(&e))?;
                let objects = kube::documents(&yaml).map_err(|e| fatal(&e))?;
                let target = kube::connect(env, Some(kcf2), Some(&ctx2))
                    .await
                    .map_err(|e| fatal(&e))?;
                kube::apply(&target, &objects, "kubectl-client-side-apply", call)
                    .await
                    .map_err(|e| fatal(&e))?;
                for o in &objects {
                    let _ = writeln!(
                        io.out,
                        "secret/{} configured",
                        o["metadata"]["name"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        Ok(())
    })?
}

/// The revision label `asmcli install` gives a version (`1.13.4-asm.4` → `asm-1134-4`).
fn revision_label(version: &str) -> String {
    let (semver, rev) = version.split_once("-asm.").unwrap_or((version, "0"));
    let digits: String = semver.split('.').collect();
    format!("asm-{digits}-{}", rev.split('+').next().unwrap_or(rev))
}

fn install(version: &str, args: &[String], env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let opts = parse_options(version, args)?;
    call.flags = opts.iter().map(|(n, _)| n.to_string()).collect();
    let get = |n: &str| {
        opts.iter()
            .rev()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
    };
    if get("--help").is_some() {
        let _ = write!(io.out, "{}", usage_short(version));
        return Ok(());
    }
    let kubeconfig = get("--kubeconfig");
    let gke = ["--project_id", "--cluster_location", "--cluster_name"]
        .iter()
        .any(|n| get(n).is_some());
    if gke && kubeconfig.is_some() {
        return Err(fatal_with_usage(
            version,
            "Incompatible arguments. Kubeconfig cannot be used in conjuntion with [--cluster_location|--cluster_name|--project_id].",
        ));
    }
    if kubeconfig.is_none() {
        if gke {
            return Err(fatal(
                "the asmcli double reaches clusters by --kubeconfig only (GKE credentials need gcloud: no network in a rehearsal)",
            ));
        }
        let _ = writeln!(
            io.err,
            "{NAME}: [WARNING]: At least one of the following is required: 1) --kubeconfig or 2) --cluster_location, --cluster_name, --project_id"
        );
        return Err(fatal_with_usage(
            version,
            "Missing one or more required options.",
        ));
    }
    if let Some(ca) = get("--ca")
        && !matches!(
            ca.to_lowercase().as_str(),
            "citadel" | "mesh_ca" | "gcp_cas"
        )
    {
        return Err(fatal("CA must be one of 'citadel', 'mesh_ca', 'gcp_cas'"));
    }
    let revision = get("--revision_name")
        .map(str::to_string)
        .unwrap_or_else(|| revision_label(version));
    let istio_version = version.split("-asm").next().unwrap_or(version).to_string();
    let minor = istio_version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(13);
    let spec = operator::merge(
        &[],
        &["profile=default".into(), format!("revision={revision}")],
    )
    .map_err(|e| fatal(&e))?;
    let objects = operator::render(
        &spec,
        &operator::Release {
            version: &istio_version,
            minor,
            root_cert: "",
        },
    );
    crate::block_on(async {
        let cluster = kube::connect(env, kubeconfig, get("--context"))
            .await
            .map_err(|e| fatal(&e))?;
        info(
            io,
            &format!(
                "Installing ASM control plane (revision {revision}) on {}...",
                cluster.context
            ),
        );
        kube::apply(&cluster, &objects, "asmcli", call)
            .await
            .map_err(|e| fatal(&e))
    })??;
    info(io, "Successfully installed ASM.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{env_in, run_captured};

    #[test]
    fn refuses_unknown_options_and_subcommands_as_the_script_does() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let (code, _, err) = run_captured(
            "asmcli",
            &["install", "--kubeconfig", "k", "--bogus"],
            &env,
            "",
        );
        assert_eq!(code, 2);
        assert!(err.starts_with("asmcli: [ERROR]: Unknown option --bogus\nasmcli 1.13.4-asm.4+config1\nusage: asmcli [SUBCOMMAND] [OPTION]...\n"), "{err}");
        let (code, _, err) = run_captured("asmcli", &["create-mesh", "--fleet", "k"], &env, "");
        assert_eq!(
            (code, err.as_str()),
            (2, "asmcli: [ERROR]: First argument must be the fleet ID.\n")
        );
        let (code, _, err) = run_captured("asmcli", &["install", "--kubeconfig"], &env, "");
        assert_eq!(
            (code, err.as_str()),
            (
                2,
                "asmcli: [ERROR]: Option --kubeconfig requires an argument.\n"
            )
        );
        let (code, _, err) = run_captured("asmcli", &["instal"], &env, "");
        assert_eq!(code, 2);
        assert!(
            err.starts_with("asmcli: [ERROR]: Unknown subcommand instal\n"),
            "{err}"
        );
    }

    #[test]
    fn names_follow_the_script() {
        assert_eq!(revision_label("1.13.4-asm.4"), "asm-1134-4");
        assert_eq!(secret_name("gke_proj_us-east1_c1"), "gke-proj-us-east1-c1");
        assert_eq!(secret_name("onprem-cluster"), "onprem-cluster");
    }
}
