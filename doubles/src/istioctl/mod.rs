//! The `istioctl` double, for Istio 1.6 (vm-expansion) and 1.13 (ASM 1.13, asm-east-west):
//! `install` (and 1.6's `manifest apply`), `manifest generate`, `version`,
//! `x add-to-mesh external-service` (1.6) and `x create-remote-secret`.
//!
//! Flag tables, at the release tags 1.6.5 and 1.13.4:
//! - root: `istioctl/cmd/root.go` (`-c/--kubeconfig`, `--context`, `-i/--istioNamespace`,
//!   `-n/--namespace`, and the `--log_*` options of `pkg/log`);
//! - `install`/`manifest apply`/`manifest generate`: `operator/cmd/mesh/install.go`,
//!   `manifest-apply.go`, `manifest-generate.go`, `shared.go` and `root.go` (`--dry-run`,
//!   `--verbose`);
//! - `x add-to-mesh`: `istioctl/cmd/add-to-mesh.go` (1.6; removed later);
//! - `x create-remote-secret`: `istioctl/pkg/multicluster/remote_secret.go`;
//! - `version`: `pkg/version/cobra.go`.
//!
//! Errors are cobra's words; the exit status is `os.Exit(-1)` (255) in 1.6
//! (`istioctl/cmd/istioctl/main.go`) and, from 1.7 on, `GetExitCode`: 64 for command-line
//! errors (the root sets a flag error function returning `CommandParseError`), 1 otherwise.

pub mod operator;

use std::io::{BufRead, BufReader};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::cli::{Cmd, Flag, Parsed, b, parse_cobra, v};
use crate::kube::{self, Cluster};
use crate::{Call, Env, Exit, Io, Outcome};

const DEFAULT_VERSION: &str = "1.13.4";

/// The Istio release a double plays.
#[derive(Debug, Clone)]
pub struct Version {
    /// As given (`1.13.4-asm.4`).
    pub full: String,
    /// The minor (13).
    pub minor: u32,
}

impl Version {
    fn parse(text: &str) -> Version {
        let t = text.trim_start_matches('v');
        let minor = t
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(13);
        Version {
            full: t.to_string(),
            minor,
        }
    }

    /// The status of a failed command: parse errors are 64 from 1.7 on.
    fn exit(&self, parse_error: bool) -> i32 {
        match (self.minor <= 6, parse_error) {
            (true, _) => 255,
            (false, true) => 64,
            (false, false) => 1,
        }
    }

    fn fail(&self, text: impl Into<String>) -> Exit {
        Exit::new(self.exit(false), format!("Error: {}", text.into()))
    }
}

fn root_flags() -> Vec<Flag> {
    vec![
        v("kubeconfig").s('c'),
        v("context"),
        v("istioNamespace").s('i'),
        v("namespace").s('n'),
        v("log_output_level"),
        b("log_as_json"),
        v("log_caller"),
        v("log_stacktrace_level"),
        v("log_target"),
        v("log_rotate"),
        v("log_rotate_max_age"),
        v("log_rotate_max_backups"),
        v("log_rotate_max_size"),
    ]
}

fn install_flags(minor: u32) -> Vec<Flag> {
    let mut f = vec![
        v("filename").s('f'),
        b("skip-confirmation").s('y'),
        b("force"),
        v("readiness-timeout"),
        v("set").s('s'),
        v("manifests").s('d'),
        v("revision").s('r'),
        b("dry-run"),
        b("verbose"),
    ];
    if minor <= 6 {
        f.extend([v("charts"), b("wait").s('w')]);
    } else {
        f.extend([b("verify")]);
    }
    f
}

