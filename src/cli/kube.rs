//! `dhow kube export`: the config (destination merged) as Kubernetes manifests (src/kube/),
//! written as one YAML stream on stdout or one file per object in a directory. What cannot
//! be exported is named on stderr, one "not exported: ..." line each; under `--json`, one
//! `kube_export` object carries the objects (or the files written), the Secrets to fill and
//! the notes.

use super::Global;
use crate::error::{fail, Kind};
use crate::kube::{self, yaml, Export, Options};
use crate::output::Output;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum KubeCommand {
    /// Write Kubernetes manifests for the config: a Deployment per role (the health check as
    /// readiness probe, a rolling update with maxUnavailable 0), a Service per proxied role,
    /// an Ingress with the proxy's hosts, path and TLS, a StatefulSet with volume claims and
    /// a headless Service per accessory, a ConfigMap of each role's clear env, and Secrets
    /// only with --with-secrets (otherwise referenced, their keys listed to fill). Checked
    /// against Kubernetes' OpenAPI schemas in dhow's tests, not applied to a cluster.
    Export {
        /// Write Secret objects with the values from the secrets files (they are printed).
        #[arg(long)]
        with_secrets: bool,
        /// `-` (default) for one YAML stream on stdout, or a directory: one file per object
        /// and README.md with the Secrets to create.
        #[arg(short = 'o', long, default_value = "-", value_name = "DIR|-")]
        output: String,
    },
}

pub fn run(global: &Global, out: &Output, cmd: &KubeCommand) -> anyhow::Result<()> {
    let KubeCommand::Export {
        with_secrets,
        output,
    } = cmd;
    if !global.hosts.is_empty() || !global.roles.is_empty() || global.primary {
        return Err(fail(
            Kind::Usage,
            "kube export writes the whole app (every role and host): -h, -r and -p do not apply",
        ));
    }
    let loaded = super::hosts::load_config(global)?;
    let cwd = std::env::current_dir()?;
    let version = crate::image::version::resolve_committed(global.version.as_deref(), &cwd)?.tag;
    let e = kube::export(
        &loaded,
        &Options {
            version,
            with_secrets: *with_secrets,
        },
    )?;
    if !out.json {
        for n in e.fill_lines().iter().chain(&e.notes) {
            out.warn(n);
        }
    }
    let mut record = serde_json::json!({
        "secrets_to_fill": e.secrets_to_fill,
        "not_exported": e.notes,
    });
    if output == "-" {
        let text = stream(&e)?;
        record["objects"] = e.objects.iter().map(|o| o.value.clone()).collect();
        out.data("kube_export", &record, || print!("{text}"));
    } else {
        let files = write_dir(&e, &PathBuf::from(output))?;
        record["files"] = files.iter().map(|f| f.display().to_string()).collect();
        out.data("kube_export", &record, || {});
    }
    Ok(())
}

fn head(e: &Export) -> Vec<String> {
    let mut lines = vec![
        "Kubernetes manifests written by `dhow kube export` from the dhow config.".to_string(),
    ];
    lines.extend(e.fill_lines());
    lines.extend(e.notes.iter().cloned());
    lines
}

fn stream(e: &Export) -> anyhow::Result<String> {
    let mut s = yaml::comments(&head(e));
    for o in &e.objects {
        s.push_str(&yaml::document(&o.value)?);
    }
    Ok(s)
}

fn write_dir(e: &Export, dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let io = |what: &std::path::Path, err: std::io::Error| {
        fail(
            Kind::Usage,
            format!("cannot write {}: {err}", what.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(|err| io(dir, err))?;
    let mut files = Vec::new();
    for (i, o) in e.objects.iter().enumerate() {
        let f = dir.join(format!(
            "{:02}-{}-{}.yaml",
            i + 1,
            o.kind.to_ascii_lowercase(),
            o.name
        ));
        std::fs::write(&f, yaml::document(&o.value)?).map_err(|err| io(&f, err))?;
        files.push(f);
    }
    let readme = dir.join("README.md");
    let mut text = String::from("# Kubernetes manifests from `dhow kube export`\n\n");
    text.push_str("Checked against Kubernetes' OpenAPI schemas by dhow's tests; not applied to a live cluster by dhow.\n\n");
    if !e.secrets_to_fill.is_empty() {
        text.push_str("## Secrets to create before `kubectl apply`\n\n");
        for l in e.fill_lines() {
            text.push_str(&format!("- {l}\n"));
        }
        text.push('\n');
    }
    if !e.notes.is_empty() {
        text.push_str("## Not exported\n\n");
        for n in &e.notes {
            text.push_str(&format!("- {n}\n"));
        }
    }
    std::fs::write(&readme, text).map_err(|err| io(&readme, err))?;
    files.push(readme);
    Ok(files)
}
