//! The environment that points the real gcloud (and gke-gcloud-auth-plugin) at the simulated
//! cloud, and the configuration folder gcloud keeps instead of `~/.config/gcloud`.

use std::path::Path;

use crate::state::{StateError, write_atomic};

/// The account the simulated cloud reports as logged in (`gcloud config get-value account`).
pub const ACCOUNT: &str = "meshbook@example.com";

/// APIs served, with the path prefix of each: gcloud sends `<origin><prefix><version>/...`.
pub const SERVED: &[(&str, &str)] = &[
    ("CONTAINER", "/container/"),
    ("COMPUTE", "/compute/v1/"),
    ("CLOUDRESOURCEMANAGER", "/resourcemanager/"),
    ("SERVICEUSAGE", "/serviceusage/"),
];

/// APIs not simulated but pointed at the simulated cloud anyway, so a command that reaches for
/// one gets a clear 404 from loopback instead of a request to Google.
pub const FENCED: &[&str] = &[
    "IAM",
    "IAMCREDENTIALS",
    "OSLOGIN",
    "LOGGING",
    "MONITORING",
    "STORAGE",
    "DNS",
    "GKEHUB",
    "CONNECTGATEWAY",
    "GKEONPREM",
    "CLOUDBILLING",
    "CLOUDBUILD",
    "SECRETMANAGER",
    "PUBSUB",
    "RUN",
    "SQL",
    "CLOUDKMS",
    "CLOUDASSET",
    "ORGPOLICY",
    "OSCONFIG",
    "PRIVATECA",
    "DISCOVERY",
];

/// The variables to give gcloud. `config_dir` becomes `CLOUDSDK_CONFIG`.
pub fn variables(origin: &str, token: &str, config_dir: &Path) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "CLOUDSDK_CONFIG".to_string(),
            config_dir.display().to_string(),
        ),
        ("CLOUDSDK_AUTH_ACCESS_TOKEN".to_string(), token.to_string()),
        ("CLOUDSDK_CORE_DISABLE_PROMPTS".to_string(), "1".to_string()),
        // gcloud would otherwise probe the GCE metadata server, report usage and look for
        // updates: traffic that must not leave the machine.
        (
            "CLOUDSDK_CORE_CHECK_GCE_METADATA".to_string(),
            "false".to_string(),
        ),
        (
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING".to_string(),
            "true".to_string(),
        ),
        (
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK".to_string(),
            "true".to_string(),
        ),
    ];
    for (api, prefix) in SERVED {
        out.push((
            format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}"),
            format!("{origin}{prefix}"),
        ));
    }
    for api in FENCED {
        out.push((
            format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}"),
            format!("{origin}/{}/", api.to_ascii_lowercase()),
        ));
    }
    // An override inherited from the caller's environment could point anywhere: fence it too.
    for (name, _) in std::env::vars() {
        if let Some(api) = name.strip_prefix("CLOUDSDK_API_ENDPOINT_OVERRIDES_")
            && !out.iter().any(|(k, _)| *k == name)
        {
            let fenced = format!("{origin}/{}/", api.to_ascii_lowercase());
            out.push((name, fenced));
        }
    }
    out
}

/// Writes gcloud's configuration folder: the default configuration with `project` and the
/// account, so `gcloud config set project` can still change the project as it would for real.
pub fn write_config(config_dir: &Path, project: &str) -> Result<(), StateError> {
    write_atomic(&config_dir.join("active_config"), b"default")?;
    let text = format!(
        "[core]\nproject = {project}\naccount = {ACCOUNT}\ndisable_usage_reporting = true\n\
         check_gce_metadata = false\n\n[component_manager]\ndisable_update_check = true\n"
    );
    let path = config_dir.join("configurations").join("config_default");
    if !path.exists() {
        write_atomic(&path, text.as_bytes())?;
    }
    Ok(())
}

/// A shell-quoted `export NAME=VALUE` line.
pub fn export_line(name: &str, value: &str) -> String {
    format!("export {name}='{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_and_fenced_api_points_at_loopback() {
        let vars = variables("http://127.0.0.1:1234", "tok", Path::new("/tmp/x"));
        let overrides: Vec<&(String, String)> = vars
            .iter()
            .filter(|(k, _)| k.starts_with("CLOUDSDK_API_ENDPOINT_OVERRIDES_"))
            .collect();
        assert!(overrides.len() >= SERVED.len() + FENCED.len());
        assert!(
            overrides
                .iter()
                .all(|(_, v)| v.starts_with("http://127.0.0.1:1234/"))
        );
        assert!(vars.contains(&("CLOUDSDK_CONFIG".into(), "/tmp/x".into())));
    }

    #[test]
    fn export_lines_quote_for_the_shell() {
        assert_eq!(export_line("A", "it's"), r"export A='it'\''s'");
    }

    #[test]
    fn config_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), "p-one").unwrap();
        write_config(dir.path(), "p-two").unwrap();
        let text =
            std::fs::read_to_string(dir.path().join("configurations/config_default")).unwrap();
        assert!(text.contains("project = p-one"), "{text}");
    }
}