fn tree(ver: &Version) -> Cmd {
    let generate = Cmd::run(
        "generate",
        vec![
            v("filename").s('f'),
            v("set").s('s'),
            b("force"),
            v("manifests").s('d'),
            v("revision").s('r'),
            v("output").s('o'),
            b("dry-run"),
            b("verbose"),
        ],
    );
    let mut manifest = vec![generate];
    if ver.minor <= 6 {
        manifest.push(Cmd::run("apply", install_flags(ver.minor)));
    }
    let mut experimental = vec![Cmd::run(
        "create-remote-secret",
        vec![
            v("name"),
            v("service-account"),
            v("auth-type"),
            v("auth-plugin-name"),
            v("auth-plugin-config"),
            b("create-service-account"),
            v("server"),
            v("secret-name"),
            v("type"),
            v("manifests").s('d'),
        ],
    )];
    if ver.minor <= 6 {
        experimental.push(
            Cmd::group(
                "add-to-mesh",
                vec![
                    Cmd::run(
                        "external-service",
                        vec![
                            v("labels").s('l'),
                            v("annotations").s('a'),
                            v("serviceaccount").s('s'),
                        ],
                    ),
                    Cmd::run("service", vec![v("revision").s('r')]),
                    Cmd::run("deployment", vec![v("revision").s('r')]),
                ],
            )
            .aliases(&["add"]),
        );
    }
    Cmd::group(
        "istioctl",
        vec![
            Cmd::run("install", install_flags(ver.minor)).aliases(&["apply"]),
            Cmd::group("manifest", manifest),
            Cmd::group("experimental", experimental).aliases(&["x", "exp"]),
            Cmd::run(
                "version",
                vec![b("remote"), b("short").s('s'), v("output").s('o')],
            ),
        ],
    )
    .persistent(root_flags())
}

/// Runs `istioctl ARGS` as the given version (default 1.13.4).
pub fn run(
    version: Option<&str>,
    args: &[String],
    env: &Env,
    io: &mut Io<'_>,
    call: &mut Call,
) -> Outcome {
    let ver = Version::parse(version.unwrap_or(DEFAULT_VERSION));
    call.version = Some(ver.full.clone());
    let parsed =
        parse_cobra(&tree(&ver), args).map_err(|e| Exit::new(ver.exit(true), e.render()))?;
    call.command = parsed.path.join(" ");
    call.flags = parsed.flag_names();
    if parsed.help {
        let _ = writeln!(
            io.out,
            "Istio configuration command line utility (rehearsal double of istioctl {})",
            ver.full
        );
        return Ok(());
    }
    match parsed.path.as_slice() {
        ["install"] | ["manifest", "apply"] => install(&ver, &parsed, env, io, call),
        ["manifest", "generate"] => generate(&ver, &parsed, env, io),
        ["version"] => {
            let _ = writeln!(io.out, "{}", ver.full);
            if parsed.get("remote") != Some("false") {
                let _ = writeln!(io.out, "no running Istio pods in \"istio-system\"");
            }
            Ok(())
        }
        ["experimental", "add-to-mesh", "external-service"] => {
            add_external_service(&ver, &parsed, env, io, call)
        }
        ["experimental", "create-remote-secret"] => {
            let yaml = crate::block_on(remote_secret(
                env,
                parsed.get("kubeconfig"),
                parsed.get("context"),
                &RemoteSecret::from(&parsed),
                call,
            ))?
            .map_err(|e| ver.fail(e))?;
            let _ = io.out.write_all(yaml.as_bytes());
            Ok(())
        }
        other => Err(ver.fail(format!(
            "the istioctl double does not perform `istioctl {}`",
            other.join(" ")
        ))),
    }
}

/// Reads `-f` files (`-` is stdin) into IstioOperator objects.
fn read_overlays(
    ver: &Version,
    p: &Parsed,
    env: &Env,
    io: &mut Io<'_>,
) -> Result<Vec<Value>, Exit> {
    let mut out = Vec::new();
    for f in p.slice("filename") {
        let text = if f == "-" {
            let mut s = String::new();
            io.stdin
                .read_to_string(&mut s)
                .map_err(|e| ver.fail(e.to_string()))?;
            s
        } else {
            std::fs::read_to_string(env.resolve(&f))
                .map_err(|e| ver.fail(format!("open {f}: {e}")))?
        };
        for doc in
            kube::documents(&text).map_err(|e| ver.fail(format!("could not parse {f}: {e}")))?
        {
            out.push(doc);
        }
    }
    Ok(out)
}

fn spec_of(ver: &Version, p: &Parsed, env: &Env, io: &mut Io<'_>) -> Result<Value, Exit> {
    let files = read_overlays(ver, p, env, io)?;
    let mut sets: Vec<String> = p.all("set").iter().map(|s| s.to_string()).collect();
    if let Some(r) = p.get("revision") {
        sets.push(format!("revision={r}"));
    }
    operator::merge(&files, &sets).map_err(|e| ver.fail(e))
}

