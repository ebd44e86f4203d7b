//! `dhow init`: write a commented config/deploy.toml, the sample hooks (executable, each a
//! working example), an empty .dhow/secrets, config/deploy.schema.json (the JSON Schema the
//! template's `#:schema` line names), a .dockerignore (unless there is one), and git-ignore
//! the secrets. Never overwrites. `--from-kamal` converts a Kamal project instead (the
//! conversion is `config::kamal`).

use crate::error::{fail, Kind};
use crate::output::Output;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const CONFIG: &str = include_str!("init/deploy.toml");
const SECRETS: &str = "# Secrets for dhow, one NAME=value per line (never commit this file).\n# Values may be $(command) or contain ${ENV_VAR}.\n# .dhow/secrets.<destination> and .dhow/secrets-common are read too.\n";

/// What a build context should leave out (dhow never sends .dhow/ anyway).
const DOCKERIGNORE: &str = "# Kept out of the image build context (written by dhow init).\n\
# dhow never sends .dhow/ (secrets) to a build, whatever this file says.\n\
.dhow/\n.git/\n.gitignore\n.dockerignore\ntarget/\nnode_modules/\nlog/\ntmp/\n*.log\n.env\n.env.*\n";

const HOOKS: &[(&str, &str)] = &[
    ("pre-connect", include_str!("../../hooks/pre-connect")),
    ("pre-build", include_str!("../../hooks/pre-build")),
    ("pre-deploy", include_str!("../../hooks/pre-deploy")),
    ("pre-app-boot", include_str!("../../hooks/pre-app-boot")),
    ("post-app-boot", include_str!("../../hooks/post-app-boot")),
    ("post-deploy", include_str!("../../hooks/post-deploy")),
    ("docker-setup", include_str!("../../hooks/docker-setup")),
    (
        "pre-proxy-reboot",
        include_str!("../../hooks/pre-proxy-reboot"),
    ),
    (
        "post-proxy-reboot",
        include_str!("../../hooks/post-proxy-reboot"),
    ),
];

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Convert a Kamal config (default config/deploy.yml) instead of writing the sample one.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "config/deploy.yml")]
    pub from_kamal: Option<std::path::PathBuf>,
}

pub fn run(args: &InitArgs, out: &Output) -> anyhow::Result<()> {
    match &args.from_kamal {
        Some(from) => from_kamal(from, out),
        None => sample(out),
    }
}

/// `dhow init --from-kamal [PATH]`.
fn from_kamal(from: &Path, out: &Output) -> anyhow::Result<()> {
    let report = crate::config::kamal::import(from)?;
    for line in &report.lines {
        out.info(line);
    }
    for note in &report.notes {
        out.info(format!("note: {note}"));
    }
    for w in &report.warnings {
        out.warn(w);
    }
    ignore_secrets(out)?;
    out.info(format!(
        "next: read the warnings above ({}), check config/deploy.toml, then `dhow config`",
        report.warnings.len()
    ));
    Ok(())
}

fn sample(out: &Output) -> anyhow::Result<()> {
    let mut files: Vec<(String, &str, u32)> = vec![
        ("config/deploy.toml".into(), CONFIG, 0o644),
        (".dhow/secrets".into(), SECRETS, 0o600),
    ];
    files.extend(
        HOOKS
            .iter()
            .map(|(n, body)| (format!("hooks/{n}"), *body, 0o755)),
    );
    let existing: Vec<&str> = files
        .iter()
        .filter(|(p, _, _)| Path::new(p).exists())
        .map(|(p, _, _)| p.as_str())
        .collect();
    if !existing.is_empty() {
        return Err(fail(
            Kind::Usage,
            format!(
                "refusing to overwrite existing files: {}; move them away or edit them by hand",
                existing.join(", ")
            ),
        ));
    }
    for (path, body, mode) in &files {
        let p = Path::new(path);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(p, body)?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(*mode))?;
        out.info(format!("wrote {path}"));
    }
    // The schema the template's `#:schema` line names (editors complete and check keys).
    if crate::config::json_schema::write_new()? {
        out.info(format!("wrote {}", crate::config::json_schema::SCHEMA_FILE));
    }
    let di = Path::new(".dockerignore");
    if !di.exists() {
        std::fs::write(di, DOCKERIGNORE)?;
        out.info("wrote .dockerignore");
    }
    ignore_secrets(out)?;
    out.info("next: edit config/deploy.toml, put secrets in .dhow/secrets, then `dhow deploy`");
    Ok(())
}

/// Add `.dhow/secrets*` to .gitignore unless it is there.
fn ignore_secrets(out: &Output) -> anyhow::Result<()> {
    let gi = Path::new(".gitignore");
    let current = std::fs::read_to_string(gi).unwrap_or_default();
    if !current.lines().any(|l| l.trim() == ".dhow/secrets*") {
        let mut text = current;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(".dhow/secrets*\n");
        std::fs::write(gi, text)?;
        out.info("added .dhow/secrets* to .gitignore");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_names_the_schema_file_init_writes() {
        let first = super::CONFIG.lines().next().unwrap_or_default();
        assert_eq!(first, crate::config::json_schema::SCHEMA_LINE);
        assert_eq!(
            crate::config::json_schema::SCHEMA_FILE,
            "config/deploy.schema.json"
        );
    }

    #[test]
    fn kamal_import_knows_the_hooks_init_writes() {
        let names: Vec<&str> = super::HOOKS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, crate::config::kamal::HOOK_NAMES);
    }
}
