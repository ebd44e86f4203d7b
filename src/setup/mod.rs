//! Preparing a fresh server for deploys (`dhow setup`): check the distribution, get root (or
//! passwordless sudo), install Docker from the distribution (docker.io via apt) when it is
//! missing, start it, and put a non-root SSH user in the `docker` group. One script runs on
//! the host over the SSH connection and reports what it found and did in `key=value` lines;
//! its exit status names the problem (unsupported distribution, no sudo, apt locked, install
//! failed, Docker did not start). Running it again on a prepared host changes nothing.

pub mod firewall;
pub mod harden;

use crate::error::{fail, Kind};
use crate::host::remote::Exec;

/// How long one setup script (apt installs included) may run on a host.
const SCRIPT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Scratch files (logs, the downloaded install script, the firewall rules being checked) live
/// in a fresh private directory, removed when the script exits: no fixed /tmp names that
/// another user on the host could plant or read.
const SCRATCH: &str = r#"WORK=$(mktemp -d "${TMPDIR:-/tmp}/dhow.XXXXXXXXXX") || exit 17
chmod 700 "$WORK" || exit 17
trap 'rm -rf "$WORK"' EXIT"#;

/// The prelude with its scratch directory setup in place.
fn prelude() -> String {
    PRELUDE.replace("SCRATCH", SCRATCH)
}

/// What every setup script starts with: the distribution check, root or sudo (`$SUDO`), and
/// `apt_get` / `apt_install` that turn a locked apt or a failed install into exit codes.
const PRELUDE: &str = r#"set -u
SCRATCH
LOG="$WORK/apt.log"
if [ -r /etc/os-release ]; then . /etc/os-release; else ID=unknown; VERSION_ID=; fi
echo "os=${PRETTY_NAME:-$ID}"
case "$ID:${ID_LIKE:-}" in
  debian:*|ubuntu:*|*:*debian*|*:*ubuntu*) ;;
  *) exit 10 ;;
esac
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else exit 11; fi
apt_get() {
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 "$@" >>"$LOG" 2>&1 && return 0
  if grep -qiE "could not get lock|unable to acquire the dpkg frontend lock" "$LOG"; then exit 12; fi
  tail -n 5 "$LOG" | sed 's/^/apt: /'
  exit 13
}
APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then : >"$LOG"; apt_get update -q; APT_UPDATED=1; fi
  apt_get install -y -q --no-install-recommends "$@"
}
"#;

/// Docker: installed when missing, started, the SSH user in its group.
const DOCKER: &str = r#"if command -v dockerd >/dev/null 2>&1; then
  echo "docker=present"
elif [ "$DOCKER_INSTALL" = script ]; then
  if command -v curl >/dev/null 2>&1; then FETCH="curl -fsSL"
  elif command -v wget >/dev/null 2>&1; then FETCH="wget -qO-"
  else apt_install curl ca-certificates; FETCH="curl -fsSL"; fi
  $FETCH "$DOCKER_SCRIPT_URL" >"$WORK/get-docker.sh" 2>>"$LOG" || exit 15
  $SUDO sh "$WORK/get-docker.sh" >>"$LOG" 2>&1 || { tail -n 5 "$LOG" | sed 's/^/apt: /'; exit 16; }
  command -v dockerd >/dev/null 2>&1 || exit 16
  echo "docker=installed"
else
  apt_install docker.io
  echo "docker=installed"
fi
if ! $SUDO docker info >/dev/null 2>&1; then
  $SUDO systemctl enable --now docker >/dev/null 2>&1 \
    || $SUDO service docker start >/dev/null 2>&1 \
    || $SUDO sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  i=0
  until $SUDO docker info >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 60 ] && exit 14; sleep 0.5
  done
  echo "started=yes"
fi
echo "version=$($SUDO docker version --format '{{.Server.Version}}' 2>/dev/null)"
if [ "$(id -u)" != 0 ] && ! id -nG | tr ' ' '\n' | grep -qx docker; then
  $SUDO usermod -aG docker "$(id -un)" && echo "group=added"
