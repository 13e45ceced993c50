//! The regular expressions of lvm2's selections (`=~`, `!~`), with the
//! syntax and the quirks of libdevmapper's own matcher: `.`, `[...]` and
//! `[^...]` sets, `*`, `+`, `?`, `|`, groups, `^` and `$` as the start and
//! end of the value, `\n`, `\r`, `\t` and `\x` escapes. A pattern matches
//! when it matches any part of the value.
//!
//! libdevmapper parses the pattern wrapped as `(.*(PATTERN)<target>)`, so an
//! unbalanced pattern changes how the wrapper parses, and which messages it
//! prints; this parser does the same. Matching runs over position sets
//! (no backtracking): time is bounded by the pattern size times the square
//! of the value length.

/// A symbol of the matched sequence: a byte, or one of the markers.
type Sym = u16;
/// The start of the value (`^`).
const HAT: Sym = 256;
/// The end of the value (`$`).
const DOLLAR: Sym = 257;
/// The wrapper's end marker: reaching it means the pattern matched.
const TARGET: Sym = 258;
const NSYMS: usize = 259;
/// Deepest nesting of groups and alternatives parsed: far beyond any real
/// pattern, and it bounds the parser's recursion (and the matcher's, which
/// follows the tree).
const MAX_NESTING: usize = 200;

#[derive(Clone)]
struct Set(Vec<bool>);

impl Set {
    fn none() -> Set {
        Set(vec![false; NSYMS])
    }
    /// Every symbol but NUL (and the wrapper's end marker, which only the
    /// wrapper itself names).
    fn all_but_zero() -> Set {
        let mut s = Set(vec![true; NSYMS]);
        s.0[0] = false;
        s.0[usize::from(TARGET)] = false;
        s
    }
    fn one(c: Sym) -> Set {
        let mut s = Set::none();
        s.0[usize::from(c)] = true;
        s
    }
}

#[derive(Clone)]
enum Node {
    Chars(Set),
    /// A sequence (kept flat: a long pattern is a long list, not a deep
    /// tree).
    Cat(Vec<Node>),
    Or(Box<Node>, Box<Node>),
    Star(Box<Node>),
    Plus(Box<Node>),
    Quest(Box<Node>),
}

/// Token types as the tokenizer reports them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Chars,
    Open,
    Close,
    Star,
    Plus,
    Quest,
    Bar,
    End,
}

struct Parser<'a> {
    src: &'a [Sym],
    at: usize,
    tok: Tok,
    set: Set,
    log: Vec<String>,
}

