//! The `Range` header of a blob request (`bytes=N-`, `bytes=N-M`, `bytes=-N`), so a host's
//! engine that lost its connection mid-blob asks for the rest only. One range per request
//! (what the engine sends); anything else is answered with the whole blob.

/// What to send of a blob of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// No (usable) Range header: the whole blob, 200.
    Whole,
    /// Bytes `start..=end`, 206 with `Content-Range: bytes start-end/size`.
    Part { start: u64, end: u64 },
    /// Outside the blob: 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Parse `header` against a blob of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> Span {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Span::Whole;
    };
    if spec.contains(',') {
        return Span::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Span::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        (false, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return Span::Whole;
            };
            let end = if b.is_empty() {
                Some(size.saturating_sub(1))
            } else {
                b.parse::<u64>().ok().map(|e| e.min(size.saturating_sub(1)))
            };
            end.map(|end| (start, end))
        }
        (true, false) => b
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| (size.saturating_sub(n), size.saturating_sub(1))),
        (true, true) => None,
    };
    match parsed {
        None => Span::Whole,
        Some((start, end)) if size == 0 || start >= size || end < start => Span::Unsatisfiable,
        Some((start, end)) => Span::Part { start, end },
    }
}

impl Span {
    /// The status code, the `Content-Range` header (if any) and the byte count to send.
    pub fn answer(self, size: u64) -> (u16, Option<String>, u64) {
        match self {
            Span::Whole => (200, None, size),
            Span::Part { start, end } => (
                206,
                Some(format!("bytes {start}-{end}/{size}")),
                end - start + 1,
            ),
            Span::Unsatisfiable => (416, Some(format!("bytes */{size}")), 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_closed_and_suffix_ranges() {
        assert_eq!(parse(None, 100), Span::Whole);
        assert_eq!(
            parse(Some("bytes=40-"), 100),
            Span::Part { start: 40, end: 99 }
        );
        assert_eq!(
            parse(Some("bytes=0-9"), 100),
            Span::Part { start: 0, end: 9 }
        );
        assert_eq!(
            parse(Some("bytes=90-500"), 100),
            Span::Part { start: 90, end: 99 }
        );
        assert_eq!(
            parse(Some("bytes=-10"), 100),
            Span::Part { start: 90, end: 99 }
        );
        assert_eq!(
            parse(Some("bytes=-500"), 100),
            Span::Part { start: 0, end: 99 }
        );
        assert_eq!(
            Span::Part { start: 40, end: 99 }.answer(100),
            (206, Some("bytes 40-99/100".into()), 60)
        );
    }

    #[test]
    fn outside_the_blob_is_416_and_nonsense_is_the_whole_blob() {
        assert_eq!(parse(Some("bytes=100-"), 100), Span::Unsatisfiable);
        assert_eq!(parse(Some("bytes=9-3"), 100), Span::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Span::Unsatisfiable);
        assert_eq!(
            Span::Unsatisfiable.answer(100),
            (416, Some("bytes */100".into()), 0)
        );
        for h in [
            "items=0-1",
            "bytes=a-",
            "bytes=0-1,5-6",
            "bytes=-",
            "bytes=-0",
        ] {
            assert_eq!(parse(Some(h), 100), Span::Whole, "{h}");
        }
        assert_eq!(Span::Whole.answer(100), (200, None, 100));
    }
}