fi
exit 0
"#;

/// What the script found and did on one host.
#[derive(Debug, Default, PartialEq)]
pub struct Prepared {
    pub os: String,
    pub docker_version: String,
    pub installed: bool,
    pub started: bool,
    pub group_added: bool,
    /// What hardening and the firewall reported, one line each.
    pub steps: Vec<String>,
    /// Hardening or the firewall changed something.
    pub extra_changed: bool,
}

impl Prepared {
    /// Whether this run changed anything on the host.
    pub fn changed(&self) -> bool {
        self.installed || self.started || self.group_added || self.extra_changed
    }

    /// One line for the user.
    pub fn describe(&self) -> String {
        let mut what = Vec::new();
        if self.installed {
            what.push(format!("Docker {} installed", self.docker_version));
        }
        if self.started {
            what.push("Docker started".to_string());
        }
        if self.group_added {
            what.push("the SSH user added to the docker group".to_string());
        }
        if what.is_empty() {
            format!(
                "{}: Docker {} already running; nothing to change",
                self.os, self.docker_version
            )
        } else {
            format!("{}: {}", self.os, what.join(", "))
        }
    }
}

fn parse(stdout: &str) -> Prepared {
    let mut p = Prepared::default();
    for line in stdout.lines() {
        match line.split_once('=') {
            Some(("os", v)) => p.os = v.trim().to_string(),
            Some(("docker", "installed")) => p.installed = true,
            Some(("started", _)) => p.started = true,
            Some(("version", v)) => p.docker_version = v.trim().to_string(),
            Some(("group", "added")) => p.group_added = true,
            _ => {}
        }
    }
    p
}

/// Run the prelude and then `body` on the host (read by `sh -s` from stdin: nothing on a
/// command line). Returns stdout when it exits 0; otherwise an error that names the host and
/// says what to do (`explain_more` gives the meaning of the body's own exit codes).
pub(crate) async fn run_script(
    host: &str,
    shell: &dyn Exec,
    body: &str,
    what: &str,
    explain_more: impl Fn(u32) -> Option<String>,
) -> anyhow::Result<String> {
    // apt installs and Docker's install script can take long on a slow mirror.
    let out = shell
        .exec_within(
            what,
            "sh -s",
            Some(format!("{}{body}", prelude()).into_bytes()),
            SCRIPT_DEADLINE,
        )
        .await?;
    let found = parse(&out.stdout);
    let apt_lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("apt: "))
        .collect();
    let why = match out.status {
        0 => return Ok(out.stdout),
        10 => format!(
            "unsupported distribution ({}): dhow setup supports Debian and Ubuntu (and \
             distributions like them); install Docker yourself, then run `dhow deploy`",
            if found.os.is_empty() {
                "unknown"
            } else {
                &found.os
            }
        ),
        11 => "the SSH user is not root and has no passwordless sudo: use root for setup, or \
               allow sudo without a password for this user"
            .to_string(),
        12 => "apt is locked by another process (unattended upgrades?) and stayed locked for \
               2 minutes: wait for it to finish, then run setup again"
            .to_string(),
        13 => format!(
            "{what}: installing with apt failed:\n  {}",
            apt_lines.join("\n  ")
        ),
        14 => "Docker was installed but did not start within 30s: look at \
               `journalctl -u docker` or /var/log/dockerd.log on the host"
            .to_string(),
        17 => "could not make a private scratch directory (mktemp -d) on the host: check that \
               $TMPDIR or /tmp is writable"
            .to_string(),
        n => explain_more(n)
            .map(|why| match apt_lines.is_empty() {
                true => why,
                false => format!("{why}; its last lines:\n  {}", apt_lines.join("\n  ")),
            })
            .unwrap_or_else(|| {
                format!(
                    "{what}: the setup script failed (exit status {n}): {}",
                    out.stderr.trim()
                )
            }),
    };
    Err(fail(Kind::Remote, format!("{host}: {why}")))
}

