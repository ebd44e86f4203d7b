//! The env file of a role on a host: clear and secret variables, written through the SSH
//! channel's stdin (never a command line) into a 0600 file under ~/.dhow/<service>/env/.
//! `dhow app exec` and people debugging on the host read it; containers get the same values
//! through the Docker API.

use super::container::ContainerSpec;
use crate::error::{fail, Kind};
use crate::host::remote::Exec;
use crate::host::shell::quote;
use secrecy::ExposeSecret;

/// Where a role's env file lives, relative to the SSH user's home.
pub fn path(lock_key: &str, role: &str) -> String {
    format!("{}/env/{role}.env", crate::host::state_dir::dir(lock_key))
}

/// The file's contents (`KEY=value` lines; values with newlines are escaped).
pub fn render(spec: &ContainerSpec) -> String {
    let mut s = String::new();
    for (k, v) in &spec.env {
        s.push_str(&format!("{k}={}\n", escape(v)));
    }
    for (k, v) in &spec.secret_env {
        s.push_str(&format!("{k}={}\n", escape(v.expose_secret())));
    }
    s
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Write the env file with mode 0600, atomically (temp file then rename).
pub async fn write(host: &dyn Exec, lock_key: &str, spec: &ContainerSpec) -> anyhow::Result<()> {
    let file = path(lock_key, &spec.role);
    let dir = file
        .rsplit_once('/')
        .map_or(".dhow", |(d, _)| d)
        .to_string();
    let cmd = format!(
        "umask 077 && {prepare}mkdir -p {d} && cat > {f}.tmp && chmod 600 {f}.tmp && mv {f}.tmp {f}",
        prepare = crate::host::state_dir::prepare(lock_key),
        d = quote(&dir),
        f = quote(&file)
    );
    let out = host
        .exec_step("write env file", &cmd, Some(render(spec).into_bytes()))
        .await?;
    if !out.success() {
        return Err(fail(
            Kind::Remote,
            format!(
                "{}: could not write {file}: {}",
                host.label(),
                out.stderr.trim()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::remote::LocalShell;
    use secrecy::SecretString;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn file_is_private_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let sh = LocalShell {
            dir: dir.path().into(),
        };
        let spec = ContainerSpec {
            name: "demo-web-v1".into(),
            image: "demo:v1".into(),
            service: "demo".into(),
            role: "web".into(),
            destination: None,
            version: "v1".into(),
            cmd: None,
            env: vec![("A".into(), "1".into())],
            secret_env: vec![("S".into(), SecretString::from("line1\nline2"))],
            labels: Default::default(),
            options: Default::default(),
            cron: None,
        };
        write(&sh, "demo", &spec).await.unwrap();
        let p = dir.path().join(".dhow/demo/env/web.env");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "A=1\nS=line1\\nline2\n"
        );
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
