//! The build context: the files of the context directory that `.dockerignore` keeps, sent
//! to the engine as a tar stream produced on a blocking thread (never the whole context in
//! memory). Ownership is reset to root as `docker build` does; modes and times are kept.
//! A `.dhow` directory (secrets, state) is never sent, whatever `.dockerignore` says.

use super::dockerignore::Matcher;
use crate::error::{fail, Kind};
use anyhow::Result;
use bytes::Bytes;
use futures::Stream;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Chunk size of the tar stream.
const CHUNK: usize = 64 * 1024;

/// What goes into the context: paths relative to the context root, `/`-separated, parents
/// before children.
#[derive(Debug, Clone)]
pub struct ContextFiles {
    pub root: PathBuf,
    pub paths: Vec<String>,
}

/// dhow's own directory (`.dhow/secrets*`): left out of every context, at any depth.
pub const NEVER_SENT: &str = ".dhow";

/// Walk `root` and list what `.dockerignore` keeps. `dockerfile` (relative to `root`) and
/// `.dockerignore` are always kept, as `docker build` does; `.dhow/` never is.
pub fn collect(root: &Path, dockerfile: &str) -> Result<ContextFiles> {
    let meta = fs::metadata(root).map_err(|e| {
        fail(
            Kind::Usage,
            format!("build context {}: {e}", root.display()),
        )
    })?;
    if !meta.is_dir() {
        return Err(fail(
            Kind::Usage,
            format!("build context {} is not a directory", root.display()),
        ));
    }
    let ignore_path = root.join(".dockerignore");
    let matcher = match fs::read_to_string(&ignore_path) {
        Ok(text) => Matcher::parse(&text).map_err(|e| {
            fail(
                Kind::Usage,
                format!("{}: {e}; fix the pattern", ignore_path.display()),
            )
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Matcher::default(),
        Err(e) => {
            return Err(fail(
                Kind::Usage,
                format!("cannot read {}: {e}", ignore_path.display()),
            ))
        }
    };
    let dockerfile = dockerfile.trim_start_matches("./").to_string();
    if Path::new(&dockerfile).is_absolute() || dockerfile.split('/').any(|part| part == "..") {
        return Err(fail(
            Kind::Usage,
            format!(
                "the Dockerfile {dockerfile} is outside the build context {}; give its path \
                 relative to the context (builder.context) and keep it inside",
                root.display()
            ),
        ));
    }
    if dockerfile.split('/').any(|part| part == NEVER_SENT) {
        return Err(fail(
            Kind::Usage,
            format!("the Dockerfile {dockerfile} is inside {NEVER_SENT}/, which is never sent to a build"),
        ));
    }
    if !root.join(&dockerfile).is_file() {
        return Err(fail(
            Kind::Usage,
            format!(
                "no Dockerfile at {}; set builder.dockerfile (relative to the context {})",
                root.join(&dockerfile).display(),
                root.display()
            ),
        ));
    }
    let always = [dockerfile, ".dockerignore".to_string()];
    let mut paths = Vec::new();
    walk(root, "", &matcher, &always, &mut paths)?;
    Ok(ContextFiles {
        root: root.to_path_buf(),
        paths,
    })
}

fn walk(
    root: &Path,
    prefix: &str,
    matcher: &Matcher,
    always: &[String],
    out: &mut Vec<String>,
) -> Result<()> {
    let dir = root.join(prefix);
    let read = fs::read_dir(&dir).map_err(|e| {
        fail(
            Kind::Usage,
            format!("cannot read {} in the build context: {e}", dir.display()),
        )
    })?;
    let mut names = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| {
            fail(
                Kind::Usage,
                format!("cannot read {} in the build context: {e}", dir.display()),
            )
        })?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    for name in names {
        if name == NEVER_SENT {
            continue;
        }
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).map_err(|e| {
            fail(
                Kind::Usage,
                format!("cannot read {} in the build context: {e}", path.display()),
            )
        })?;
        let excluded = matcher.excludes(&rel) && !always.contains(&rel);
        if meta.is_dir() {
            if !excluded {
                out.push(rel.clone());
                walk(root, &rel, matcher, always, out)?;
            } else if matcher.has_exceptions()
                || always.iter().any(|a| a.starts_with(&format!("{rel}/")))
            {
                // An exception may re-include something below; the directory entry itself
                // stays out, as in `docker build`.
                walk(root, &rel, matcher, always, out)?;
            }
        } else if !excluded && (meta.is_file() || meta.file_type().is_symlink()) {
            out.push(rel);
        }
    }
    Ok(())
}

/// Sends tar bytes in chunks over a channel.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

/// The first error met while producing the tar stream (a file that vanished or cannot be
/// read), so the build can report it instead of the engine's view of a cut stream.
pub type StreamError = Arc<Mutex<Option<String>>>;

