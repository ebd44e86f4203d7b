//! Images on one engine: is one there, which tags of a repository it holds, remove one,
//! remove a service's dangling (untagged) ones.
//! (Building, pushing, pulling and streaming images between engines is image/'s work.)

use super::errors::{timed, timed_or_missing};
use bollard::models::ImageInspect;
use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptions};
use bollard::Docker;
use std::collections::HashMap;

/// An image's details, or `None` when the engine does not have it.
pub async fn inspect(docker: &Docker, image: &str) -> anyhow::Result<Option<ImageInspect>> {
    timed_or_missing(
        &format!("inspect image {image}"),
        docker.inspect_image(image),
    )
    .await
}

/// Does the engine have `image`? (An engine that does not answer does not have it.)
pub async fn present(docker: &Docker, image: &str) -> bool {
    matches!(inspect(docker, image).await, Ok(Some(_)))
}

/// One tag of a listed image, with the image's size in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedImage {
    pub tag: String,
    pub size: i64,
}

/// The tags of the images of repository `reference` (`registry/app`, `dhow-proxy`).
pub async fn tags(docker: &Docker, reference: &str) -> anyhow::Result<Vec<TaggedImage>> {
    Ok(of_repository(docker, reference)
        .await?
        .into_iter()
        .flat_map(|img| {
            let size = img.size;
            img.repo_tags
                .into_iter()
                .map(move |tag| TaggedImage { tag, size })
        })
        .collect())
}

/// The images of repository `reference` the engine lists.
async fn of_repository(
    docker: &Docker,
    reference: &str,
) -> anyhow::Result<Vec<bollard::models::ImageSummary>> {
    let filters: HashMap<&str, Vec<String>> =
        HashMap::from([("reference", vec![reference.to_string()])]);
    let opts = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    timed("list images", docker.list_images(Some(opts))).await
}

/// The layers (diff IDs, bottom first) of every image of repository `reference`.
pub async fn layers_of(docker: &Docker, reference: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let mut all = Vec::new();
    for img in of_repository(docker, reference).await? {
        if let Some(found) = inspect(docker, &img.id).await? {
            all.push(found.root_fs.and_then(|r| r.layers).unwrap_or_default());
        }
    }
    Ok(all)
}

/// Does the engine keep images in containerd's store (Docker's `containerd-snapshotter`)
/// rather than its own? (`docker load` there wants every layer in the archive.)
pub async fn containerd_store(docker: &Docker) -> anyhow::Result<bool> {
    let info = timed("docker info", docker.info()).await?;
    Ok(info
        .driver_status
        .unwrap_or_default()
        .iter()
        .any(|kv| kv.iter().any(|v| v.contains("io.containerd.snapshotter"))))
}

/// Remove the dangling (untagged) images labelled `label` (`key=value`) that no container
/// uses, as `docker image prune --filter label=...` does; the space reclaimed, in bytes.
pub async fn prune_dangling(docker: &Docker, label: &str) -> anyhow::Result<i64> {
    let filters: HashMap<&str, Vec<String>> = HashMap::from([
        ("label", vec![label.to_string()]),
        ("dangling", vec!["true".to_string()]),
    ]);
    let opts = bollard::query_parameters::PruneImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let r = timed("prune images", docker.prune_images(Some(opts))).await?;
    Ok(r.space_reclaimed.unwrap_or(0))
}

/// Remove an image (tag). The engine refuses while a container, running or stopped, uses it.
pub async fn remove(docker: &Docker, image: &str) -> anyhow::Result<()> {
    timed(
        &format!("remove image {image}"),
        docker.remove_image(image, None::<RemoveImageOptions>, None),
    )
    .await?;
    Ok(())
}
