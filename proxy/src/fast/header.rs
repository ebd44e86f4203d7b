//! Byte helpers for the fast path's heads: the comma-separated tokens of a header value and
//! writing one header line. Which header a name is comes from `policy::classify`; the token
//! rule itself is `policy`'s.

pub use crate::policy::tokens;

/// Append `name: value` and its line end to a head being written.
#[inline]
pub fn write_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.push(b':');
    out.push(b' ');
    out.extend_from_slice(value);
    out.push(b'\r');
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_split_and_trimmed() {
        let got: Vec<&[u8]> = tokens(b"close ,  Upgrade,").collect();
        assert_eq!(got, [&b"close"[..], b"Upgrade", b""]);
    }
}
