//! Where tokens live: in memory by default, in an owner-only file with
//! `--token-cache` (rule CL-06, CL-07).
//!
//! rmcp keeps tokens behind its `CredentialStore` trait and refreshes them
//! itself before they expire (`AuthorizationManager::get_access_token`, with
//! `resource` on the refresh request). Its default is
//! `InMemoryCredentialStore`; [`FileTokenCache`] is the file-backed store it
//! lacks. The file is written to a fresh temporary file created with mode
//! 0600 and renamed over the old one, so it is never readable by others,
//! not even for a moment, and never half-written.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use serde::{Deserialize, Serialize};

/// The file's contents: credentials, tagged with the resource they are for.
#[derive(Serialize, Deserialize)]
struct CacheFile {
    resource: String,
    credentials: StoredCredentials,
}

// ANCHOR: file_token_cache
/// A [`CredentialStore`] in one JSON file, for one resource.
#[derive(Debug, Clone)]
pub struct FileTokenCache {
    path: PathBuf,
    resource: String,
}

impl FileTokenCache {
    /// A cache in `path` for tokens whose audience is `resource`. Entries
    /// for another resource are ignored (and replaced on the next save).
    pub fn new(path: impl Into<PathBuf>, resource: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            resource: resource.into(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait::async_trait]
impl CredentialStore for FileTokenCache {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(store_error(&self.path, &error)),
        };
        refuse_shared_file(&self.path)?;
        let file: CacheFile =
            serde_json::from_slice(&bytes).map_err(|error| store_error(&self.path, &error))?;
        Ok((file.resource == self.resource).then_some(file.credentials))
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let file = CacheFile {
            resource: self.resource.clone(),
            credentials,
        };
        let json =
            serde_json::to_vec_pretty(&file).map_err(|error| store_error(&self.path, &error))?;
        write_private_atomically(&self.path, &json).map_err(|error| store_error(&self.path, &error))
    }

    async fn clear(&self) -> Result<(), AuthError> {
        match std::fs::remove_file(&self.path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(store_error(&self.path, &error))
            }
            _ => Ok(()),
        }
    }

    /// A refresh token the AS rejected is dead (and replaying it would
    /// revoke the grant, rule AS-08): forget the tokens, keep the client id.
    async fn on_refresh_token_rejected(
        &self,
        credentials: &StoredCredentials,
    ) -> Result<(), AuthError> {
        let forgotten =
            StoredCredentials::new(credentials.client_id.clone(), None, Vec::new(), None)
                .with_issuer(credentials.issuer.clone());
        self.save(forgotten).await
    }
}
// ANCHOR_END: file_token_cache

// ANCHOR: write_private_atomically
/// Writes `bytes` to a new sibling file created with mode 0600, then renames
/// it over `path` (rename is atomic within a directory on POSIX).
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token-cache".into());
    let temporary = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let result = result.and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}
// ANCHOR_END: write_private_atomically

// ANCHOR: refuse_shared_file
/// Like ssh with a private key: a token file others can read is not used.
fn refuse_shared_file(path: &Path) -> Result<(), AuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|error| store_error(path, &error))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(AuthError::CredentialStoreError(format!(
                "{} is accessible by other users (mode {:o}); run `chmod 600` on it or delete it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    Ok(())
}
// ANCHOR_END: refuse_shared_file

fn store_error(path: &Path, error: &dyn std::fmt::Display) -> AuthError {
    AuthError::CredentialStoreError(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> StoredCredentials {
        StoredCredentials::new("client-1".into(), None, vec!["mcp:tools".into()], Some(1))
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn cl07_token_cache_is_owner_only_and_round_trips() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().ok();
        let Some(path) = dir.as_ref().map(|dir| dir.path().join("tokens.json")) else {
            return;
        };
        let cache = FileTokenCache::new(&path, "http://localhost:8000/mcp");
        assert!(cache.load().await.ok().flatten().is_none());
        cache.save(credentials()).await.ok();
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
        let loaded = cache.load().await.ok().flatten();
        assert_eq!(loaded.map(|c| c.client_id), Some("client-1".to_owned()));

        // Another resource's cache is not ours.
        let other = FileTokenCache::new(&path, "http://localhost:8001/mcp");
        assert!(other.load().await.ok().flatten().is_none());

        // A file others can read is refused.
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        assert!(cache.load().await.is_err());
        cache.clear().await.ok();
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn cl07_rewrite_replaces_a_loose_file_with_a_private_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let path = dir.path().join("cache.json");
        let _ = std::fs::write(&path, b"old");
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        assert!(write_private_atomically(&path, b"new").is_ok());
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"new"[..]));
        let leftovers = std::fs::read_dir(dir.path())
            .map(|entries| entries.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
