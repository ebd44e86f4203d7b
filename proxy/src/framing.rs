//! Watches the bytes a client sends, request head by request head, for framing that two HTTP
//! parsers could read differently (both Content-Length and Transfer-Encoding, Transfer-Encoding
//! twice). hyper resolves such requests safely (Transfer-Encoding wins) but hides that it saw
//! them; the proxy refuses them with 400 instead, so they never reach a target. The observer
//! never changes a byte: it follows heads and bodies (fixed length or chunked) to stay aligned
//! with hyper's reading, and stops observing at the first thing it does not understand (an
//! upgrade, a head it cannot parse: hyper then decides alone).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the observer made of one request head, in order of arrival.
pub type Verdicts = Arc<Mutex<VecDeque<Option<&'static str>>>>;

/// A head larger than this is left to hyper (which refuses it with 431).
const MAX_HEAD: usize = 256 * 1024;

enum State {
    Head(Vec<u8>),
    Fixed(u64),
    ChunkSize(Vec<u8>),
    ChunkData(u64),
    Trailers(Vec<u8>),
    /// Not observing any more.
    Opaque,
}

/// Follows a client's byte stream and records a verdict per request head.
pub struct Observer {
    state: State,
    verdicts: Verdicts,
}

/// What the bytes at the start of a read hold.
enum Head {
    /// A complete head (or only blank lines) of this many bytes.
    Done(usize),
    Partial,
    /// Not observing any more.
    Opaque,
}

impl Observer {
    pub fn new(verdicts: Verdicts) -> Observer {
        Observer {
            state: State::Head(Vec::new()),
            verdicts,
        }
    }

    fn push(&self, v: Option<&'static str>) {
        if let Ok(mut q) = self.verdicts.lock() {
            q.push_back(v);
        }
    }

    /// Feed bytes as they are read. One loop over them, however many pipelined requests
    /// they hold: no recursion, and no copy of the bytes after each head.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if let State::Head(buf) = &mut self.state {
                let pending = std::mem::take(buf);
                match self.take_head(pending, data) {
                    Some(rest) => data = rest,
                    None => return,
                }
                continue;
            }
            match &mut self.state {
                State::Opaque => return,
                State::Fixed(left) => {
                    let n = (*left).min(data.len() as u64);
                    *left -= n;
                    data = &data[n as usize..];
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                }
                State::ChunkData(left) => {
                    let n = (*left).min(data.len() as u64);
                    *left -= n;
                    data = &data[n as usize..];
                    if *left == 0 {
                        self.state = State::ChunkSize(Vec::new());
                    }
                }
                State::ChunkSize(buf) => {
                    let Some(i) = data.iter().position(|b| *b == b'\n') else {
                        buf.extend_from_slice(data);
                        if buf.len() > 4096 {
                            self.state = State::Opaque;
                        }
                        return;
                    };
                    buf.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    let line = String::from_utf8_lossy(buf).trim().to_string();
                    if line.is_empty() {
                        // The CRLF after a chunk's data.
                        buf.clear();
                        continue;
                    }
                    let hex = line.split(';').next().unwrap_or("").trim();
                    match u64::from_str_radix(hex, 16) {
                        Ok(0) => self.state = State::Trailers(Vec::new()),
                        Ok(n) => self.state = State::ChunkData(n),
                        Err(_) => self.state = State::Opaque,
                    }
                }
                State::Trailers(buf) => {
                    let Some(i) = data.iter().position(|b| *b == b'\n') else {
                        buf.extend_from_slice(data);
                        if buf.len() > MAX_HEAD {
                            self.state = State::Opaque;
                        }
                        return;
                    };
                    buf.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    if buf == b"\r\n" || buf == b"\n" {
                        self.state = State::Head(Vec::new());
                    } else {
                        buf.clear();
                    }
                }
                State::Head(_) => return,
            }
        }
    }

    /// The bytes after the head that `pending` (an incomplete head kept from earlier reads)
    /// and `data` complete; None when `data` ends inside a head (kept for the next read) or
    /// observing stopped.
    fn take_head<'a>(&mut self, mut pending: Vec<u8>, data: &'a [u8]) -> Option<&'a [u8]> {
        let old = pending.len();
        let parsed = if old == 0 {
            self.head(data)
        } else {
            pending.extend_from_slice(data);
            self.head(&pending)
        };
        match parsed {
            Head::Done(n) => Some(&data[n.saturating_sub(old).min(data.len())..]),
            Head::Partial => {
                if old == 0 {
                    pending.extend_from_slice(data);
                }
                self.state = if pending.len() > MAX_HEAD {
                    State::Opaque
                } else {
                    State::Head(pending)
                };
                None
            }
            Head::Opaque => {
                self.state = State::Opaque;
                None
            }
        }
    }
}

