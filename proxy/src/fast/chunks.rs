//! Following a chunked body (RFC 9112 7.1) on the fast path: where it ends, while its bytes
//! pass through unchanged (or, for an HTTP/1.0 client, only its data, the connection's end
//! delimiting it), and how many data bytes it carried.

/// Longest chunk-size line (with extensions) and trailer section accepted.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Size,
    Extension,
    SizeLf,
    Data(u64),
    DataCr,
    DataLf,
    Trailer,
    Done,
}

/// Follows a chunked body (RFC 9112 7.1) to find where it ends; counts its data bytes.
#[derive(Debug)]
pub struct Chunks {
    state: State,
    size: u64,
    digits: usize,
    line: usize,
    trailers: usize,
    pub data: u64,
}

impl Default for Chunks {
    fn default() -> Self {
        Chunks {
            state: State::Size,
            size: 0,
            digits: 0,
            line: 0,
            trailers: 0,
            data: 0,
        }
    }
}

impl Chunks {
    /// Follow `bytes`; `Ok(Some(n))` when the body ended after its first `n` bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, &'static str> {
        self.follow(bytes, None)
    }

    /// As `feed`, also appending the chunks' data (without their framing) to `data`.
    pub fn follow(
        &mut self,
        bytes: &[u8],
        mut data: Option<&mut Vec<u8>>,
    ) -> Result<Option<usize>, &'static str> {
        const BAD: &str = "the target sent a malformed chunked body";
        let mut i = 0;
        while i < bytes.len() {
            if let State::Data(left) = self.state {
                let n = left.min((bytes.len() - i) as u64);
                if let Some(d) = data.as_deref_mut() {
                    d.extend_from_slice(&bytes[i..i + n as usize]);
                }
                self.data += n;
                i += n as usize;
                self.state = if left == n {
                    State::DataCr
                } else {
                    State::Data(left - n)
                };
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.line += 1;
            if self.line > MAX_LINE {
                return Err(BAD);
            }
            self.state = match self.state {
                State::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                        if self.size > u64::MAX >> 4 {
                            return Err(BAD);
                        }
                        self.size = self.size * 16 + d;
                        self.digits += 1;
                        State::Size
                    }
                    b';' | b' ' | b'\t' if self.digits > 0 => State::Extension,
                    b'\r' if self.digits > 0 => State::SizeLf,
                    _ => return Err(BAD),
                },
                State::Extension => match b {
                    b'\r' => State::SizeLf,
                    b'\n' => return Err(BAD),
                    _ => State::Extension,
                },
                State::SizeLf if b == b'\n' => {
                    let size = std::mem::take(&mut self.size);
                    self.digits = 0;
                    self.line = 0;
                    if size == 0 {
                        State::Trailer
                    } else {
                        State::Data(size)
                    }
                }
                State::DataCr if b == b'\r' => State::DataLf,
                State::DataLf if b == b'\n' => {
                    self.line = 0;
                    State::Size
                }
                State::Trailer => {
                    self.trailers += 1;
                    if self.trailers > MAX_TRAILERS {
                        return Err(BAD);
                    }
                    if b == b'\n' {
                        // An empty line (just CRLF) ends the trailer section and the body;
                        // `digits` counts a trailer line's characters.
                        let empty = self.digits == 0;
                        self.line = 0;
                        self.digits = 0;
                        if empty {
                            self.state = State::Done;
                            return Ok(Some(i));
                        }
                    } else if b != b'\r' {
                        self.digits += 1;
                    }
                    State::Trailer
                }
                State::Done => return Ok(Some(i - 1)),
                _ => return Err(BAD),
            };
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_data_is_gathered_however_the_bytes_are_split() {
        let body = b"5;x=y\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\nNEXT";
        for split in 0..body.len() {
            let (mut c, mut data) = (Chunks::default(), Vec::new());
            let end = match c.follow(&body[..split], Some(&mut data)).unwrap() {
                Some(n) => n,
                None => split + c.follow(&body[split..], Some(&mut data)).unwrap().unwrap(),
            };
            assert_eq!(end, body.len() - 4, "split at {split}");
            assert_eq!(data, b"hello0123456789abcdef", "split at {split}");
        }
    }

    #[test]
    fn chunks_end_where_the_body_ends_however_the_bytes_are_split() {
        let body = b"5;x=y\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\nNEXT";
        let end = body.len() - 4;
        let mut c = Chunks::default();
        assert_eq!(c.feed(body), Ok(Some(end)));
        assert_eq!(c.data, 21);
        for split in 1..body.len() {
            let mut c = Chunks::default();
            let first = c.feed(&body[..split]).unwrap();
            let got = match first {
                Some(n) => n,
                None => split + c.feed(&body[split..]).unwrap().unwrap(),
            };
            assert_eq!(got, end, "split at {split}");
        }
        let mut c = Chunks::default();
        assert_eq!(c.feed(b"0\r\n\r\n"), Ok(Some(5)));
        let mut c = Chunks::default();
        assert_eq!(c.feed(b"0\r\na\n\r\n"), Ok(Some(7)));
        for bad in [&b"zz\r\n"[..], b"5\r\nhelloXX", b"\r\n", b"5\nhello\r\n"] {
            assert!(
                Chunks::default().feed(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
