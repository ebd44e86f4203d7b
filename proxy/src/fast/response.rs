//! The fast path's response side: parse a target's response head, write the head the client
//! gets (hop-by-hop headers and the ones its `Connection` names removed, X-Request-Id set, `connection: close` when this is the
//! connection's last response, `keep-alive` for an HTTP/1.0 client that keeps it), tell how
//! the body is delimited (a chunked one is followed by `chunks.rs`). A transfer coding other
//! than plain chunked is refused (502, by `policy`): the body would lose its coding.

use super::header::{tokens, write_line};
use crate::policy::{self, HeaderClass};

/// Response headers the fast path parses; a target sending more gets a 502.
const MAX_HEADERS: usize = 100;

/// How a response body ends.
#[derive(Debug, PartialEq)]
pub enum Framing {
    Empty,
    Length(u64),
    /// Passed on as it came, followed by [`super::chunks::Chunks`].
    Chunked,
    /// The target closes the connection at its end; so does the proxy toward the client.
    UntilClose,
}

/// A final response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// Bytes of the target's head.
    pub len: usize,
    pub framing: Framing,
    /// The target keeps the connection open after this response.
    pub reusable: bool,
    /// The client connection closes after this response.
    pub close_client: bool,
    /// A chunked body goes to an HTTP/1.0 client: only its data is passed on.
    pub dechunk: bool,
}

/// What the client side asks of a response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask {
    /// The request was HEAD: no body follows, whatever the head says.
    pub head_request: bool,
    /// The client connection closes after this response.
    pub close: bool,
    /// The client speaks HTTP/1.0.
    pub http10: bool,
}