impl Observer {
    /// Parse a head at the start of `buf`; on completion record its verdict and pick the
    /// body state.
    fn head(&mut self, buf: &[u8]) -> Head {
        // Skip the empty lines a client may send between requests.
        let start = buf
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .unwrap_or(buf.len());
        if start == buf.len() {
            self.state = State::Head(Vec::new());
            return Head::Done(buf.len());
        }
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[start..]) {
            Ok(httparse::Status::Partial) => Head::Partial,
            Err(_) => Head::Opaque,
            Ok(httparse::Status::Complete(n)) => {
                let mut te = 0;
                let mut te_chunked = false;
                let mut cl: Option<u64> = None;
                let mut cl_seen = false;
                let mut upgrade = req.method == Some("CONNECT");
                for h in req.headers.iter() {
                    if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        te += 1;
                        te_chunked = String::from_utf8_lossy(h.value)
                            .rsplit(',')
                            .next()
                            .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
                    } else if h.name.eq_ignore_ascii_case("content-length") {
                        cl_seen = true;
                        cl = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse().ok());
                    } else if h.name.eq_ignore_ascii_case("upgrade") {
                        upgrade = true;
                    }
                }
                let verdict = if te > 0 && cl_seen {
                    Some("both Content-Length and Transfer-Encoding are set")
                } else if te > 1 {
                    Some("Transfer-Encoding is set more than once")
                } else {
                    None
                };
                self.push(verdict);
                self.state = if upgrade || verdict.is_some() {
                    // After an upgrade the bytes are not HTTP; after a refused request the
                    // connection closes.
                    State::Opaque
                } else if te > 0 {
                    if te_chunked {
                        State::ChunkSize(Vec::new())
                    } else {
                        State::Opaque
                    }
                } else if cl_seen {
                    match cl {
                        Some(0) => State::Head(Vec::new()),
                        Some(n) => State::Fixed(n),
                        None => State::Opaque,
                    }
                } else {
                    State::Head(Vec::new())
                };
                Head::Done(start + n)
            }
        }
    }
}

/// A stream whose reads are shown to an [`Observer`]. Bytes someone already read from the
/// stream (the fast path, before it handed the connection over) are given back first.
pub struct Observed<S> {
    inner: S,
    observer: Observer,
    read: Vec<u8>,
    at: usize,
}

impl<S> Observed<S> {
    /// `read`: bytes already taken from `inner`, to be read again before it.
    pub fn after(read: Vec<u8>, inner: S, verdicts: Verdicts) -> Observed<S> {
        Observed {
            inner,
            observer: Observer::new(verdicts),
            read,
            at: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Observed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = if this.at < this.read.len() {
            let n = buf.remaining().min(this.read.len() - this.at);
            buf.put_slice(&this.read[this.at..this.at + n]);
            this.at += n;
            if this.at == this.read.len() {
                this.read = Vec::new();
                this.at = 0;
            }
            Poll::Ready(Ok(()))
        } else {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        };
        if let Poll::Ready(Ok(())) = &polled {
            this.observer.feed(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Observed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(chunks: &[&[u8]]) -> Vec<Option<&'static str>> {
        let v: Verdicts = Arc::default();
        let mut o = Observer::new(v.clone());
        for c in chunks {
            o.feed(c);
        }
        let out = v.lock().unwrap().iter().cloned().collect();
        out
    }

    #[test]
    fn follows_pipelined_requests_with_bodies() {
        let stream = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nHost: x\r\n\r\n\
POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n\
GET /d HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        // Whole, and byte by byte.
        let all = verdicts(&[stream]);
        assert_eq!(all.len(), 4, "{all:?}");
        assert_eq!(&all[..3], &[None, None, None]);
        assert!(all[3].is_some());
        let singles: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(verdicts(&singles), all);
    }

    #[test]
    fn thousands_of_pipelined_heads_in_one_read_are_followed_in_one_pass() {
        let one = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let many: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * 5_000)
            .collect();
        let all = verdicts(&[&many]);
        assert_eq!(all.len(), 5_000);
        assert!(all.iter().all(Option::is_none));
    }

    #[test]
    fn body_bytes_that_look_like_a_head_are_not_a_head() {
        let stream = b"POST / HTTP/1.1\r\nContent-Length: 60\r\n\r\nGET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(verdicts(&[&stream[..]]), vec![None]);
    }

    #[test]
    fn stops_at_an_upgrade() {
        let stream = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(verdicts(&[&stream[..]]), vec![None]);
    }

    #[test]
    fn double_transfer_encoding() {
        let stream =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(verdicts(&[&stream[..]])[0].is_some());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, failure_persistence: None, ..Default::default() })]

        /// However the bytes are split into reads, the verdicts are the same, and nothing panics.
        #[test]
        fn verdicts_do_not_depend_on_read_sizes(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..800),
            cuts in proptest::collection::vec(1usize..64, 0..40),
        ) {
            let whole = verdicts(&[&data]);
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut rest = &data[..];
            for c in cuts {
                if rest.is_empty() { break; }
                let n = c.min(rest.len());
                chunks.push(&rest[..n]);
                rest = &rest[n..];
            }
            if !rest.is_empty() { chunks.push(rest); }
            proptest::prop_assert_eq!(verdicts(&chunks), whole);
        }
    }
}
