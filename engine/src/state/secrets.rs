//! Secret values at rest: sealed with XChaCha20-Poly1305 under a key kept outside every run
//! directory (`$MESHBOOK_KEY_FILE`, else `$XDG_CONFIG_HOME/meshbook/key`, else
//! `~/.config/meshbook/key`), created on first use with mode 0600. A copied or leaked state
//! directory holds no secret in clear text.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::state::fsutil;

/// Why secrets cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No place for the key: neither `$MESHBOOK_KEY_FILE`, `$XDG_CONFIG_HOME` nor `$HOME` is set.
    #[error("no place for the secrets key: set MESHBOOK_KEY_FILE, XDG_CONFIG_HOME or HOME")]
    NoKeyLocation,
    /// The key file could not be read or created.
    #[error("secrets key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The key file does not hold a key.
    #[error("secrets key {path} is not a meshbook key (expected 32 bytes in base64)")]
    BadKey {
        /// The key file.
        path: PathBuf,
    },
    /// The key file can be read by others than its owner, as ssh refuses such a private key.
    #[error(
        "secrets key {path} is readable by others (mode {mode:04o}): it must be private to you; run `chmod 600 {path}`"
    )]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A sealed value does not open with this key (another key, or a damaged value).
    #[error("a sealed value of `{name}` cannot be opened with the current key")]
    Open {
        /// The value's name.
        name: String,
    },
}

/// Refuses a key file that group or others may read or write.
fn refuse_exposed(path: &Path) -> Result<(), SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Where the key lives, from the environment (see the module documentation).
pub fn default_key_path() -> Result<PathBuf, SecretError> {
    let var = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("MESHBOOK_KEY_FILE") {
        return Ok(p);
    }
    if let Some(p) = var("XDG_CONFIG_HOME") {
        return Ok(p.join("meshbook").join("key"));
    }
    var("HOME")
        .map(|h| h.join(".config").join("meshbook").join("key"))
        .ok_or(SecretError::NoKeyLocation)
}

/// Seals and opens secret values; also keys the step fingerprints so that a fingerprint never
/// lets anyone test guesses of a secret input.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer with this key (for tests and embedding).
    pub fn from_key(key: [u8; 32]) -> Sealer {
        Sealer { key }
    }

    /// A new random key: a run's own.
    pub fn generate() -> Sealer {
        Sealer {
            key: rand::random(),
        }
    }

    /// The key's bytes, for a store that keeps it with the run (a Kubernetes Secret) or seals it
    /// with another key ([`Sealer::wrap`]).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key
    }

    /// `run`'s key sealed with this one: how a run's own key is kept on disk.
    pub fn wrap(&self, run: &Sealer) -> String {
        self.seal(RUN_KEY, &STANDARD.encode(run.key))
    }

    /// The run key that [`Sealer::wrap`] sealed with this one.
    pub fn unwrap(&self, wrapped: &str) -> Result<Sealer, SecretError> {
        let text = self.open(RUN_KEY, wrapped.trim())?;
        let key = STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| SecretError::Open {
                name: RUN_KEY.to_string(),
            })?;
        Ok(Sealer { key })
    }

    /// Reads the key at `path`, creating it (mode 0600, in a 0700 directory) when missing.
    pub fn load_or_create(path: &Path) -> Result<Sealer, SecretError> {
        let io_err = |source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        };
        match fs::read_to_string(path) {
            Ok(text) => {
                refuse_exposed(path)?;
                return decode_key(path, &text);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        if let Some(dir) = path.parent() {
            fsutil::create_private_dir(dir).map_err(io_err)?;
        }
        let key: [u8; 32] = rand::random();
        // Written under a temporary name and linked into place: a concurrent first run either wins
        // or reads the winner's key, never a half-written file.
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let written = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(format!("{}\n", STANDARD.encode(key)).as_bytes())?;
            f.sync_all()?;
            match fs::hard_link(&tmp, path) {
                Ok(()) => {
                    // A key lost in a crash would make every sealed value unreadable.
                    if let Some(dir) = path.parent() {
                        crate::state::fsutil::sync_dir(dir)?;
                    }
                    Ok(true)
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        })();
        let _ = fs::remove_file(&tmp);
        if written.map_err(io_err)? {
            Ok(Sealer { key })
        } else {
            decode_key(path, &fs::read_to_string(path).map_err(io_err)?)
        }
    }

    /// A credential for `purpose` that only this key can produce, the same every time: what a
    /// rehearsal hands its simulated services instead of keeping a minted token on disk.
    pub fn derive(&self, purpose: &str) -> String {
        let mut h = Sha256::new();
        // Domain-separated from everything else the key does; the key has a fixed length, so
        // key and purpose cannot be shifted into each other.
        h.update(b"meshbook-derive\0");
        h.update(self.key);
        h.update(purpose.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Seals `value`, bound to `name` (a sealed value moved to another name does not open).
    pub fn seal(&self, name: &str, value: &str) -> String {
        let nonce: [u8; 24] = rand::random();
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// Opens a value sealed for `name`.
    pub fn open(&self, name: &str, sealed: &str) -> Result<String, SecretError> {
        let err = || SecretError::Open {
            name: name.to_string(),
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| err())?;
        if bytes.len() < 24 {
            return Err(err());
        }
        let (nonce, body) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| err())?;
        String::from_utf8(plain).map_err(|_| err())
    }

    /// A key for fingerprints, derived from (and not revealing) the sealing key.
    pub(crate) fn fingerprint_key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"meshbook fingerprint key\0");
        h.update(self.key);
        h.finalize().into()
    }
}

