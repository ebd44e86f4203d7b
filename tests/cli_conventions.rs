//! CLI conventions: `dhow completions bash|zsh|fish` and `dhow man` are generated and name the
//! subcommands (the bash script is also checked by `bash -n`, a real parser); `dhow docs`
//! prints the built-in config reference, one section of it, or (exit 2) the list of sections.

use std::process::{Command, Output};

fn dhow(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_dhow"))
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout.clone()).unwrap()
}

const SUBCOMMANDS: &[&str] = &[
    "deploy",
    "rollback",
    "accessory",
    "proxy",
    "completions",
    "docs",
];

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F _dhow"),
        ("zsh", "#compdef dhow"),
        ("fish", "complete -c dhow"),
    ] {
        let script = stdout(&dhow(&["completions", shell]));
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let bad = dhow(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}

#[test]
fn the_bash_completion_script_parses() {
    let script = stdout(&dhow(&["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dhow.bash");
    std::fs::write(&path, script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(check.status.success(), "{check:?}");
}

#[test]
fn the_man_page_is_roff_listing_the_subcommands() {
    let page = stdout(&dhow(&["man"]));
    assert!(page.contains(".TH dhow 1"), "{page}");
    assert!(
        page.contains(env!("CARGO_PKG_VERSION")),
        "no version in the page"
    );
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("dhow\\-{sub}")),
            "man page lacks {sub}"
        );
    }
}

#[test]
fn docs_prints_the_reference_or_one_section() {
    let all = stdout(&dhow(&["docs"]));
    assert_eq!(all, include_str!("../docs/config.md"));
    let proxy = stdout(&dhow(&["docs", "proxy"]));
    assert!(proxy.starts_with("## `[proxy]`"), "{proxy}");
    assert!(!proxy.contains("\n## "), "more than one section: {proxy}");
    let unknown = dhow(&["docs", "proxxy"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("proxxy") && err.contains("  accessories"),
        "{err}"
    );
}