impl Parser<'_> {
    fn next(&mut self) {
        let src = self.src;
        let Some(&c) = src.get(self.at) else {
            self.tok = Tok::End;
            return;
        };
        let lit = |c: Sym| match c {
            x if x == Sym::from(b'n') => Sym::from(b'\n'),
            x if x == Sym::from(b'r') => Sym::from(b'\r'),
            x if x == Sym::from(b't') => Sym::from(b'\t'),
            x => x,
        };
        match c {
            x if x == Sym::from(b'[') => {
                let mut p = self.at + 1;
                let neg = src.get(p) == Some(&Sym::from(b'^'));
                let mut set = if neg {
                    Set::all_but_zero()
                } else {
                    Set::none()
                };
                if neg {
                    p += 1;
                }
                let mut last: Option<Sym> = None;
                while p < src.len() && src[p] != Sym::from(b']') {
                    let mut range = false;
                    let ch;
                    if src[p] == Sym::from(b'\\') {
                        p += 1;
                        ch = src.get(p).map_or(0, |&c| lit(c));
                    } else if src[p] == Sym::from(b'-') && last.is_some() {
                        range = true;
                        p += 1;
                        let Some(&c) = src.get(p) else {
                            self.log.push("Incomplete rangespecification".into());
                            self.tok = Tok::End;
                            return;
                        };
                        ch = c;
                    } else {
                        ch = src[p];
                    }
                    let (lo, hi) = match (range, last) {
                        (true, Some(l)) => (l.min(ch), l.max(ch)),
                        _ => (ch, ch),
                    };
                    for x in lo..=hi {
                        if x == TARGET {
                            continue;
                        }
                        if let Some(b) = set.0.get_mut(usize::from(x)) {
                            *b = !neg;
                        }
                    }
                    p += 1;
                    last = Some(ch);
                }
                if p >= src.len() {
                    self.tok = Tok::End;
                    self.at = src.len();
                    return;
                }
                self.tok = Tok::Chars;
                self.set = set;
                self.at = p + 1;
            }
            x if x == Sym::from(b'(') => self.special(Tok::Open),
            x if x == Sym::from(b')') => self.special(Tok::Close),
            x if x == Sym::from(b'*') => self.special(Tok::Star),
            x if x == Sym::from(b'+') => self.special(Tok::Plus),
            x if x == Sym::from(b'?') => self.special(Tok::Quest),
            x if x == Sym::from(b'|') => self.special(Tok::Bar),
            x if x == Sym::from(b'^') => self.chars(Set::one(HAT), 1),
            x if x == Sym::from(b'$') => self.chars(Set::one(DOLLAR), 1),
            x if x == Sym::from(b'.') => {
                let mut s = Set::all_but_zero();
                s.0[usize::from(b'\n')] = false;
                s.0[usize::from(b'\r')] = false;
                self.chars(s, 1);
            }
            x if x == Sym::from(b'\\') => match src.get(self.at + 1) {
                None => {
                    self.log
                        .push("Badly quoted character at end of expression".into());
                    self.tok = Tok::End;
                }
                Some(&c) => self.chars(Set::one(lit(c)), 2),
            },
            c => self.chars(Set::one(c), 1),
        }
    }

    fn special(&mut self, t: Tok) {
        self.tok = t;
        self.at += 1;
    }

    fn chars(&mut self, s: Set, len: usize) {
        self.tok = Tok::Chars;
        self.set = s;
        self.at += len;
    }

    fn term(&mut self, depth: usize) -> Option<Node> {
        match self.tok {
            Tok::Chars => {
                let n = Node::Chars(self.set.clone());
                self.next();
                Some(n)
            }
            Tok::Open => {
                self.next();
                let n = self.or_term(depth + 1);
                if self.tok != Tok::Close {
                    self.log.push("missing ')' in regular expression".into());
                    return None;
                }
                self.next();
                n
            }
            _ => None,
        }
    }

    fn closure(&mut self, depth: usize) -> Option<Node> {
        let mut l = self.term(depth)?;
        loop {
            // A repeat of a repeat is one repeat (`a**` is `a*`, `a+?` is
            // `a*`), which keeps the tree shallow.
            l = match (self.tok, l) {
                (Tok::Star | Tok::Plus | Tok::Quest, Node::Star(x)) => Node::Star(x),
                (Tok::Star, Node::Plus(x) | Node::Quest(x)) => Node::Star(x),
                (Tok::Plus, Node::Plus(x)) => Node::Plus(x),
                (Tok::Plus | Tok::Quest, Node::Quest(x)) if self.tok == Tok::Quest => {
                    Node::Quest(x)
                }
                (Tok::Plus | Tok::Quest, Node::Quest(x) | Node::Plus(x)) => Node::Star(x),
                (Tok::Star, x) => Node::Star(Box::new(x)),
                (Tok::Plus, x) => Node::Plus(Box::new(x)),
                (Tok::Quest, x) => Node::Quest(Box::new(x)),
                (_, x) => return Some(x),
            };
            self.next();
        }
    }

    fn cat_term(&mut self, depth: usize) -> Option<Node> {
        // A chain of terms, built right to left as libdevmapper does; a
        // term that fails to parse ends the chain.
        let mut parts = vec![self.closure(depth)?];
        while self.tok != Tok::Bar {
            match self.closure(depth) {
                Some(n) => parts.push(n),
                None => break,
            }
        }
        if parts.len() == 1 {
            parts.pop()
        } else {
            Some(Node::Cat(parts))
        }
    }

    fn or_term(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_NESTING {
            // Far deeper than any real pattern: refuse rather than recurse.
            self.log.push("Parse error in regex".into());
            return None;
        }
        let l = self.cat_term(depth)?;
        if self.tok != Tok::Bar {
            return Some(l);
        }
        self.next();
        match self.or_term(depth + 1) {
            Some(r) => Some(Node::Or(Box::new(l), Box::new(r))),
            None => {
                self.log.push("Badly formed 'or' expression".into());
                None
            }
        }
    }
}

/// A compiled selection regex.
#[derive(Clone)]
pub struct Regex {
    root: Node,
}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Regex")
    }
}

