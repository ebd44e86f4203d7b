//! Whole lines out of a stream of output chunks: the engine frames output by write, not by
//! line, so a line may arrive in two chunks (or several lines in one). Each complete line is
//! handed on as soon as its newline arrives; the unfinished rest waits for the next chunk.

/// Joins chunks and hands on complete lines.
#[derive(Debug, Default)]
pub struct Lines {
    partial: String,
}

impl Lines {
    /// Add a chunk; call `on_line` for every line it completes (without the newline).
    pub fn push(&mut self, chunk: &str, mut on_line: impl FnMut(&str)) {
        self.partial.push_str(chunk);
        while let Some(at) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=at).collect();
            on_line(line.trim_end_matches(['\n', '\r']));
        }
    }

    /// The stream ended: hand on a last line that had no newline.
    pub fn finish(&mut self, mut on_line: impl FnMut(&str)) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            on_line(rest.trim_end_matches('\r'));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_split_over_chunks_comes_out_once_whole() {
        let mut got = Vec::new();
        let mut l = Lines::default();
        l.push("one\ntw", |s| got.push(s.to_string()));
        assert_eq!(got, ["one"]);
        l.push("o\r\nthree\nfo", |s| got.push(s.to_string()));
        assert_eq!(got, ["one", "two", "three"]);
        l.finish(|s| got.push(s.to_string()));
        assert_eq!(got, ["one", "two", "three", "fo"]);
        l.finish(|s| got.push(s.to_string()));
        assert_eq!(got.len(), 4);
    }
}
