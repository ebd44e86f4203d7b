//! Value types of the config with their own syntax: durations (`"30s"`, `"2m"`, `"500ms"`),
//! hosts (`[user@]host[:port]`), published ports (`[ADDRESS:]HOSTPORT:PORT[/udp]`), boot
//! limits (`3` or `"25%"`), commands (split as a shell would), the build context source and
//! scalars that become strings. Each parses while the file is read, so a bad value is reported at its line and column.

pub use super::choices::{ContextSource, DeliveryMode};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration: `"30s"`, `"2m"`, `"1h30m"`, `"500ms"`, or a bare integer of seconds (the one
/// grammar of `dhow_proxy_api::duration`, shared with the CLI flags and the proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

/// A duration that must be more than zero (health check interval and timeout, deploy
/// timeout, SSH connect timeout): zero is refused at its line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PosDur(pub Duration);

/// Parse a duration of the shared grammar (zero allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    dhow_proxy_api::duration::parse(s)
}

/// A TOML integer as seconds, within the grammar's limits.
fn from_int(v: i64) -> Result<Duration, String> {
    let secs = u64::try_from(v).map_err(|_| "a duration cannot be negative".to_string())?;
    let d = Duration::from_secs(secs);
    if d > dhow_proxy_api::duration::MAX {
        return Err(format!("bad duration {v}: too long (at most 365000d)"));
    }
    Ok(d)
}

/// Deserialize a string or integer duration with `parse`.
fn deserialize_with<'de, D: Deserializer<'de>>(d: D, nonzero: bool) -> Result<Duration, D::Error> {
    struct V(bool);
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration like \"30s\", \"2m\" or \"500ms\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            let d = parse_duration(v).map_err(E::custom)?;
            if self.0 {
                dhow_proxy_api::duration::parse_nonzero(v).map_err(E::custom)?;
            }
            Ok(d)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            let d = from_int(v).map_err(E::custom)?;
            if self.0 && d.is_zero() {
                return Err(E::custom(format!(
                    "bad duration {v}: must be more than zero"
                )));
            }
            Ok(d)
        }
    }
    d.deserialize_any(V(nonzero))
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_with(d, false).map(Dur)
    }
}

impl<'de> Deserialize<'de> for PosDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_with(d, true).map(PosDur)
    }
}

impl Serialize for PosDur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Dur(self.0).serialize(s)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ms = self.0.as_millis();
        if ms % 1000 == 0 {
            s.serialize_str(&format!("{}s", ms / 1000))
        } else {
            s.serialize_str(&format!("{ms}ms"))
        }
    }
}

/// A host as `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl HostSpec {
    pub fn parse(s: &str) -> Result<HostSpec, String> {
        let bad = || format!("bad host \"{s}\": expected [user@]host[:port]");
        let t = crate::host::ssh::SshTarget::parse(s).ok_or_else(bad)?;
        let valid_host = t
            .host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c));
        let valid_user = t.user.as_deref().is_none_or(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        });
        if !valid_host || !valid_user || s.contains(char::is_whitespace) || t.port == Some(0) {
            return Err(bad());
        }
        Ok(HostSpec {
            user: t.user,
            host: t.host,
            port: t.port,
        })
    }

    pub fn target(&self) -> crate::host::ssh::SshTarget {
        crate::host::ssh::SshTarget {
            user: self.user.clone(),
            host: self.host.clone(),
            port: self.port,
        }
    }
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target())
    }
}

impl<'de> Deserialize<'de> for HostSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HostSpec::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for HostSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// How many hosts boot at once: a number, or a percentage of the hosts (`"25%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Hosts(usize),
    Percent(u8),
}

impl Limit {
    pub fn of(&self, hosts: usize) -> usize {
        match *self {
            Limit::Hosts(n) => n.max(1),
            Limit::Percent(p) => ((hosts * p as usize).div_ceil(100)).max(1),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of hosts or a percentage like \"25%\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Limit, E> {
                if v < 1 {
                    return Err(E::custom("boot limit must be at least 1"));
                }
                Ok(Limit::Hosts(v as usize))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Limit, E> {
                let p = v
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<u8>().ok())
                    .filter(|p| (1..=100).contains(p));
                p.map(Limit::Percent).ok_or_else(|| {
                    E::custom(format!("bad percentage \"{v}\": expected 1% to 100%"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Limit::Hosts(n) => s.serialize_u64(*n as u64),
            Limit::Percent(p) => s.serialize_str(&format!("{p}%")),
        }
    }
}

/// A string, number or boolean, kept as its string form (env values, labels, options).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Split a command string into words the way a POSIX shell would (quotes and backslash
/// escapes; no expansion): `app exec -i "bin/rails console"` is four words.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    shell_words::split(s).map_err(|_| {
        format!(
            "bad command {s:?}: a quote is not closed; quote words with spaces as a shell would: \"bin/rails console\""
        )
    })
}

/// A command: a string (split the way a shell would: quotes and escapes) or an array of
/// arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Cmd(pub Vec<String>);

impl<'de> Deserialize<'de> for Cmd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        match Either::deserialize(d)
            .map_err(|_| de::Error::custom("expected a command string or an array of strings"))?
        {
            Either::One(s) => split_command(&s).map(Cmd).map_err(de::Error::custom),
            Either::Many(v) => Ok(Cmd(v)),
        }
    }
}

