//! Build an image on the local engine from a context directory: take its files from the
//! commit or the working tree (`source.rs`), stream them (honouring `.dockerignore`, never
//! `.dhow/`), pass build args, target, labels and platform, forward the build output
//! line by line, tag the result, and turn a failed build into an error with the last lines
//! of output.

use super::context;
use super::engine;
use super::source::{self, ContextSource};
use crate::docker;
use crate::error::{fail, Kind};
use anyhow::Result;
use bollard::query_parameters::{BuildImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

/// Lines of build output kept for the error message of a failed build.
const TAIL_LINES: usize = 15;
/// A build step may stay silent this long (a long compile) before dhow gives up.
const BUILD_IDLE: Duration = Duration::from_secs(30 * 60);
/// The engine answers a build request once it has read the whole context.
const BUILD_REQUEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    /// The build context directory.
    pub context_dir: PathBuf,
    /// Where its files come from (default: the committed tree of HEAD).
    pub source: ContextSource,
    /// The Dockerfile, relative to the context directory (`Dockerfile` when empty).
    pub dockerfile: String,
    /// The stage to build (`--target`).
    pub target: Option<String>,
    /// Build args (`--build-arg`). Never put secrets here: they stay in the image history.
    pub args: BTreeMap<String, String>,
    /// Names of BuildKit secrets asked for (`builder.secrets`): such builds go through the
    /// docker CLI with BuildKit (see `buildkit.rs`).
    pub secrets: Vec<String>,
    /// Their values (`SecretString`: never printed).
    pub secret_values: Vec<(String, secrecy::SecretString)>,
    /// Full references to tag the image with, e.g. `app:<version>` and `app:latest`.
    /// The first one names the image; at least one is required.
    pub tags: Vec<String>,
    /// Image labels, e.g. `dhow.service=<service>`.
    pub labels: BTreeMap<String, String>,
    /// Target architecture (`amd64`, `arm64`) or full platform (`linux/arm64`).
    pub arch: Option<String>,
}

/// Progress of a build, for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// Something the user should know about the context (shown as a warning).
    Note(String),
    /// The context was listed: this many entries will be sent.
    Context { entries: usize },
    /// One line of build output (`Step 2/5 : COPY . /app`, a `RUN` command's output ...).
    Output(String),
    /// The image was built and tagged.
    Built { id: String },
}

/// Is `line` of build output the start of a build step: the classic builder's
/// `Step 2/5 : COPY . /app` or BuildKit's `#7 [2/3] COPY . /app` (shown without `-v`)?
pub fn step_line(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.starts_with("Step ") && line.contains(" : ") {
        return Some(line);
    }
    let rest = line.strip_prefix('#')?;
    let (num, vertex) = rest.split_once(' ')?;
    (num.chars().all(|c| c.is_ascii_digit()) && vertex.starts_with('[')).then_some(vertex)
}

/// Build `spec` on `docker` (the local engine) and return the image ID.
///
/// The classic builder may take a cached step whose image is removed while the build runs
/// (a `docker image rm` or prune beside it); it then stops with "unable to find image
/// sha256:...". Such a build is run once more: the removed image is no longer a cache
/// candidate then. The engine gives this failure no code, so its words are matched.
pub async fn build(
    docker: &Docker,
    spec: &BuildSpec,
    mut progress: impl FnMut(BuildEvent),
) -> Result<String> {
    match build_once(docker, spec, &mut progress).await {
        Err(e) if format!("{e:#}").contains("unable to find image \"sha256:") => {
            progress(BuildEvent::Note(
                "an image the build had taken from its cache was removed meanwhile; building \
                 again"
                    .into(),
            ));
            build_once(docker, spec, &mut progress).await
        }
        other => other,
    }
}

