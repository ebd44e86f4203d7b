//! The one duration grammar of dhow: the config, the CLI flags and the proxy's flags all parse
//! with [`parse`]. A duration is a bare whole number of seconds (`10`), or one or more
//! `<whole number><unit>` terms (`500ms`, `30s`, `2m`, `1h30m`, `1h 30m`, `2d`) with the units
//! `ms`, `s`, `m`, `h` and `d`; the terms are added up by the `humantime` crate. Nothing
//! negative, fractional or unitless-but-spaced; nothing longer than [`MAX`], so no value can
//! overflow a deadline later. [`parse_nonzero`] also refuses zero, for intervals and timeouts
//! where zero makes no sense.

use std::time::Duration;

/// The longest duration accepted anywhere: 365000 days, about a thousand years ("never" in
/// practice; deadlines and millisecond counts computed from it never overflow).
pub const MAX: Duration = Duration::from_secs(365_000 * 24 * 3600);

/// The units a term may have.
const UNITS: &[&str] = &["ms", "s", "m", "h", "d"];

/// The example every error ends with.
const EXPECTED: &str =
    "expected e.g. \"500ms\", \"30s\", \"2m\", \"1h30m\" or a whole number of seconds";

/// Parse a duration (zero allowed).
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration: {EXPECTED}"));
    }
    let d = if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| too_long(text))?
    } else {
        check_terms(text, s)?;
        humantime::parse_duration(s).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(text),
            e => format!("bad duration {text:?}: {e}; {EXPECTED}"),
        })?
    };
    if d > MAX {
        return Err(too_long(text));
    }
    Ok(d)
}

/// Parse a duration that must be more than zero (an interval, a timeout).
pub fn parse_nonzero(text: &str) -> Result<Duration, String> {
    let d = parse(text)?;
    if d.is_zero() {
        return Err(format!(
            "bad duration {text:?}: must be more than zero; {EXPECTED}"
        ));
    }
    Ok(d)
}

fn too_long(text: &str) -> String {
    format!("bad duration {text:?}: too long (at most 365000d)")
}

/// Every term is digits then one of [`UNITS`] (spaces between terms allowed).
fn check_terms(text: &str, s: &str) -> Result<(), String> {
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("bad duration {text:?}: {EXPECTED}"));
        }
        let after = &rest[digits..];
        let unit_len = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &after[..unit_len];
        if !UNITS.contains(&unit) {
            return Err(if unit.is_empty() {
                format!("bad duration {text:?}: a number without a unit; {EXPECTED}")
            } else {
                format!(
                    "bad duration {text:?}: unknown unit {unit:?} (use ms, s, m, h or d); \
                     {EXPECTED}"
                )
            });
        }
        rest = after[unit_len..].trim_start();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        let ok = [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h 30m", Duration::from_secs(5400)),
            ("3d", Duration::from_secs(3 * 86400)),
            ("10", Duration::from_secs(10)),
            (" 7s ", Duration::from_secs(7)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("365000d", MAX),
            ("100000d", Duration::from_secs(100_000 * 86400)),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_everything_else_without_panicking() {
        for bad in [
            "",
            "  ",
            "-1s",
            "-1",
            "1.5s",
            "5 parsecs",
            "30 parsecs",
            "3w",
            "ms",
            "s",
            "1h30",
            "10 20",
            "99999999999999h",
            "99999999999999999999999",
            "18446744073709551616s",
            "365001d",
            "1d1ms1y",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("duration"), "{bad}: {err}");
        }
        assert!(parse("99999999999999h").unwrap_err().contains("too long"));
    }

    #[test]
    fn nonzero_refuses_zero() {
        assert!(parse_nonzero("0s").unwrap_err().contains("more than zero"));
        assert!(parse_nonzero("0").is_err());
        assert_eq!(parse_nonzero("1ms"), Ok(Duration::from_millis(1)));
    }
}