impl Regex {
    /// Compiles `pattern`. On failure, the lines libdevmapper logs (the last
    /// one `Couldn't parse regex`).
    pub fn new(pattern: &str) -> Result<Regex, Vec<String>> {
        let mut src: Vec<Sym> = "(.*(".bytes().map(Sym::from).collect();
        src.extend(pattern.bytes().map(Sym::from));
        src.push(Sym::from(b')'));
        src.push(TARGET);
        src.push(Sym::from(b')'));
        let mut p = Parser {
            src: &src,
            at: 0,
            tok: Tok::End,
            set: Set::none(),
            log: Vec::new(),
        };
        p.next();
        match p.or_term(0) {
            Some(root) => Ok(Regex { root }),
            None => {
                let mut log = p.log;
                log.push("Parse error in regex".into());
                log.push("Couldn't parse regex".into());
                Err(log)
            }
        }
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let mut seq: Vec<Sym> = Vec::with_capacity(text.len() + 2);
        seq.push(HAT);
        seq.extend(text.bytes().map(Sym::from));
        seq.push(DOLLAR);
        let mut start = vec![false; seq.len() + 1];
        start[0] = true;
        let mut hit = false;
        ends(&self.root, &seq, &start, &mut hit);
        hit
    }
}

/// The positions reachable after `n`, from the positions in `from`; sets
/// `hit` when the target marker is reached.
fn ends(n: &Node, seq: &[Sym], from: &[bool], hit: &mut bool) -> Vec<bool> {
    let mut out = vec![false; from.len()];
    match n {
        Node::Chars(s) => {
            if s.0[usize::from(TARGET)] && from.iter().any(|&b| b) {
                *hit = true;
            }
            for (p, &on) in from.iter().enumerate() {
                if on {
                    if let Some(&c) = seq.get(p) {
                        if s.0[usize::from(c)] {
                            out[p + 1] = true;
                        }
                    }
                }
            }
        }
        Node::Cat(parts) => {
            let mut at = from.to_vec();
            for p in parts {
                at = ends(p, seq, &at, hit);
            }
            out = at;
        }
        Node::Or(l, r) => {
            let a = ends(l, seq, from, hit);
            let b = ends(r, seq, from, hit);
            for i in 0..out.len() {
                out[i] = a[i] || b[i];
            }
        }
        Node::Star(l) => out = closure(l, seq, from.to_vec(), hit),
        Node::Plus(l) => {
            let once = ends(l, seq, from, hit);
            out = closure(l, seq, once, hit);
        }
        Node::Quest(l) => {
            out = ends(l, seq, from, hit);
            for (o, &f) in out.iter_mut().zip(from) {
                *o |= f;
            }
        }
    }
    out
}

fn closure(l: &Node, seq: &[Sym], mut acc: Vec<bool>, hit: &mut bool) -> Vec<bool> {
    loop {
        let more = ends(l, seq, &acc, hit);
        let mut grew = false;
        for (a, m) in acc.iter_mut().zip(more) {
            if m && !*a {
                *a = true;
                grew = true;
            }
        }
        if !grew {
            return acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(p: &str, t: &str) -> bool {
        Regex::new(p).unwrap().is_match(t)
    }

    #[test]
    fn matches_anywhere_with_anchors() {
        assert!(m("in", "lin"));
        assert!(m("^l", "lin"));
        assert!(!m("^i", "lin"));
        assert!(m("n$", "lin"));
        assert!(!m("i$", "lin"));
        assert!(m("^(lin|str)$", "str"));
        assert!(!m("^(lin|str)$", "strx"));
        assert!(m("[sp]a", "span"));
        assert!(m("^s.*p$", "snap"));
        assert!(m("a+b?c*", "xa"));
        assert!(m("^a**$", "aaa") && m("^a+?$", "") && m("^a?+$", "aa") && !m("^a??$", "aa"));
        assert!(m(".*", ""));
        assert!(m("^a[^a-z]", "a1c"));
        assert!(!m("^a[^a-z]", "abc"));
        // As in libdevmapper, `.` and negated sets also match the start and
        // end markers themselves.
        assert!(m("c.", "abc"));
        assert!(m("[^a-z]", "abc"));
    }

    #[test]
    fn unbalanced_patterns_fail_as_libdevmapper_does() {
        // An unclosed group leaves the wrapper's parenthesis unmatched.
        let e = Regex::new("^(lin|str").unwrap_err();
        assert_eq!(
            e,
            [
                "missing ')' in regular expression",
                "Parse error in regex",
                "Couldn't parse regex"
            ]
        );
        // A trailing '-' in a set is a range up to ']', so the set runs on.
        assert!(Regex::new("^[A-Za-z0-9-]+$").is_err());
    }
}