#[derive(Debug)]
pub enum Parsed {
    Partial,
    /// An informational (1xx) head of this many bytes, not passed on (as on the general path).
    Informational(usize),
    Final(Head),
    Bad(&'static str),
}

/// Parse the target's bytes; for a final head write the client's head into `out`.
pub fn parse(buf: &[u8], ask: Ask, id: &str, out: &mut Vec<u8>) -> Parsed {
    let Ask {
        head_request,
        close,
        http10,
    } = ask;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Bad("the target sent a malformed response head"),
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Parsed::Bad("the target sent a malformed response head");
    };
    match status {
        101 => return Parsed::Bad("the target switched protocols without being asked to"),
        100..=199 => return Parsed::Informational(len),
        _ => {}
    }
    let mut length: Option<u64> = None;
    let mut transfer: Option<bool> = None;
    let mut target_closes = version == 0;
    let mut listed = false;
    let mut classes = [HeaderClass::Other; MAX_HEADERS];
    for (h, class) in resp.headers.iter().zip(classes.iter_mut()) {
        *class = policy::classify(h.name);
        if *class == HeaderClass::ContentLength {
            let n = std::str::from_utf8(h.value)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok());
            match (n, length) {
                (None, _) => return Parsed::Bad("the target sent an invalid Content-Length"),
                (Some(n), Some(l)) if n != l => {
                    return Parsed::Bad("the target sent conflicting Content-Length headers")
                }
                (Some(n), _) => length = Some(n),
            }
        } else if *class == HeaderClass::TransferEncoding {
            if transfer.is_some() || !policy::response_coding_ok(h.value) {
                return Parsed::Bad(
                    "the target sent a transfer coding other than chunked, which the proxy does not pass on",
                );
            }
            transfer = Some(true);
        } else if *class == HeaderClass::Connection {
            listed |= policy::names_headers(h.value);
            for token in tokens(h.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    target_closes = true;
                } else if version == 0 && token.eq_ignore_ascii_case(b"keep-alive") {
                    target_closes = false;
                }
            }
        }
    }
    let framing = if head_request || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (transfer, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(0)) => Framing::Empty,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    // An HTTP/1.0 client cannot read chunks: it gets the data, ended by the connection's end.
    let dechunk = http10 && framing == Framing::Chunked;
    let close_client = close || framing == Framing::UntilClose || dechunk;

    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    // httparse reads exactly three digits.
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]);
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let named = |h: &httparse::Header<'_>, class| {
        resp.headers.iter().zip(classes).any(|(c, cc)| {
            cc == HeaderClass::Connection && policy::names(c.value, h.name.as_bytes(), class)
        })
    };
    for (h, class) in resp.headers.iter().zip(classes) {
        // Framing is the proxy's own when the target sent a Transfer-Encoding.
        if policy::replaced_in_response(class)
            || (transfer.is_some() && class == HeaderClass::ContentLength)
            || (listed && named(h, class))
        {
            continue;
        }
        write_line(out, h.name.as_bytes(), h.value);
    }
    if transfer == Some(true) && !head_request && !dechunk {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"x-request-id: ");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\r\n");
    if close_client {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Parsed::Final(Head {
        status,
        len,
        reusable: !target_closes && framing != Framing::UntilClose,
        framing,
        close_client,
        dechunk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str, head_request: bool, close: bool) -> (Head, String) {
        let mut out = Vec::new();
        let ask = Ask {
            head_request,
            close,
            http10: false,
        };
        match parse(raw.as_bytes(), ask, "id-1", &mut out) {
            Parsed::Final(h) => (h, String::from_utf8(out).unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn length_chunked_and_close_delimited_bodies() {
        let (h, out) = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX-Request-Id: theirs\r\n\r\nhello", false, false);
        assert_eq!(
            (h.status, h.framing, h.reusable, h.close_client),
            (200, Framing::Length(5), true, false)
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nx-request-id: id-1\r\n\r\n"
        );
        let (h, out) = head(
            "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
            false,
            true,
        );
        assert_eq!((h.framing, h.close_client), (Framing::Chunked, true));
        assert!(
            out.contains("transfer-encoding: chunked\r\n") && !out.contains("Content-Length"),
            "{out}"
        );
        assert!(out.ends_with("connection: close\r\n\r\n"), "{out}");
        let (h, out) = head(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
            false,
            false,
        );
        assert_eq!(
            (h.framing, h.reusable, h.close_client),
            (Framing::UntilClose, false, true)
        );
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        let (h, _) = head("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", true, false);
        assert_eq!((h.framing, h.reusable), (Framing::Empty, true));
        let (h, _) = head(
            "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
            false,
            false,
        );
        assert_eq!((h.framing, h.reusable), (Framing::Empty, false));
    }

    #[test]
    fn http10_clients_hear_keep_alive_and_get_chunked_bodies_as_data() {
        let ask = Ask {
            http10: true,
            ..Ask::default()
        };
        let mut out = Vec::new();
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let Parsed::Final(h) = parse(raw.as_bytes(), ask, "i", &mut out) else {
            panic!()
        };
        assert!((!h.close_client && !h.dechunk && h.reusable));
        assert!(String::from_utf8_lossy(&out).ends_with("connection: keep-alive\r\n\r\n"));
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let Parsed::Final(h) = parse(raw.as_bytes(), ask, "i", &mut out) else {
            panic!()
        };
        assert!(h.dechunk && h.close_client && h.reusable, "{h:?}");
        let head = String::from_utf8_lossy(&out).to_ascii_lowercase();
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert!(head.ends_with("connection: close\r\n\r\n"), "{head}");
    }

    #[test]
    fn bad_and_informational_heads() {
        let mut out = Vec::new();
        let mut p = |raw: &str| parse(raw.as_bytes(), Ask::default(), "i", &mut out);
        assert!(matches!(
            p("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Parsed::Bad(_)
        ));
        assert!(matches!(
            p("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            Parsed::Bad(_)
        ));
        assert!(matches!(
            p("HTTP/1.1 101 Switching\r\n\r\n"),
            Parsed::Bad(_)
        ));
        assert!(
            matches!(p("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1"), Parsed::Informational(n) if n == 40)
        );
        assert!(matches!(
            p("HTTP/1.1 200 OK\r\nContent-Le"),
            Parsed::Partial
        ));
        assert!(matches!(p("garbage\r\n\r\n"), Parsed::Bad(_)));
    }
}
