//! The app network (`dhow`) every app container and the proxy join. Docker lets two clients
//! racing to create a network both succeed, which leaves two networks of the same name and
//! makes every later use of the name fail as "ambiguous". So after making sure it exists, the
//! oldest network of that name is kept and unused younger duplicates are removed: every racer
//! converges on the same network.

use super::errors::timed;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use bollard::Docker;
use std::collections::HashMap;

/// The Docker network every app container and the proxy join on a host.
pub const NETWORK: &str = "dhow";

/// Create the app network if it is missing; heal duplicates. Returns whether it was created.
pub async fn ensure(docker: &Docker) -> anyhow::Result<bool> {
    let existing = same_name(docker).await?;
    let created = if existing.is_empty() {
        let req = NetworkCreateRequest {
            name: NETWORK.to_string(),
            driver: Some("bridge".into()),
            ..Default::default()
        };
        match timed("create network", docker.create_network(req)).await {
            Ok(_) => true,
            Err(e) if format!("{e}").contains("already exists") => false,
            Err(e) => return Err(e),
        }
    } else {
        false
    };
    if created || existing.len() > 1 {
        dedupe(docker).await?;
    }
    Ok(created)
}

/// Networks named exactly `dhow` (the name filter matches substrings), oldest first.
async fn same_name(docker: &Docker) -> anyhow::Result<Vec<String>> {
    let filters = HashMap::from([("name", vec![NETWORK])]);
    let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
    let mut nets: Vec<_> = timed("list networks", docker.list_networks(Some(opts)))
        .await?
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(NETWORK))
        .filter_map(|n| Some((n.created.clone(), n.id?)))
        .collect();
    nets.sort();
    Ok(nets.into_iter().map(|(_, id)| id).collect())
}

/// Keep the oldest network of the name; remove the others (a duplicate still in use by a
/// container is left alone: removing it would cut that container off).
async fn dedupe(docker: &Docker) -> anyhow::Result<()> {
    // Give a racer that created its network a moment ago time to show up in the list.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let nets = same_name(docker).await?;
    for id in nets.iter().skip(1) {
        let _ = timed("remove duplicate network", docker.remove_network(id)).await;
    }
    Ok(())
}