/// Stream the context as a tar archive. The returned slot receives the error that stopped
/// the stream, if any.
pub fn tar_stream(
    files: ContextFiles,
) -> (
    impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    StreamError,
) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let slot: StreamError = Arc::new(Mutex::new(None));
    let error_slot = slot.clone();
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        if let Err(e) = write_tar(&files, tx) {
            if let Ok(mut guard) = error_slot.lock() {
                *guard = Some(e.to_string());
            }
            let _ = err_tx.blocking_send(Err(e));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (stream, slot)
}

fn write_tar(files: &ContextFiles, tx: mpsc::Sender<io::Result<Bytes>>) -> io::Result<()> {
    let writer = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    let mut builder = tar::Builder::new(writer);
    for rel in &files.paths {
        let path = files.root.join(rel);
        let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let meta = fs::symlink_metadata(&path).map_err(with_path)?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("").map_err(with_path)?;
        header.set_groupname("").map_err(with_path)?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(with_path)?;
            builder
                .append_link(&mut header, rel, &target)
                .map_err(with_path)?;
        } else if meta.is_dir() {
            header.set_size(0);
            builder
                .append_data(&mut header, rel, io::empty())
                .map_err(with_path)?;
        } else {
            let file = fs::File::open(&path).map_err(with_path)?;
            builder
                .append_data(&mut header, rel, file)
                .map_err(with_path)?;
        }
    }
    let mut writer = builder.into_inner()?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn collect_honours_dockerignore_and_always_keeps_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", "FROM scratch\n");
        write(
            root,
            ".dockerignore",
            "Dockerfile\n.dockerignore\nsecret.txt\ndocs\n*.log\n",
        );
        write(root, "keep.txt", "k");
        write(root, "secret.txt", "s");
        write(root, "docs/a.md", "a");
        write(root, "src/main.rs", "m");
        write(root, "src/x.log", "not ignored: the pattern is anchored");
        write(root, "y.log", "y");
        let files = collect(root, "Dockerfile").unwrap();
        assert_eq!(
            files.paths,
            vec![
                ".dockerignore",
                "Dockerfile",
                "keep.txt",
                "src",
                "src/main.rs",
                "src/x.log"
            ]
        );
    }

    #[test]
    fn exceptions_reach_into_excluded_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "build/Dockerfile", "FROM scratch\n");
        write(root, ".dockerignore", "build\nassets\n!assets/keep.png\n");
        write(root, "assets/keep.png", "k");
        write(root, "assets/drop.png", "d");
        let files = collect(root, "build/Dockerfile").unwrap();
        assert_eq!(
            files.paths,
            vec![".dockerignore", "assets/keep.png", "build/Dockerfile"]
        );
    }

    #[test]
    fn a_missing_or_outside_dockerfile_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = collect(dir.path(), "Dockerfile").unwrap_err().to_string();
        assert!(err.contains("no Dockerfile at"), "{err}");
        let err = collect(dir.path(), "../Dockerfile")
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside the build context"), "{err}");
    }

    #[test]
    fn an_ignored_directory_holding_the_dockerfile_is_still_searched_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "docker/Dockerfile", "FROM scratch\n");
        write(root, "docker/other.txt", "o");
        write(root, "dockerx/x.txt", "x");
        write(root, ".dockerignore", "docker\ndockerx\n");
        let files = collect(root, "docker/Dockerfile").unwrap();
        assert_eq!(files.paths, vec![".dockerignore", "docker/Dockerfile"]);
    }

    #[test]
    fn dhow_state_is_never_in_a_context_whatever_dockerignore_says() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", "FROM scratch\n");
        write(root, ".dhow/secrets", "S=1");
        write(root, "sub/.dhow/secrets.staging", "S=2");
        write(root, ".dockerignore", "!.dhow\n!.dhow/secrets\n");
        let files = collect(root, "Dockerfile").unwrap();
        assert_eq!(files.paths, vec![".dockerignore", "Dockerfile", "sub"]);
        write(root, ".dhow/Dockerfile", "FROM scratch\n");
        let err = collect(root, ".dhow/Dockerfile").unwrap_err().to_string();
        assert!(err.contains("never sent"), "{err}");
    }

    #[tokio::test]
    async fn the_stream_is_a_tar_of_the_listed_files_owned_by_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", "FROM scratch\n");
        write(root, "sub/file.txt", "hello");
        let files = collect(root, "Dockerfile").unwrap();
        let (stream, slot) = tar_stream(files);
        let chunks: Vec<Bytes> = stream.map(|c| c.unwrap()).collect().await;
        assert!(slot.lock().unwrap().is_none());
        let data: Vec<u8> = chunks.concat();
        let mut archive = tar::Archive::new(&data[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            assert_eq!(entry.header().uid().unwrap(), 0);
            seen.push(entry.path().unwrap().display().to_string());
        }
        assert_eq!(seen, vec!["Dockerfile", "sub", "sub/file.txt"]);
    }
}
