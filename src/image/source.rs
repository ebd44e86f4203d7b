//! Where the build context's files come from: by default the committed tree of the commit
//! being deployed (`git archive`, like Kamal's clean clone of HEAD), so what is in the image is
//! exactly what the version names; the working tree only when asked (`builder.context_source =
//! "working-tree"`) or when the context is not in a git repository. Either way `.dhow/`
//! (secrets, state) is never part of a context: `context::collect` leaves it out.

use super::version::git;
use crate::error::{fail, Kind};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which files a build sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// The files of this commit (a SHA, or `HEAD`); uncommitted changes are not sent. Outside
    /// a git repository the working tree is used, with a note saying so.
    Commit(String),
    /// The files on disk, uncommitted changes included.
    WorkingTree,
}

impl Default for ContextSource {
    fn default() -> Self {
        ContextSource::Commit("HEAD".into())
    }
}

/// A context directory ready to be listed: the working tree itself, or a private temporary
/// copy of a commit's tree (removed when this is dropped).
#[derive(Debug)]
pub struct Prepared {
    /// The directory to list and send.
    pub root: PathBuf,
    /// What to tell the user (e.g. the working tree is used because there is no git repo).
    pub note: Option<String>,
    _tmp: Option<tempfile::TempDir>,
}

/// Get the files of `context_dir` from `source`.
pub fn prepare(context_dir: &Path, source: &ContextSource) -> Result<Prepared> {
    let working = |note: Option<String>| Prepared {
        root: context_dir.to_path_buf(),
        note,
        _tmp: None,
    };
    let rev = match source {
        ContextSource::WorkingTree => return Ok(working(None)),
        ContextSource::Commit(rev) => rev,
    };
    let Ok(top) = git(context_dir, &["rev-parse", "--show-toplevel"]) else {
        return Ok(working(Some(format!(
            "{} is not in a git repository: building from the working tree as it is \
             (without .dhow/)",
            context_dir.display()
        ))));
    };
    let top = PathBuf::from(top.trim());
    let prefix = git(context_dir, &["rev-parse", "--show-prefix"]).map_err(|e| {
        fail(
            Kind::Usage,
            format!("git rev-parse in {}: {e}", top.display()),
        )
    })?;
    let prefix = prefix.trim().trim_end_matches('/').to_string();
    if git(
        &top,
        &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")],
    )
    .is_err()
    {
        return Err(fail(
            Kind::Usage,
            format!(
                "cannot build from commit {rev} of {}: there is no such commit (a repository \
                 without commits?); commit first, or set builder.context_source = \
                 \"working-tree\"",
                top.display()
            ),
        ));
    }
    let committed = prefix.is_empty()
        || git(
            &top,
            &["rev-parse", "--verify", "-q", &format!("{rev}:{prefix}")],
        )
        .is_ok();
    if !committed {
        return Err(no_committed_files(context_dir, rev));
    }
    let tmp = tempfile::Builder::new()
        .prefix("dhow-context-")
        .tempdir()
        .map_err(|e| {
            fail(
                Kind::Usage,
                format!("cannot make a temporary directory: {e}"),
            )
        })?;
    extract(&top, rev, &prefix, tmp.path())?;
    let root = if prefix.is_empty() {
        tmp.path().to_path_buf()
    } else {
        tmp.path().join(&prefix)
    };
    if !root.is_dir() {
        return Err(no_committed_files(context_dir, rev));
    }
    Ok(Prepared {
        root,
        note: None,
        _tmp: Some(tmp),
    })
}

fn no_committed_files(context_dir: &Path, rev: &str) -> anyhow::Error {
    fail(
        Kind::Usage,
        format!(
            "the build context {} has no committed files in {rev}: commit it, or set \
             builder.context_source = \"working-tree\"",
            context_dir.display()
        ),
    )
}

/// `git archive REV -- PREFIX` unpacked into `into`.
fn extract(top: &Path, rev: &str, prefix: &str, into: &Path) -> Result<()> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(top)
        .args(["archive", "--format=tar", rev]);
    if !prefix.is_empty() {
        cmd.args(["--", prefix]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(Kind::Usage, format!("cannot run git archive: {e}")))?;
    let unpacked = match child.stdout.take() {
        Some(stdout) => {
            let mut archive = tar::Archive::new(stdout);
            archive.set_preserve_permissions(true);
            archive.set_preserve_mtime(true);
            let unpacked = archive.unpack(into);
            // git pads its tar past the end marker, where the unpacking stops: read the rest,
            // or git may get SIGPIPE writing it and exit as failed with nothing to say (seen
            // on a loaded machine).
            let mut rest = archive.into_inner();
            let _ = std::io::copy(&mut rest, &mut std::io::sink());
            unpacked
        }
        None => Ok(()),
    };
    let output = child
        .wait_with_output()
        .map_err(|e| fail(Kind::Usage, format!("git archive: {e}")))?;
    if let Err(e) = &unpacked {
        return Err(fail(
            Kind::Usage,
            format!("cannot unpack commit {rev} for the build context: {e}"),
        ));
    }
    if !output.status.success() {
        return Err(fail(
            Kind::Usage,
            format!(
                "cannot read commit {rev} of {} for the build context (git archive: {}); \
                 commit first, or set builder.context_source = \"working-tree\"",
                top.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn run(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdout(Stdio::null())
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
    fn a_commit_gives_its_files_only_with_modes_kept() {
        let dir = repo();
        let root = dir.path();
        fs::create_dir_all(root.join("app/bin")).unwrap();
        fs::write(root.join("app/Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(root.join("app/bin/run"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("app/bin/run"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(root.join("top.txt"), "t").unwrap();
        run(root, &["add", "."]);
        run(root, &["commit", "-q", "-m", "one"]);
        fs::write(root.join("app/Dockerfile"), "FROM changed\n").unwrap();
        fs::write(root.join("app/new.txt"), "n").unwrap();

        let p = prepare(&root.join("app"), &ContextSource::default()).unwrap();
        assert!(p.note.is_none());
        assert_eq!(
            fs::read_to_string(p.root.join("Dockerfile")).unwrap(),
            "FROM scratch\n"
        );
        assert!(!p.root.join("new.txt").exists());
        assert!(!p.root.join("top.txt").exists());
        let mode = fs::metadata(p.root.join("bin/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{mode:o}");
        let tmp = p.root.clone();
        drop(p);
        assert!(!tmp.exists(), "the temporary copy is removed");

        let w = prepare(&root.join("app"), &ContextSource::WorkingTree).unwrap();
        assert_eq!(w.root, root.join("app"));
    }

    #[test]
    fn outside_git_the_working_tree_is_used_and_said() {
        let dir = tempfile::tempdir().unwrap();
        let p = prepare(dir.path(), &ContextSource::default()).unwrap();
        assert_eq!(p.root, dir.path());
        let note = p.note.unwrap();
        assert!(note.contains("not in a git repository"), "{note}");
    }

    #[test]
    fn an_uncommitted_context_or_a_repo_without_commits_is_a_clear_error() {
        let dir = repo();
        let err = prepare(dir.path(), &ContextSource::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("commit first"), "{err}");
        fs::write(dir.path().join("a"), "a").unwrap();
        run(dir.path(), &["add", "a"]);
        run(dir.path(), &["commit", "-q", "-m", "a"]);
        fs::create_dir_all(dir.path().join("new")).unwrap();
        let err = prepare(&dir.path().join("new"), &ContextSource::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no committed files"), "{err}");
    }
}
