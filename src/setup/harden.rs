//! `setup.harden = true`: SSH password logins off (keys only; checked with `sshd -T`, sshd
//! reloaded so open sessions stay), unattended security upgrades on, fail2ban guarding sshd.
//! Each step reports what it found or did; a second run changes nothing.

use super::run_script;
use crate::host::remote::Exec;

pub(super) const SCRIPT: &str = r##"changed() { echo "changed=1"; }
# 1. SSH: keys only. Our file sorts first in sshd_config.d, and sshd takes the first value.
SSHD_CONF=/etc/ssh/sshd_config.d/01-dhow-harden.conf
WANT='# Written by dhow setup (setup.harden = true).
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no'
if ! grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config.d/' /etc/ssh/sshd_config 2>/dev/null; then
  exit 30
fi
if [ "$(cat "$SSHD_CONF" 2>/dev/null)" != "$WANT" ]; then
  $SUDO mkdir -p /etc/ssh/sshd_config.d
  printf '%s\n' "$WANT" | $SUDO tee "$SSHD_CONF" >/dev/null
  if ! $SUDO sshd -t >"$WORK/sshd.log" 2>&1; then $SUDO rm -f "$SSHD_CONF"; sed 's/^/sshd: /' "$WORK/sshd.log"; exit 31; fi
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl reload ssh 2>/dev/null || $SUDO systemctl reload sshd 2>/dev/null || exit 32
  elif [ -s /run/sshd.pid ]; then
    $SUDO kill -HUP "$(cat /run/sshd.pid)" || exit 32
  else
    $SUDO service ssh reload >/dev/null 2>&1 || exit 32
  fi
  changed
  echo "step=SSH password logins turned off (keys only)"
else
  echo "step=SSH password logins already off"
fi
$SUDO sshd -T 2>/dev/null | grep -qx 'passwordauthentication no' || exit 33
# 2. Unattended security upgrades.
if ! dpkg -s unattended-upgrades >/dev/null 2>&1; then apt_install unattended-upgrades; changed; echo "step=unattended-upgrades installed"; fi
AUTO=/etc/apt/apt.conf.d/20auto-upgrades
AUTO_WANT='APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";'
if [ "$(cat "$AUTO" 2>/dev/null)" != "$AUTO_WANT" ]; then
  printf '%s\n' "$AUTO_WANT" | $SUDO tee "$AUTO" >/dev/null
  changed
  echo "step=unattended security upgrades turned on (daily)"
else
  echo "step=unattended security upgrades already on"
fi
# 3. fail2ban for sshd.
if ! command -v fail2ban-client >/dev/null 2>&1; then apt_install fail2ban python3-systemd; changed; echo "step=fail2ban installed"; fi
JAIL=/etc/fail2ban/jail.d/dhow-sshd.conf
if [ -d /run/systemd/system ]; then BACKEND=systemd; else BACKEND=auto; fi
JAIL_WANT="# Written by dhow setup (setup.harden = true).
[sshd]
enabled = true
backend = $BACKEND
maxretry = 5
bantime = 1h"
if [ "$(cat "$JAIL" 2>/dev/null)" != "$JAIL_WANT" ]; then
  $SUDO mkdir -p /etc/fail2ban/jail.d
  printf '%s\n' "$JAIL_WANT" | $SUDO tee "$JAIL" >/dev/null
  changed
  JAIL_NEW=1
fi
if [ -d /run/systemd/system ]; then
  $SUDO systemctl enable fail2ban >/dev/null 2>&1
  if [ -n "${JAIL_NEW:-}" ]; then $SUDO systemctl restart fail2ban; else $SUDO systemctl start fail2ban; fi
  sleep 1
fi
if $SUDO fail2ban-client status sshd >/dev/null 2>&1; then
  echo "step=fail2ban guards sshd"
elif [ -d /run/systemd/system ] || [ -f /var/log/auth.log ]; then
  $SUDO fail2ban-client start >/dev/null 2>&1 || $SUDO fail2ban-client reload >/dev/null 2>&1
  if $SUDO fail2ban-client status sshd >/dev/null 2>&1; then echo "step=fail2ban guards sshd"; else exit 34; fi
else
  echo "step=fail2ban configured for sshd, not running: this host has neither systemd's journal nor /var/log/auth.log for it to read"
fi
"##;

/// Harden one host; returns the step lines to show.
pub async fn apply(host: &str, shell: &dyn Exec) -> anyhow::Result<(Vec<String>, bool)> {
    let out = run_script(host, shell, SCRIPT, "harden", |code| {
        Some(match code {
            30 => "harden: /etc/ssh/sshd_config does not include sshd_config.d/ (older than \
                   Debian 12 / Ubuntu 22.04?): set `PasswordAuthentication no` there yourself"
                .into(),
            31 => "harden: sshd rejected the new setting; it was removed again".into(),
            32 => "harden: could not reload sshd; password logins may still be on".into(),
            33 => "harden: sshd still allows passwords (another setting wins over dhow's \
                   /etc/ssh/sshd_config.d/01-dhow-harden.conf)"
                .into(),
            34 => "harden: fail2ban is installed but its sshd jail did not start: see \
                   `fail2ban-client status` on the host"
                .into(),
            _ => return None,
        })
    })
    .await?;
    Ok((super::steps(&out), out.lines().any(|l| l == "changed=1")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_script_is_valid_sh() {
        crate::setup::assert_valid_sh(super::SCRIPT);
    }
}
