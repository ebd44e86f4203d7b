//! `[aliases]` in the config: `console = "app exec --reuse sh"` makes `dhow console` run
//! `dhow app exec --reuse sh`. Only consulted when the first word is not a dhow command, so an
//! alias can never hide one; the config file and destination are taken from the arguments
//! (`-c`, `-d`) the way the real parse would. The alias's text is split the way a shell
//! would (`console = "app exec -i --reuse \"bin/rails console\""` is five words).

use std::ffi::OsString;
use std::path::PathBuf;

/// Global flags that take a value (so the word after them is not the command).
const VALUE_FLAGS: &[&str] = &[
    "-c",
    "--config-file",
    "-d",
    "--destination",
    "-h",
    "--hosts",
    "-r",
    "--roles",
    "--version",
];

/// An alias expanded.
pub struct Expansion {
    /// The command line with the alias replaced by its words.
    pub args: Vec<OsString>,
    /// `dhow console` runs `dhow app exec ...`, for `--help`.
    pub note: String,
}

/// `args` with the alias at the command position expanded, if the config defines it; an
/// error when its text cannot be split (an unclosed quote).
pub fn expand(args: &[OsString]) -> Option<Result<Expansion, String>> {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut config = PathBuf::from("config/deploy.toml");
    let mut destination = None;
    let mut i = 1;
    let pos = loop {
        let w = words.get(i)?;
        if let Some(v) = w.strip_prefix("--config-file=") {
            config = PathBuf::from(v);
        } else if let Some(v) = w.strip_prefix("--destination=") {
            destination = Some(v.to_string());
        } else if VALUE_FLAGS.contains(&w.as_str()) {
            let v = words.get(i + 1)?;
            match w.as_str() {
                "-c" | "--config-file" => config = PathBuf::from(v),
                "-d" | "--destination" => destination = Some(v.clone()),
                _ => {}
            }
            i += 1;
        } else if !w.starts_with('-') {
            break i;
        }
        i += 1;
    };
    let loaded = crate::config::load(
        &config,
        destination.as_deref(),
        std::path::Path::new(".dhow"),
    )
    .ok()?;
    let name = &words[pos];
    let expansion = loaded.config.aliases.as_ref()?.get(name)?.clone();
    let split = match crate::config::types::split_command(&expansion) {
        Ok(split) => split,
        Err(e) => return Some(Err(format!("aliases.{name}: {e}"))),
    };
    let mut out: Vec<OsString> = args[..pos].to_vec();
    out.extend(split.into_iter().map(OsString::from));
    out.extend(args[pos + 1..].iter().cloned());
    Some(Ok(Expansion {
        args: out,
        note: format!("`dhow {name}` is an alias for `dhow {expansion}`"),
    }))
}

/// True when `--help` is among the words before a `--` (the words after `--` are a
/// command's own, passed on as they are).
pub fn asks_help(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| a.as_os_str() != "--")
        .any(|a| a.as_os_str() == "--help")
}