fn generate(ver: &Version, p: &Parsed, env: &Env, io: &mut Io<'_>) -> Outcome {
    let spec = spec_of(ver, p, env, io)?;
    let objects = operator::render(
        &spec,
        &operator::Release {
            version: &ver.full,
            minor: ver.minor,
            root_cert: "",
        },
    );
    for o in objects
        .iter()
        .filter(|o| o["kind"] != "ConfigMap" || o["metadata"]["name"] != "istio-ca-root-cert")
    {
        let _ = write!(
            io.out,
            "---\n{}",
            serde_yaml::to_string(o).unwrap_or_default()
        );
    }
    Ok(())
}

fn install(ver: &Version, p: &Parsed, env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let spec = spec_of(ver, p, env, io)?;
    let profile = spec["profile"].as_str().unwrap_or("default").to_string();
    let components = operator::enabled(&spec);
    // The confirmation as each release asks it (operator/cmd/mesh/install.go): 1.6 only asks when
    // neither -f nor --set is given; later releases always ask, naming the profile and components.
    let ask = !p.on("skip-confirmation") && !p.on("dry-run");
    let prompt = match ver.minor {
        0..=6 if p.all("filename").is_empty() && p.all("set").is_empty() => Some(
            "This will install the default Istio profile into the cluster. Proceed? (y/N)"
                .to_string(),
        ),
        0..=6 => None,
        _ => {
            let tag = if ver.minor >= 10 {
                format!("{} ", ver.full)
            } else {
                String::new()
            };
            let quoted: Vec<String> = components.iter().map(|c| format!("{c:?}")).collect();
            Some(if profile == "empty" {
                format!(
                    "This will install the Istio {tag}{profile} profile into the cluster. Proceed? (y/N)"
                )
            } else {
                format!(
                    "This will install the Istio {tag}{profile} profile with [{}] components into the cluster. Proceed? (y/N)",
                    quoted.join(" ")
                )
            })
        }
    };
    if let Some(prompt) = prompt.filter(|_| ask) {
        let _ = write!(io.out, "{prompt} ");
        let _ = io.out.flush();
        let mut answer = String::new();
        let _ = BufReader::new(&mut *io.stdin).read_line(&mut answer);
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            let _ = writeln!(io.out, "Cancelled.");
            return Err(Exit::new(1, ""));
        }
    }
    crate::block_on(async {
        let cluster = kube::connect(env, p.get("kubeconfig"), p.get("context"))
            .await
            .map_err(|e| ver.fail(e))?;
        let root_cert = mesh_root_cert(&cluster).await.map_err(|e| ver.fail(e))?;
        let objects = operator::render(
            &spec,
            &operator::Release {
                version: &ver.full,
                minor: ver.minor,
                root_cert: &root_cert,
            },
        );
        if p.on("dry-run") {
            return Ok(());
        }
        kube::apply(&cluster, &objects, "istio-operator", call)
            .await
            .map_err(|e| ver.fail(e))
    })??;
    for c in components {
        let _ = writeln!(io.out, "✔ {c} installed");
    }
    let _ = writeln!(io.out, "✔ Installation complete");
    if ver.minor >= 10 && spec["revision"].as_str().unwrap_or_default().is_empty() {
        let _ = writeln!(
            io.out,
            "Making this installation the default for injection and validation."
        );
    }
    Ok(())
}

/// The root certificate istiod would publish: `cacerts`' root-cert.pem when the cluster has
/// that Secret (a plugged-in CA), else a fresh self-signed root, as istiod makes one. A failed
/// lookup is an error, never a fresh root: that would publish a root the plugged-in CA does not
/// chain to.
async fn mesh_root_cert(cluster: &Cluster) -> Result<String, String> {
    let secret = kube::get(cluster, "v1", "Secret", Some("istio-system"), "cacerts")
        .await
        .map_err(|e| format!("cannot read istio-system/cacerts: {e}"))?;
    if let Some(secret) = secret
        && let Some(b64) = secret["data"]["root-cert.pem"].as_str()
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64)
    {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "cluster.local");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    Ok(rcgen::KeyPair::generate()
        .and_then(|k| params.self_signed(&k))
        .map(|c| c.pem())
        .unwrap_or_default())
}