/// The name a wrapped run key is sealed under.
const RUN_KEY: &str = "meshbook run key";

fn decode_key(path: &Path, text: &str) -> Result<Sealer, SecretError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| SecretError::BadKey {
            path: path.to_path_buf(),
        })?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKey {
        path: path.to_path_buf(),
    })?;
    Ok(Sealer { key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn seals_and_opens_bound_to_the_name() {
        let s = Sealer::from_key([7; 32]);
        let sealed = s.seal("TOKEN", "hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            s.seal("TOKEN", "hunter2"),
            "a fresh nonce each time"
        );
        assert_eq!(s.open("TOKEN", &sealed).unwrap(), "hunter2");
        assert!(s.open("OTHER", &sealed).is_err());
        assert!(Sealer::from_key([8; 32]).open("TOKEN", &sealed).is_err());
        assert!(s.open("TOKEN", "not base64!").is_err());
    }

    #[test]
    fn a_run_key_wrapped_opens_only_with_its_wrapper() {
        let user = Sealer::from_key([7; 32]);
        let run = Sealer::generate();
        let wrapped = user.wrap(&run);
        assert!(!wrapped.contains(&STANDARD.encode(run.to_bytes())));
        let opened = user.unwrap(&wrapped).unwrap();
        assert_eq!(opened.to_bytes(), run.to_bytes());
        assert!(Sealer::from_key([8; 32]).unwrap(&wrapped).is_err());
        assert!(user.unwrap(&user.seal(RUN_KEY, "short")).is_err());
    }

    #[test]
    fn derived_credentials_are_stable_per_key_and_purpose() {
        let a = Sealer::from_key([7; 32]);
        let b = Sealer::from_key([8; 32]);
        assert_eq!(a.derive("gcp/run-1"), a.derive("gcp/run-1"));
        assert_ne!(a.derive("gcp/run-1"), a.derive("gcp/run-2"));
        assert_ne!(a.derive("gcp/run-1"), b.derive("gcp/run-1"));
        assert_eq!(a.derive("x").len(), 64);
    }

    #[test]
    fn key_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg").join("meshbook").join("key");
        let a = Sealer::load_or_create(&path).unwrap();
        let b = Sealer::load_or_create(&path).unwrap();
        assert_eq!(b.open("X", &a.seal("X", "v")).unwrap(), "v");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(&path, "short").unwrap();
        assert!(matches!(
            Sealer::load_or_create(&path),
            Err(SecretError::BadKey { .. })
        ));
    }
}
