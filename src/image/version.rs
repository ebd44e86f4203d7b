//! The version an image is tagged with: `--version` when given, else the full git SHA of
//! HEAD. Built from the committed tree (the default) the SHA is the version as it is, and
//! uncommitted changes are only listed (they are not in the image); built from the working
//! tree, `-dirty` is appended when it has uncommitted changes (or a refusal, when dirty builds
//! are not allowed). Every version is checked to be a valid Docker tag.

use crate::error::{fail, Kind};
use anyhow::Result;
use std::path::Path;
use std::process::Command;

/// Where a version came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Given with `--version`.
    Explicit,
    /// The SHA of HEAD in the git repository.
    Git,
}

/// A resolved image version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The tag: the explicit version, `<sha>` or `<sha>-dirty`.
    pub tag: String,
    pub source: Source,
    /// Files with uncommitted changes (`git status --porcelain` lines), empty when clean.
    /// When not empty the tag ends in `-dirty` (working-tree builds) or the changes are left
    /// out of the image (`from_commit`); the caller should say so and list them.
    pub changed_files: Vec<String>,
    /// The image is built from the committed tree, so the changes are not in it.
    pub from_commit: bool,
}

impl Version {
    /// True when the tag was made from a working tree with uncommitted changes.
    pub fn is_dirty(&self) -> bool {
        !self.changed_files.is_empty()
    }

    /// The warning to show for a dirty version, listing the changed files; None when clean.
    pub fn dirty_warning(&self) -> Option<String> {
        if !self.is_dirty() {
            return None;
        }
        if self.from_commit {
            return Some(format!(
                "building version {} from the committed tree; these uncommitted changes are \
                 NOT in the image (commit them, or set builder.context_source = \
                 \"working-tree\"):\n  {}",
                self.tag,
                self.changed_files.join("\n  ")
            ));
        }
        Some(format!(
            "building version {} from a working tree with uncommitted changes:\n  {}",
            self.tag,
            self.changed_files.join("\n  ")
        ))
    }
}

/// Resolve the version: `explicit` when given (validated), else the git SHA of HEAD of
/// `repo_dir`. With uncommitted changes the tag gets `-dirty` when `allow_dirty`, and is
/// refused (listing the changed files) otherwise.
pub fn resolve(explicit: Option<&str>, repo_dir: &Path, allow_dirty: bool) -> Result<Version> {
    if let Some(version) = explicit {
        validate_tag(version)?;
        return Ok(Version {
            tag: version.to_string(),
            source: Source::Explicit,
            changed_files: Vec::new(),
            from_commit: false,
        });
    }
    let dir = repo_dir.display();
    let inside = git(repo_dir, &["rev-parse", "--is-inside-work-tree"]);
    if !matches!(&inside, Ok(out) if out.trim() == "true") {
        return Err(fail(
            Kind::Usage,
            format!(
                "cannot pick a version: {dir} is not a git repository (or git is not \
                 installed); pass --version VERSION"
            ),
        ));
    }
    let sha = git(repo_dir, &["rev-parse", "--verify", "HEAD"]).map_err(|_| {
        fail(
            Kind::Usage,
            format!(
                "cannot pick a version: the git repository at {dir} has no commit yet; \
                 commit first or pass --version VERSION"
            ),
        )
    })?;
    let sha = sha.trim().to_string();
    let status = git(repo_dir, &["status", "--porcelain"]).map_err(|e| {
        fail(
            Kind::Usage,
            format!("cannot read the working tree state of {dir}: {e}"),
        )
    })?;
    let changed_files = parse_porcelain(&status);
    if changed_files.is_empty() {
        validate_tag(&sha)?;
        return Ok(Version {
            tag: sha,
            source: Source::Git,
            changed_files,
            from_commit: false,
        });
    }
    if !allow_dirty {
        return Err(fail(
            Kind::Usage,
            format!(
                "refusing to build from a working tree with uncommitted changes in {dir}:\n  {}\n\
                 commit or stash them, allow dirty builds, or pass --version VERSION",
                changed_files.join("\n  ")
            ),
        ));
    }
    let tag = format!("{sha}-dirty");
    validate_tag(&tag)?;
    Ok(Version {
        tag,
        source: Source::Git,
        changed_files,
        from_commit: false,
    })
}