/// `x add-to-mesh external-service NAME IP [PORTNAME:]PORT...`: a selector-less Service and a
/// ServiceEntry `mesh-expansion-NAME` resolving it to the IP.
fn add_external_service(
    ver: &Version,
    p: &Parsed,
    env: &Env,
    io: &mut Io<'_>,
    call: &mut Call,
) -> Outcome {
    if p.args.len() < 3 {
        return Err(Exit::new(
            ver.exit(true),
            "Error: provide service name, IP and Port List",
        ));
    }
    let (name, ip) = (&p.args[0], &p.args[1]);
    let ns = p.get("namespace").unwrap_or("default").to_string();
    let mut svc_ports = Vec::new();
    let mut se_ports = Vec::new();
    for spec in &p.args[2..] {
        let (pname, port) = match spec.split_once(':') {
            Some((n, port)) => (n.to_string(), port),
            None => ("http".to_string(), spec.as_str()),
        };
        let port: u16 = port
            .parse()
            .map_err(|_| ver.fail(format!("invalid port format {spec}")))?;
        svc_ports.push(json!({"name": pname, "port": port, "protocol": "TCP"}));
        se_ports.push(json!({"name": pname, "number": port, "protocol": pname.to_uppercase()}));
    }
    let labels: serde_json::Map<String, Value> = p
        .slice("labels")
        .iter()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), json!(v))))
        .collect();
    let mut annotations: serde_json::Map<String, Value> = p
        .slice("annotations")
        .iter()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), json!(v))))
        .collect();
    annotations.insert(
        "alpha.istio.io/kubernetes-serviceaccounts".into(),
        json!(p.get("serviceaccount").unwrap_or("default")),
    );
    let mut svc_labels = labels.clone();
    svc_labels.insert("app".into(), json!(name));
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": svc_labels, "annotations": annotations},
            "spec": {"ports": svc_ports}}),
        json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "ServiceEntry",
            "metadata": {"name": format!("mesh-expansion-{name}"), "namespace": ns},
            "spec": {"hosts": [format!("{name}.{ns}.svc.cluster.local")], "location": "MESH_INTERNAL", "resolution": "STATIC",
                "ports": se_ports, "endpoints": [{"address": ip, "labels": labels}]}}),
    ];
    crate::block_on(async {
        let cluster = kube::connect(env, p.get("kubeconfig"), p.get("context"))
            .await
            .map_err(|e| ver.fail(e))?;
        if kube::get(&cluster, "v1", "Service", Some(&ns), name)
            .await
            .map_err(|e| ver.fail(e))?
            .is_some()
        {
            return Err(ver.fail(format!("service \"{name}\" already exists, skip")));
        }
        kube::apply(&cluster, &objects, "istioctl", call)
            .await
            .map_err(|e| ver.fail(e))
    })??;
    let _ = writeln!(
        io.out,
        "ServiceEntry \"mesh-expansion-{name}.{ns}\" has been created in the Istio service mesh for the external service \"{name}\""
    );
    let _ = writeln!(
        io.out,
        "Kubernetes Service \"{name}.{ns}\" has been created in the Istio service mesh for the external service \"{name}\""
    );
    Ok(())
}

/// The options of `create-remote-secret` the double honours.
#[derive(Debug, Clone, Default)]
pub struct RemoteSecret {
    /// `--name`: the cluster's name in the mesh (default: the context's cluster).
    pub name: Option<String>,
    /// `--service-account` (default `istio-reader-service-account`).
    pub service_account: Option<String>,
    /// `--server`: the API server address written into the secret.
    pub server: Option<String>,
    /// `--secret-name`.
    pub secret_name: Option<String>,
    /// `-i/--istioNamespace`.
    pub namespace: Option<String>,
}

impl From<&Parsed> for RemoteSecret {
    fn from(p: &Parsed) -> Self {
        let get = |n: &str| p.get(n).map(str::to_string);
        RemoteSecret {
            name: get("name"),
            service_account: get("service-account"),
            server: get("server"),
            secret_name: get("secret-name"),
            namespace: get("istioNamespace"),
        }
    }
}