/// One value or a list of values (role options like `add-host`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(Scalar),
            Many(Vec<Scalar>),
        }
        match Either::deserialize(d)
            .map_err(|_| de::Error::custom("expected a value or an array of values"))?
        {
            Either::One(s) => Ok(OneOrMany(vec![s.0])),
            Either::Many(v) => Ok(OneOrMany(v.into_iter().map(|s| s.0).collect())),
        }
    }
}

/// A port published on the host: `127.0.0.1:5432 -> 5432/tcp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: String,
}

impl Publish {
    /// `"5432"`, `"15432:5432"`, `"0.0.0.0:5432:5432"`, `"5353/udp"`; 127.0.0.1 unless an
    /// address is given, so a database is not on the internet by accident.
    pub fn parse(s: &str) -> Option<Publish> {
        let (spec, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        if proto != "tcp" && proto != "udp" {
            return None;
        }
        // The address may be IPv6 in brackets: [::1]:5432:5432.
        let (ip, rest) = match spec.strip_prefix('[') {
            Some(r) => {
                let (ip, rest) = r.split_once("]:")?;
                (ip.to_string(), rest)
            }
            None => match spec.matches(':').count() {
                2 => {
                    let (ip, rest) = spec.split_once(':')?;
                    (ip.to_string(), rest)
                }
                _ => ("127.0.0.1".to_string(), spec),
            },
        };
        let (hp, cp) = rest.split_once(':').unwrap_or((rest, rest));
        Some(Publish {
            ip,
            host_port: hp.parse().ok().filter(|p| *p > 0)?,
            container_port: cp.parse().ok().filter(|p| *p > 0)?,
            proto: proto.to_string(),
        })
    }

    pub fn container_key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
}

impl std::fmt::Display for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = if self.ip.contains(':') {
            format!("[{}]", self.ip)
        } else {
            self.ip.clone()
        };
        write!(f, "{ip}:{} -> {}", self.host_port, self.container_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("30 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn zero_and_overflowing_durations_are_refused_where_they_make_no_sense() {
        #[derive(Deserialize)]
        struct T {
            any: Option<Dur>,
            pos: Option<PosDur>,
        }
        let t: T = toml::from_str("any = 0\npos = \"1h30m\"").unwrap();
        assert_eq!(t.any, Some(Dur(Duration::ZERO)));
        assert_eq!(t.pos, Some(PosDur(Duration::from_secs(5400))));
        for bad in [
            "pos = 0",
            "pos = \"0s\"",
            "any = -1",
            "any = 9223372036854775807",
            "any = \"99999999999999h\"",
        ] {
            assert!(toml::from_str::<T>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_strings_split_as_a_shell_would() {
        let c: Cmd = toml::Value::String(r#"bin/rails runner "puts 1" it\'s"#.into())
            .try_into()
            .unwrap();
        assert_eq!(c.0, vec!["bin/rails", "runner", "puts 1", "it's"]);
        assert_eq!(
            split_command("app exec -i --reuse \"bin/rails console\"").unwrap(),
            vec!["app", "exec", "-i", "--reuse", "bin/rails console"]
        );
        assert_eq!(split_command("  a   b ").unwrap(), vec!["a", "b"]);
        assert!(split_command("bin/rails 'console").is_err());
        let arr: Cmd = toml::Value::Array(vec!["a b".into(), "c".into()])
            .try_into()
            .unwrap();
        assert_eq!(arr.0, vec!["a b", "c"]);
    }

    #[test]
    fn hosts() {
        let h = HostSpec::parse("deploy@10.0.0.1:2222").unwrap();
        assert_eq!(
            (h.user.as_deref(), h.host.as_str(), h.port),
            (Some("deploy"), "10.0.0.1", Some(2222))
        );
        assert_eq!(HostSpec::parse("web1").unwrap().to_string(), "web1");
        assert_eq!(HostSpec::parse("[::1]:22").unwrap().host, "::1");
        for bad in ["root@@x", "", "a b", "x:99999", "x:0", "@x", "ho$t"] {
            assert!(HostSpec::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(Limit::Percent(25).of(10), 3);
        assert_eq!(Limit::Percent(1).of(3), 1);
        assert_eq!(Limit::Hosts(2).of(10), 2);
    }

    #[test]
    fn ports_default_to_loopback() {
        let p = Publish::parse("5432").unwrap();
        assert_eq!(p.to_string(), "127.0.0.1:5432 -> 5432/tcp");
        assert_eq!(
            Publish::parse("15432:5432").unwrap().to_string(),
            "127.0.0.1:15432 -> 5432/tcp"
        );
        assert_eq!(
            Publish::parse("0.0.0.0:5432:5432").unwrap().ip,
            "0.0.0.0".to_string()
        );
        assert_eq!(Publish::parse("[::1]:53:53/udp").unwrap().ip, "::1");
        for bad in ["", "x", "0", "1:2:3:4", "5432/sctp", "70000"] {
            assert!(Publish::parse(bad).is_none(), "{bad}");
        }
    }
}