async fn build_once(
    docker: &Docker,
    spec: &BuildSpec,
    mut progress: impl FnMut(BuildEvent),
) -> Result<String> {
    let Some(first_tag) = spec.tags.first() else {
        return Err(fail(Kind::Internal, "image build without any tag"));
    };
    let dockerfile = if spec.dockerfile.is_empty() {
        "Dockerfile".to_string()
    } else {
        spec.dockerfile.clone()
    };
    // Kept until the build ends: a commit's tree lives in a temporary directory.
    let (_prepared, files) = context_files(spec, &dockerfile, &mut progress).await?;
    if !spec.secrets.is_empty() {
        super::buildkit::build(spec, &dockerfile, files, &mut progress).await?;
        let info = docker.inspect_image(first_tag).await.map_err(|e| {
            fail(
                Kind::Remote,
                format!("the build finished but {first_tag} is not in the engine: {e}"),
            )
        })?;
        let id = info.id.unwrap_or_default();
        progress(BuildEvent::Built { id: id.clone() });
        return Ok(id);
    }
    let args: HashMap<String, String> = spec.args.clone().into_iter().collect();
    let labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(&dockerfile)
        .t(first_tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&args)
        .labels(&labels);
    if let Some(target) = &spec.target {
        options = options.target(target);
    }
    if let Some(arch) = &spec.arch {
        options = options.platform(&platform(arch));
    }

    let (body, stream_error) = context::tar_stream(files);
    let engine = docker.clone().with_timeout(BUILD_REQUEST_TIMEOUT);
    let mut stream =
        engine.build_image(options.build(), None, Some(bollard::body_try_stream(body)));

    let mut tail: VecDeque<String> = VecDeque::new();
    let mut image_id: Option<String> = None;
    let context_dir = spec.context_dir.display().to_string();
    loop {
        let item = engine::next_within(&mut stream, BUILD_IDLE, "image build").await?;
        let Some(item) = item else { break };
        match item {
            Ok(info) => {
                if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        let line = line.trim_end().to_string();
                        if tail.len() == TAIL_LINES {
                            tail.pop_front();
                        }
                        tail.push_back(line.clone());
                        progress(BuildEvent::Output(line));
                    }
                }
                if let Some(id) = info.aux.and_then(|aux| aux.id) {
                    image_id = Some(id);
                }
            }
            Err(err) => {
                let produced = stream_error.lock().ok().and_then(|slot| slot.clone());
                return Err(build_error(
                    &context_dir,
                    &dockerfile,
                    &err,
                    produced,
                    &tail,
                ));
            }
        }
    }

    // The classic builder reports the ID in `aux` on recent engines and as a
    // "Successfully built" line on all of them; inspecting the first tag covers both.
    let inspected = docker.inspect_image(first_tag).await.map_err(|e| {
        fail(
            Kind::Deploy,
            format!(
                "the build of {first_tag} ended without an image ({}); last output:\n{}",
                docker::message(&e),
                tail_text(&tail)
            ),
        )
    })?;
    check_arch(
        spec.arch.as_deref(),
        inspected.architecture.as_deref(),
        first_tag,
    )?;
    let id = inspected.id.or(image_id).unwrap_or_default();
    for tag in &spec.tags[1..] {
        let (repo, tag_part) = super::reference::split_tag(tag);
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag_part.unwrap_or("latest"))
            .build();
        docker.tag_image(&id, Some(options)).await.map_err(|e| {
            fail(
                Kind::Deploy,
                format!(
                    "built {id} but could not tag it {tag}: {}",
                    docker::message(&e)
                ),
            )
        })?;
    }
    progress(BuildEvent::Built { id: id.clone() });
    Ok(id)
}

/// An image built for another platform than `builder.arch` asked for is an error (the classic
/// builder does not say so itself).
fn check_arch(asked: Option<&str>, built: Option<&str>, tag: &str) -> Result<()> {
    let (Some(asked), Some(built)) = (asked, built) else {
        return Ok(());
    };
    let asked = platform(asked);
    let asked_arch = docker::arch::platform_name(asked.split('/').nth(1).unwrap_or(""));
    let built = docker::arch::platform_name(built);
    if asked_arch == built {
        return Ok(());
    }
    Err(fail(
        Kind::Deploy,
        format!(
            "builder.arch asks for {asked}, but the engine built {tag} for linux/{built}: its \
             classic builder keeps the platform of the base image (or the engine's own for FROM \
             scratch); use a base image for {asked}, or an engine with BuildKit (docker buildx)"
        ),
    ))
}

/// The context's files from the commit or the working tree, listed.
async fn context_files(
    spec: &BuildSpec,
    dockerfile: &str,
    progress: &mut impl FnMut(BuildEvent),
) -> Result<(source::Prepared, context::ContextFiles)> {
    let (dir, from) = (spec.context_dir.clone(), spec.source.clone());
    let prepared = tokio::task::spawn_blocking(move || source::prepare(&dir, &from))
        .await
        .map_err(|e| fail(Kind::Internal, format!("preparing the build context: {e}")))??;
    if let Some(note) = &prepared.note {
        progress(BuildEvent::Note(note.clone()));
    }
    let files = context::collect(&prepared.root, dockerfile)?;
    progress(BuildEvent::Context {
        entries: files.paths.len(),
    });
    Ok((prepared, files))
}

/// `amd64` becomes `linux/amd64`; a full platform is kept.
pub fn platform(arch: &str) -> String {
    if arch.contains('/') {
        arch.to_string()
    } else {
        format!("linux/{arch}")
    }
}

fn tail_text(tail: &VecDeque<String>) -> String {
    if tail.is_empty() {
        "  (no output)".to_string()
    } else {
        tail.iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn build_error(
    context_dir: &str,
    dockerfile: &str,
    err: &bollard::errors::Error,
    produced: Option<String>,
    tail: &VecDeque<String>,
) -> anyhow::Error {
    if let Some(local) = produced {
        return fail(
            Kind::Usage,
            format!("could not send the build context {context_dir}: {local}"),
        );
    }
    let kind = match err {
        bollard::errors::Error::DockerStreamError { .. }
        | bollard::errors::Error::DockerResponseServerError { .. } => Kind::Deploy,
        _ => Kind::Connection,
    };
    fail(
        kind,
        format!(
            "image build failed ({context_dir}/{dockerfile}): {}\nlast build output:\n{}\n\
             fix the Dockerfile or the build context and run again",
            docker::message(err),
            tail_text(tail)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lines_of_both_builders_are_recognised() {
        assert_eq!(
            step_line("Step 2/5 : COPY . /app"),
            Some("Step 2/5 : COPY . /app")
        );
        assert_eq!(step_line("#7 [2/3] COPY . /app"), Some("[2/3] COPY . /app"));
        assert_eq!(step_line("#7 DONE 0.1s"), None);
        assert_eq!(step_line(" ---> Running in 3f2a"), None);
    }

    #[test]
    fn arch_becomes_a_linux_platform() {
        assert_eq!(platform("amd64"), "linux/amd64");
        assert_eq!(platform("linux/arm64/v8"), "linux/arm64/v8");
    }
}
