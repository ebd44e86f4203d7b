//! Public key authentication: keys held by ssh-agent first (with IdentitiesOnly only those
//! matching a configured key), then in-memory keys (`ssh.key_data`), then key files (ed25519,
//! ecdsa, rsa with rsa-sha2-256/512). Encrypted key files are not decrypted: the error says
//! to load them into the agent or use an unencrypted key.

use super::errors;
use super::handler::SshHandler;
use super::SshOptions;
use russh::client::Handle;
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use std::path::PathBuf;
use std::sync::Arc;

/// The key files tried when the config names none (those that exist).
pub fn default_key_files() -> Vec<PathBuf> {
    let ssh = super::home_dir().join(".ssh");
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| ssh.join(name))
        .filter(|p| p.exists())
        .collect()
}

/// Authenticate `user`; on failure the error lists what was tried.
pub async fn authenticate(
    handle: &mut Handle<SshHandler>,
    user: &str,
    host: &str,
    port: u16,
    opts: &SshOptions,
) -> anyhow::Result<()> {
    let mut tried = Vec::new();
    let mut notes = Vec::new();
    let rsa_hash = rsa_hash(handle, opts).await;

    if opts.use_agent
        && std::env::var_os("SSH_AUTH_SOCK").is_some()
        && try_agent(handle, user, rsa_hash, opts, &mut tried, &mut notes).await?
    {
        return Ok(());
    }

    for data in &opts.key_data {
        let hash = if data.key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(data.key.clone(), hash);
        tried.push(data.shown());
        let result =
            with_timeout(opts, host, port, handle.authenticate_publickey(user, key)).await?;
        match result {
            Ok(r) if r.success() => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(errors::handshake(host, port, &e)),
        }
    }

    for path in key_files(opts) {
        let shown = path.display().to_string();
        let key = match russh::keys::load_secret_key(&path, None) {
            Ok(key) => key,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                notes.push(format!(
                    "{shown} is encrypted with a passphrase: load it into ssh-agent \
                     (`ssh-add {shown}`) or use an unencrypted key"
                ));
                continue;
            }
            Err(e) => {
                notes.push(format!("cannot use key file {shown}: {e}"));
                continue;
            }
        };
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        tried.push(format!("{shown} ({})", key.algorithm()));
        let result =
            with_timeout(opts, host, port, handle.authenticate_publickey(user, key)).await?;
        match result {
            Ok(r) if r.success() => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(errors::handshake(host, port, &e)),
        }
    }
    Err(errors::auth_refused(user, host, port, &tried, &notes))
}

/// The key files to try: the configured ones, else the default ones that exist.
fn key_files(opts: &SshOptions) -> Vec<PathBuf> {
    if opts.keys.is_empty() {
        default_key_files()
    } else {
        opts.keys.clone()
    }
}

/// Under IdentitiesOnly: the public keys of the configured keys (from the key file, else
/// its `.pub`), the only agent keys offered.
fn allowed_agent_keys(opts: &SshOptions) -> Vec<russh::keys::PublicKey> {
    let mut keys: Vec<_> = opts
        .key_data
        .iter()
        .map(|d| d.key.public_key().clone())
        .collect();
    for path in key_files(opts) {
        if let Ok(k) = russh::keys::load_secret_key(&path, None) {
            keys.push(k.public_key().clone());
        } else if let Ok(k) = russh::keys::load_public_key(format!("{}.pub", path.display())) {
            keys.push(k);
        }
    }
    keys
}

/// The RSA signature hash the server accepts (rsa-sha2-512, then -256; never plain ssh-rsa
/// unless that is all the server knows).
async fn rsa_hash(handle: &Handle<SshHandler>, opts: &SshOptions) -> Option<HashAlg> {
    match tokio::time::timeout(opts.connect_timeout, handle.best_supported_rsa_hash()).await {
        Ok(Ok(Some(alg))) => alg,
        _ => Some(HashAlg::Sha256),
    }
}

async fn try_agent(
    handle: &mut Handle<SshHandler>,
    user: &str,
    rsa_hash: Option<HashAlg>,
    opts: &SshOptions,
    tried: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> anyhow::Result<bool> {
    let connected = tokio::time::timeout(opts.connect_timeout, AgentClient::connect_env()).await;
    let mut agent = match connected {
        Ok(Ok(agent)) => agent,
        Ok(Err(e)) => {
            notes.push(format!("ssh-agent (SSH_AUTH_SOCK) not usable: {e}"));
            return Ok(false);
        }
        Err(_) => {
            notes.push("ssh-agent did not answer".into());
            return Ok(false);
        }
    };
    let identities =
        match tokio::time::timeout(opts.connect_timeout, agent.request_identities()).await {
            Ok(Ok(ids)) => ids,
            _ => {
                notes.push("ssh-agent did not list its keys".into());
                return Ok(false);
            }
        };
    let allowed = opts.identities_only.then(|| allowed_agent_keys(opts));
    for identity in identities {
        let AgentIdentity::PublicKey { key, comment } = identity else {
            continue;
        };
        if let Some(allowed) = &allowed {
            if !allowed.iter().any(|k| k.key_data() == key.key_data()) {
                continue;
            }
        }
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        tried.push(format!("agent key {} ({comment})", key.algorithm()));
        let attempt = handle.authenticate_publickey_with(user, key, hash, &mut agent);
        match tokio::time::timeout(opts.connect_timeout, attempt).await {
            Ok(Ok(r)) if r.success() => return Ok(true),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => notes.push(format!("ssh-agent could not sign: {e}")),
            Err(_) => notes.push("ssh-agent or the server did not answer in time".into()),
        }
    }
    Ok(false)
}

async fn with_timeout<T>(
    opts: &SshOptions,
    host: &str,
    port: u16,
    fut: impl std::future::Future<Output = T>,
) -> anyhow::Result<T> {
    tokio::time::timeout(opts.connect_timeout, fut)
        .await
        .map_err(|_| errors::timed_out(host, port, "authentication", opts.connect_timeout))
}
