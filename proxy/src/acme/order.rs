//! One certificate from an ACME server: the account (created once, kept in the state
//! directory), an order for one host name, its challenge answered by this proxy (HTTP-01 or
//! TLS-ALPN-01), then the certificate chain and a fresh private key.

use super::challenges::Challenges;
use super::http::AcmeHttp;
use super::settings::{Challenge, Settings};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Each request to the ACME server must answer within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The protocol client's name for a challenge.
fn acme_type(kind: Challenge) -> ChallengeType {
    match kind {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    }
}

fn http(settings: &Settings) -> Result<Box<AcmeHttp>, String> {
    AcmeHttp::new(settings.ca_root.as_deref(), REQUEST_TIMEOUT).map(Box::new)
}

/// The account for the configured directory: restored from the state directory, or created
/// (terms of service agreed, the contact e-mail if given) and saved there (mode 0600).
pub async fn account(settings: &Settings) -> Result<Account, String> {
    let path = settings.dir.join("account.json");
    if let Ok(bytes) = std::fs::read(&path) {
        match serde_json::from_slice::<SavedAccount>(&bytes) {
            Ok(saved) if saved.directory == settings.directory => {
                return Account::builder_with_http(http(settings)?)
                    .from_credentials(saved.credentials)
                    .await
                    .map_err(|e| format!("ACME account from {}: {e}", path.display()));
            }
            Ok(_) => {} // another directory: make an account there
            Err(e) => {
                return Err(format!(
                    "{} is not a saved ACME account: {e}",
                    path.display()
                ))
            }
        }
    }
    let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = Account::builder_with_http(http(settings)?)
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .map_err(|e| {
            format!(
                "cannot create an ACME account at {}: {e}",
                settings.directory
            )
        })?;
    let saved = SavedAccount {
        directory: settings.directory.clone(),
        credentials,
    };
    let bytes = serde_json::to_vec_pretty(&saved).map_err(|e| e.to_string())?;
    crate::atomic_file::write(&path, &bytes, 0o600)
        .map_err(|e| format!("cannot save the ACME account in {}: {e}", path.display()))?;
    Ok(account)
}

/// Order a certificate for `host`; returns (chain PEM, private key PEM).
pub async fn obtain(
    account: &Account,
    kind: Challenge,
    challenges: &Challenges,
    host: &str,
) -> Result<(String, String), String> {
    let ids = [Identifier::Dns(host.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| format!("new order: {e}"))?;
    let mut answered = Vec::new();
    let result = async {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| format!("authorization: {e}"))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("the authorization is {other:?}")),
            }
            let mut challenge = authz
                .challenge(acme_type(kind))
                .ok_or_else(|| format!("the ACME server offers no {} challenge", kind.name()))?;
            let key_auth = challenge.key_authorization();
            match kind {
                Challenge::Http01 => challenges.put_http(&challenge.token, key_auth.as_str()),
                Challenge::TlsAlpn01 => challenges.put_alpn(host, key_auth.digest().as_ref())?,
            }
            answered.push(challenge.token.clone());
            challenge
                .set_ready()
                .await
                .map_err(|e| format!("challenge ready: {e}"))?;
        }
        let policy = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(Duration::from_secs(120));
        match order.poll_ready(&policy).await {
            Ok(OrderStatus::Ready) => {}
            Ok(_) => return Err(why_invalid(&mut order, kind).await),
            Err(instant_acme::Error::Api(problem)) => {
                return Err(refused(
                    kind,
                    problem.detail.unwrap_or_else(|| "no reason given".into()),
                ))
            }
            Err(e) => return Err(format!("waiting for validation: {e}")),
        }
        Ok(())
    }
    .await;
    for token in &answered {
        challenges.remove_http(token);
    }
    challenges.remove_alpn(host);
    result?;
    let key = order
        .finalize()
        .await
        .map_err(|e| format!("finalize: {e}"))?;
    let chain = order
        .poll_certificate(&RetryPolicy::new().timeout(Duration::from_secs(120)))
        .await
        .map_err(|e| format!("certificate: {e}"))?;
    Ok((chain, key))
}

/// The validation error the ACME server reported, in words a user can act on.
async fn why_invalid(order: &mut instant_acme::Order, kind: Challenge) -> String {
    let mut detail = order.state().error.as_ref().map(|p| p.to_string());
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        if let Some(p) = authz.challenges.iter().find_map(|c| c.error.as_ref()) {
            detail = Some(p.detail.clone().unwrap_or_else(|| p.to_string()));
        }
    }
    refused(kind, detail.unwrap_or_else(|| "no reason given".into()))
}

fn refused(kind: Challenge, detail: String) -> String {
    format!(
        "the ACME server could not validate the {} challenge: {detail}",
        kind.name()
    )
}