/// The version of a build from the committed tree of `repo_dir`: `explicit` when given, else
/// HEAD's SHA with no `-dirty` (the image holds exactly that commit). Uncommitted changes are
/// listed in `changed_files` for the warning; outside git only `explicit` works.
pub fn resolve_committed(explicit: Option<&str>, repo_dir: &Path) -> Result<Version> {
    let changed_files = match git(repo_dir, &["status", "--porcelain"]) {
        Ok(status) => parse_porcelain(&status),
        Err(_) => Vec::new(),
    };
    let base = match explicit {
        Some(_) => resolve(explicit, repo_dir, true)?,
        None => {
            let mut v = resolve(None, repo_dir, true)?;
            v.tag = v.tag.trim_end_matches("-dirty").to_string();
            v
        }
    };
    Ok(Version {
        changed_files,
        from_commit: true,
        ..base
    })
}

/// Check that `tag` is a valid Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && tag.len() <= 128 {
        Ok(())
    } else {
        Err(fail(
            Kind::Usage,
            format!(
                "invalid version {tag:?}: a Docker tag is 1 to 128 characters of letters, \
                 digits, `_`, `.` and `-`, and does not start with `.` or `-`"
            ),
        ))
    }
}

/// The changed paths of `git status --porcelain` output, one line each (status kept).
fn parse_porcelain(output: &str) -> Vec<String> {
    output
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// `git -C dir ARGS`: its stdout, or its stderr as the error (stdin closed: git never waits on
/// it). Used here and by the build context's source (source.rs).
pub(super) fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), &["init", "-q"]);
        run(dir.path(), &["config", "user.email", "t@example.invalid"]);
        run(dir.path(), &["config", "user.name", "t"]);
        run(dir.path(), &["config", "commit.gpgsign", "false"]);
        dir
    }

    #[test]
    fn valid_and_invalid_tags() {
        for ok in ["v1", "1.2.3", "_x", "a-b_c.d", &"a".repeat(128)] {
            assert!(validate_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".v1", "-v1", "v 1", "v/1", "v:1", "é", &"a".repeat(129)] {
            let err = validate_tag(bad).unwrap_err().to_string();
            assert!(err.contains("invalid version"), "{bad}: {err}");
        }
    }

    #[test]
    fn explicit_version_wins_even_outside_git() {
        let dir = tempfile::tempdir().unwrap();
        let v = resolve(Some("v42"), dir.path(), false).unwrap();
        assert_eq!(v.tag, "v42");
        assert_eq!(v.source, Source::Explicit);
        assert!(resolve(Some("bad tag"), dir.path(), true).is_err());
    }

    #[test]
    fn outside_git_without_version_asks_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(None, dir.path(), true).unwrap_err().to_string();
        assert!(err.contains("not a git repository"), "{err}");
        assert!(err.contains("--version"), "{err}");
    }

    #[test]
    fn repo_without_commits_asks_to_commit() {
        let dir = repo();
        let err = resolve(None, dir.path(), true).unwrap_err().to_string();
        assert!(err.contains("no commit yet"), "{err}");
    }

    #[test]
    fn clean_tree_gives_the_full_sha_and_dirty_tree_is_marked_or_refused() {
        let dir = repo();
        std::fs::write(dir.path().join("a.txt"), "1").unwrap();
        run(dir.path(), &["add", "a.txt"]);
        run(dir.path(), &["commit", "-q", "-m", "one"]);
        let clean = resolve(None, dir.path(), false).unwrap();
        assert_eq!(clean.tag.len(), 40);
        assert!(clean.tag.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!clean.is_dirty());

        std::fs::write(dir.path().join("a.txt"), "2").unwrap();
        std::fs::write(dir.path().join("new.txt"), "n").unwrap();
        let dirty = resolve(None, dir.path(), true).unwrap();
        assert_eq!(dirty.tag, format!("{}-dirty", clean.tag));
        assert_eq!(dirty.changed_files, vec![" M a.txt", "?? new.txt"]);
        let warning = dirty.dirty_warning().unwrap();
        assert!(
            warning.contains("-dirty") && warning.contains("new.txt"),
            "{warning}"
        );
        assert!(clean.dirty_warning().is_none());

        let err = resolve(None, dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("uncommitted changes"), "{err}");
        assert!(err.contains("a.txt") && err.contains("new.txt"), "{err}");

        // Built from the commit: the SHA as it is, the changes named as left out.
        let committed = resolve_committed(None, dir.path()).unwrap();
        assert_eq!(committed.tag, clean.tag);
        let warning = committed.dirty_warning().unwrap();
        assert!(
            warning.contains("NOT in the image") && warning.contains("new.txt"),
            "{warning}"
        );
        let explicit = resolve_committed(Some("v9"), dir.path()).unwrap();
        assert_eq!(explicit.tag, "v9");
        assert!(explicit.dirty_warning().unwrap().contains("a.txt"));
    }
}
