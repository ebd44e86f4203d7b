//! `.dockerignore` matching with Docker's semantics, so the build context dhow sends is the
//! one `docker build` would send.
//!
//! Rules (as in moby's `patternmatcher`): one pattern per line, `#` starts a comment line,
//! blank lines are skipped; patterns are cleaned (`./a//b/` is `a/b`) and anchored at the
//! context root (a leading `/` is dropped). `*` matches any run of characters except `/`,
//! `?` one character except `/`, `[...]` a character class (`^` negates), `\` escapes the next
//! character, `**` any number of path segments (including none). A line starting with `!`
//! re-includes what earlier lines excluded. Later lines win. A pattern that matches a
//! directory also matches everything inside it.

/// One compiled pattern piece.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A literal character.
    Lit(char),
    /// `?`: any one character except `/`.
    Any,
    /// `*`: any run of characters except `/`.
    Star,
    /// `**/` or `**` in the middle: nothing, or any string that ends with `/`.
    DeepDirs,
    /// `**` at the end: anything at all.
    DeepAll,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern text, for messages.
    text: String,
    exclusion: bool,
    tokens: Vec<Token>,
}

/// The patterns of one `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Parse the text of a `.dockerignore` file. Invalid patterns (an unclosed `[`) are an
    /// error naming the line.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let mut patterns = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                return Err(format!("line {}: `!` without a pattern", index + 1));
            }
            let cleaned = clean(body);
            let tokens = compile(&cleaned)
                .map_err(|e| format!("line {}: pattern `{}`: {e}", index + 1, body))?;
            patterns.push(Pattern {
                text: cleaned,
                exclusion,
                tokens,
            });
        }
        Ok(Matcher { patterns })
    }

    /// True when the file has no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some line starts with `!`: an excluded directory may then still hold files
    /// to send, so it has to be walked.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left out of the
    /// context. A pattern matches a path when it matches the path or one of its parent
    /// directories; the last matching line decides.
    pub fn excludes(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./").trim_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // An inclusion can only change an unmatched path, an exception a matched one.
            if pattern.exclusion != excluded {
                continue;
            }
            let mut hit = matches(&pattern.tokens, path);
            if !hit && parts.len() > 1 {
                for depth in 1..parts.len() {
                    if matches(&pattern.tokens, &parts[..depth].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                excluded = !pattern.exclusion;
            }
        }
        excluded
    }

    /// The cleaned pattern lines, in order (for messages and tests).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exclusion {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }
}

/// Lexically clean a pattern like Go's `filepath.Clean`, then drop a leading `/`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !pattern.starts_with('/') {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn compile(pattern: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    tokens.push(Token::DeepAll);
                } else {
                    tokens.push(Token::DeepDirs);
                }
                continue;
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::Any),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(c) => tokens.push(Token::Lit(*c)),
                    None => return Err("ends with a lone `\\`".to_string()),
                }
            }
            '[' => {
                let (token, next) = compile_class(&chars, i + 1)?;
                tokens.push(token);
                i = next;
                continue;
            }
            c => tokens.push(Token::Lit(c)),
        }
        i += 1;
    }
    Ok(tokens)
}

/// Compile a character class starting just after `[`; returns the token and the index
/// after the closing `]`.
fn compile_class(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = match chars.get(i) {
            None => return Err("`[` without a closing `]`".to_string()),
            Some(']') if !first => return Ok((Token::Class { negated, ranges }, i + 1)),
            Some('\\') => {
                i += 1;
                *chars
                    .get(i)
                    .ok_or_else(|| "`[` without a closing `]`".to_string())?
            }
            Some(c) => *c,
        };
        first = false;
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            let end = chars[i + 2];
            if end < c {
                return Err(format!("bad range `{c}-{end}`"));
            }
            ranges.push((c, end));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
}

fn matches(tokens: &[Token], path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    match_at(tokens, &chars)
}