/// `create-remote-secret` against a kubeconfig and context: makes sure the reader service
/// account exists in that cluster, gets it a token (TokenRequest), and returns the Secret
/// manifest another cluster's istiod reads that cluster through.
pub async fn remote_secret(
    env: &Env,
    kubeconfig: Option<&str>,
    context: Option<&str>,
    opt: &RemoteSecret,
    call: &mut Call,
) -> Result<String, String> {
    let config = kube::kubeconfig(env, kubeconfig)?;
    let ctx = kube::context_name(&config, context)?;
    let cluster = kube::connect(env, kubeconfig, Some(&ctx)).await?;
    let (server, ca) =
        kube::server_of(&config, &ctx).ok_or_else(|| format!("context {ctx} has no cluster"))?;
    let server = opt.server.clone().unwrap_or(server);
    let ns = opt
        .namespace
        .clone()
        .unwrap_or_else(|| "istio-system".into());
    let sa = opt
        .service_account
        .clone()
        .unwrap_or_else(|| "istio-reader-service-account".into());
    let name = match &opt.name {
        Some(n) => n.clone(),
        None => config
            .contexts
            .iter()
            .find(|c| c.name == ctx)
            .and_then(|c| c.context.as_ref().map(|c| c.cluster.clone()))
            .unwrap_or(ctx.clone()),
    };
    let reader = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": format!("istio-reader-clusterrole-{ns}")},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": format!("istio-reader-clusterrole-{ns}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("istio-reader-clusterrole-{ns}")},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}),
    ];
    kube::apply(&cluster, &reader, "istioctl", call).await?;
    let api: ::kube::api::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        ::kube::api::Api::namespaced(cluster.client.clone(), &ns);
    let request = k8s_openapi::api::authentication::v1::TokenRequest::default();
    let token = api
        .create_token_request(&sa, &Default::default(), &request)
        .await
        .map_err(|e| format!("could not get a token for {ns}/{sa}: {e}"))?
        .status
        .map(|s| s.token)
        .unwrap_or_default();
    let inner = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca.unwrap_or_default()}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
        "users": [{"name": name, "user": {"token": token}}],
    });
    let secret_name = opt
        .secret_name
        .clone()
        .unwrap_or_else(|| format!("istio-remote-secret-{name}"));
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name,
            "namespace": ns,
            "annotations": {"networking.istio.io/cluster": name},
            "labels": {"istio/multiCluster": "true"},
        },
        "stringData": {name.clone(): serde_yaml::to_string(&inner).map_err(|e| e.to_string())?},
    });
    call.effect(format!(
        "made remote secret {secret_name} for cluster {ctx} (printed, not applied)"
    ));
    Ok(format!(
        "# This file is autogenerated, do not edit.\n{}---\n",
        serde_yaml::to_string(&secret).map_err(|e| e.to_string())?
    ))
}

#[cfg(test)]
mod tests {
    use crate::testing::{env_in, run_captured};

    #[test]
    fn each_istioctl_refuses_flags_it_does_not_have_with_its_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let (code, _, err) = run_captured("istioctl@1.6.5", &["install", "--bogus"], &env, "");
        assert_eq!(
            (code, err.as_str()),
            (255, "Error: unknown flag: --bogus\n")
        );
        let (code, _, err) =
            run_captured("istioctl@1.13.4", &["install", "--charts", "x"], &env, "");
        assert_eq!(
            (code, err.as_str()),
            (64, "Error: unknown flag: --charts\n")
        );
        // add-to-mesh is gone after 1.6.
        let (code, _, err) = run_captured(
            "istioctl@1.13.4",
            &[
                "x",
                "add-to-mesh",
                "external-service",
                "a",
                "1.2.3.4",
                "http:80",
            ],
            &env,
            "",
        );
        assert_eq!(code, 64, "{err}");
        assert!(
            err.starts_with("Error: unknown command \"add-to-mesh\" for \"istioctl experimental\""),
            "{err}"
        );
        let (code, out, _) =
            run_captured("istioctl@1.6.5", &["version", "--remote=false"], &env, "");
        assert_eq!((code, out.as_str()), (0, "1.6.5\n"));
    }

    #[test]
    fn manifest_generate_prints_the_profile_objects() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let (code, out, err) = run_captured(
            "istioctl@1.13.4",
            &["manifest", "generate", "-f", "-"],
            &env,
            "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  profile: minimal\n",
        );
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("name: istiod\n") && !out.contains("istio-ingressgateway"),
            "{out}"
        );
    }
}