/// How Docker gets installed where it is missing.
#[derive(Debug, Clone, PartialEq)]
pub enum Install {
    /// The distribution's docker.io.
    Apt,
    /// Docker's install script (or one like it) from this URL, run with sh.
    Script(String),
}

/// Prepare one host for Docker; the error names the host and says what to do.
pub async fn prepare(host: &str, shell: &dyn Exec, install: &Install) -> anyhow::Result<Prepared> {
    let vars = match install {
        Install::Apt => "DOCKER_INSTALL=apt\n".to_string(),
        Install::Script(url) => format!(
            "DOCKER_INSTALL=script\nDOCKER_SCRIPT_URL={}\n",
            crate::host::shell::quote(url)
        ),
    };
    let url = match install {
        Install::Script(u) => u.clone(),
        Install::Apt => String::new(),
    };
    let out = run_script(
        host,
        shell,
        &format!("{vars}{DOCKER}"),
        "Docker",
        |code| match code {
            15 => Some(format!(
                "Docker: could not download the install script from {url}: check the URL and \
                 that the host can reach it"
            )),
            16 => Some(format!(
                "Docker: the install script from {url} failed or left no dockerd"
            )),
            _ => None,
        },
    )
    .await?;
    Ok(parse(&out))
}

/// The `step=` lines of a script's output.
pub fn steps(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("step="))
        .map(str::to_string)
        .collect()
}

/// Tests: `sh -n` accepts the script (setup scripts are sent as text, so typos show only there).
#[cfg(test)]
pub(crate) fn assert_valid_sh(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-n", "-c", script])
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_what_changed() {
        let p = parse("os=Debian GNU/Linux 12 (bookworm)\ndocker=installed\nstarted=yes\nversion=20.10.24+dfsg1\n");
        assert!(p.changed());
        assert_eq!(
            p.describe(),
            "Debian GNU/Linux 12 (bookworm): Docker 20.10.24+dfsg1 installed, Docker started"
        );
        let q = parse("os=Ubuntu 24.04 LTS\ndocker=present\nversion=27.1.1\n");
        assert!(!q.changed());
        assert!(q
            .describe()
            .ends_with("Docker 27.1.1 already running; nothing to change"));
    }

    #[test]
    fn steps_are_the_step_lines() {
        assert_eq!(
            steps("os=Debian\nstep=a\nchanged=1\nstep=b c\n"),
            vec!["a".to_string(), "b c".to_string()]
        );
    }

    #[test]
    fn the_script_is_valid_sh() {
        assert_valid_sh(&format!("{}DOCKER_INSTALL=apt\n{DOCKER}", prelude()));
    }

    #[test]
    fn no_script_uses_a_fixed_tmp_name() {
        for script in [prelude().as_str(), DOCKER, harden::SCRIPT, firewall::SCRIPT] {
            for (i, _) in script.match_indices("/tmp") {
                // Only mktemp's template, under $TMPDIR when set.
                assert!(
                    script[..i].ends_with("${TMPDIR:-"),
                    "fixed /tmp name in: {}",
                    &script[i.saturating_sub(40)..(i + 40).min(script.len())]
                );
            }
        }
    }

    #[tokio::test]
    async fn scratch_is_a_fresh_private_directory_removed_on_exit() {
        use crate::host::remote::{Exec, LocalShell};
        let tmp = tempfile::tempdir().unwrap();
        let sh = LocalShell {
            dir: tmp.path().into(),
        };
        let td = tmp.path().display();
        let script = format!(
            "TMPDIR={td}\n{SCRATCH}\necho \"$WORK\"; stat -c %a \"$WORK\"; touch \"$WORK/x\""
        );
        let out = sh.exec("sh -s", Some(script.into_bytes())).await.unwrap();
        assert!(out.success(), "{}", out.stderr);
        let mut lines = out.stdout.lines();
        let work = lines.next().unwrap();
        assert!(work.starts_with(&format!("{td}/dhow.")), "{work}");
        assert_eq!(lines.next(), Some("700"));
        assert!(
            !std::path::Path::new(work).exists(),
            "{work} was left behind"
        );
    }
}