fn match_at(tokens: &[Token], s: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match first {
        Token::Lit(c) => s.first() == Some(c) && match_at(rest, &s[1..]),
        Token::Any => s.first().is_some_and(|c| *c != '/') && match_at(rest, &s[1..]),
        Token::Class { negated, ranges } => {
            s.first().is_some_and(|c| {
                let inside = ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
                inside != *negated
            }) && match_at(rest, &s[1..])
        }
        Token::Star => {
            let mut n = 0;
            loop {
                if match_at(rest, &s[n..]) {
                    return true;
                }
                if n >= s.len() || s[n] == '/' {
                    return false;
                }
                n += 1;
            }
        }
        Token::DeepDirs => {
            if match_at(rest, s) {
                return true;
            }
            (0..s.len()).any(|i| s[i] == '/' && match_at(rest, &s[i + 1..]))
        }
        Token::DeepAll => (0..=s.len()).any(|i| match_at(rest, &s[i..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Matcher {
        Matcher::parse(text).unwrap()
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let matcher = m("# a comment\n\n   \nsecret.txt\n");
        assert_eq!(matcher.patterns(), vec!["secret.txt"]);
        assert!(matcher.excludes("secret.txt"));
        assert!(!matcher.excludes("# a comment"));
    }

    #[test]
    fn patterns_are_anchored_at_the_root() {
        let matcher = m("secret.txt\n/build\n");
        assert!(matcher.excludes("secret.txt"));
        assert!(!matcher.excludes("sub/secret.txt"));
        assert!(matcher.excludes("build"));
        assert!(matcher.excludes("build/out.o"));
        assert!(!matcher.excludes("src/build"));
    }

    #[test]
    fn star_and_question_mark_stay_within_one_segment() {
        let matcher = m("*.log\nsrc/?.tmp\n");
        assert!(matcher.excludes("debug.log"));
        assert!(!matcher.excludes("logs/debug.log"));
        assert!(matcher.excludes("src/a.tmp"));
        assert!(!matcher.excludes("src/ab.tmp"));
        assert!(!matcher.excludes("src/x/a.tmp"));
        let star_dir = m("*/temp*\n");
        assert!(star_dir.excludes("somedir/temporary.txt"));
        assert!(!star_dir.excludes("a/b/temporary.txt"));
    }

    #[test]
    fn double_star_crosses_segments() {
        let matcher = m("**/*.go\n");
        assert!(matcher.excludes("main.go"));
        assert!(matcher.excludes("a/b/c/main.go"));
        assert!(!matcher.excludes("a/b/main.rs"));
        let tail = m("vendor/**\n");
        assert!(tail.excludes("vendor/a/b"));
        assert!(tail.excludes("vendor/x"));
        let mid = m("a/**/z\n");
        assert!(mid.excludes("a/z"));
        assert!(mid.excludes("a/b/c/z"));
        assert!(!mid.excludes("a/b/c/y"));
    }

    #[test]
    fn character_classes_and_escapes() {
        let matcher = m("file[0-9].txt\n[^a]b\nstar\\*\n");
        assert!(matcher.excludes("file3.txt"));
        assert!(!matcher.excludes("filex.txt"));
        assert!(matcher.excludes("cb"));
        assert!(!matcher.excludes("ab"));
        assert!(matcher.excludes("star*"));
        assert!(!matcher.excludes("starry"));
        assert!(Matcher::parse("bad[\n").is_err());
    }

    #[test]
    fn exceptions_and_later_lines_win() {
        let matcher = m("*.md\n!README.md\n");
        assert!(matcher.excludes("CHANGES.md"));
        assert!(!matcher.excludes("README.md"));
        let again = m("*.md\n!README.md\nREADME.md\n");
        assert!(again.excludes("README.md"));
        assert!(matcher.has_exceptions());
        assert!(!m("a\n").has_exceptions());
    }

    #[test]
    fn an_excluded_directory_excludes_its_contents_unless_excepted() {
        let matcher = m("docs\n!docs/keep.txt\n");
        assert!(matcher.excludes("docs"));
        assert!(matcher.excludes("docs/drop.txt"));
        assert!(matcher.excludes("docs/sub/deep.txt"));
        assert!(!matcher.excludes("docs/keep.txt"));
    }

    #[test]
    fn patterns_are_cleaned() {
        let matcher = m("./a//b/\n/c/../d\n");
        assert_eq!(matcher.patterns(), vec!["a/b", "d"]);
        assert!(matcher.excludes("a/b/file"));
        assert!(matcher.excludes("d"));
        assert!(!matcher.excludes("c"));
    }
}
