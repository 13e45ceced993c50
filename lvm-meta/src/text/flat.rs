//! The flat form of a parsed text: every node in one vector, every array
//! item in another, strings borrowed.
//!
//! [`parse_flat`] reads text straight into this form with a byte loop: no
//! vector per section or array, no string copied, nothing to free but the
//! two vectors. It accepts a subset of what [`super::parse`] accepts: a
//! string with an escape, a text that is not UTF-8, or any error makes it
//! return `None`, and the caller parses with [`super::parse_borrowed`] (which
//! owns such strings and words the error). Whatever it accepts gives the
//! nodes [`super::parse`] gives (tested on generated texts).
//!
//! [`Flat::from_tree`] makes the same form from a [`Tree`], so the VG model
//! is built by one code path from either.

use super::{Node, Tree, Value, MAX_NESTING};

/// A value in a [`Flat`]; an array is a range of [`Flat::items`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlatValue<'t> {
    /// An integer.
    Int(i64),
    /// A number with a decimal point, as written.
    Float(&'t str),
    /// A string.
    Str(&'t str),
    /// An array: `len` items from `start` in [`Flat::items`].
    Array {
        /// First item.
        start: u32,
        /// Number of items.
        len: u32,
    },
}

/// What a [`FlatNode`] holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlatKind<'t> {
    /// `key = value`.
    Setting(FlatValue<'t>),
    /// `key { ... }`: `len` children from `start` in [`Flat::nodes`].
    Section {
        /// First child.
        start: u32,
        /// Number of children.
        len: u32,
    },
}

/// One node of a [`Flat`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlatNode<'t> {
    /// The key.
    pub key: &'t str,
    /// Setting or section.
    pub kind: FlatKind<'t>,
}

/// A parsed text in flat form. A section's children are contiguous in
/// `nodes` (in file order); the top-level nodes are the last `top` ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flat<'t> {
    /// Every node; sections before their parents.
    pub nodes: Vec<FlatNode<'t>>,
    /// Every array item.
    pub items: Vec<FlatValue<'t>>,
    /// (start, len) of the top-level nodes in `nodes`.
    pub top: (u32, u32),
}

/// A list of sibling nodes of a [`Flat`] (the top level or a section's
/// children), with lvm2's lookups: the first node with a key wins.
#[derive(Debug, Clone, Copy)]
pub struct Sect<'f, 't> {
    flat: &'f Flat<'t>,
    /// The nodes.
    pub nodes: &'f [FlatNode<'t>],
}

impl<'t> Flat<'t> {
    /// The top-level nodes.
    pub fn root(&self) -> Sect<'_, 't> {
        self.range(self.top.0, self.top.1)
    }

    fn range(&self, start: u32, len: u32) -> Sect<'_, 't> {
        let s = start as usize;
        Sect {
            flat: self,
            nodes: &self.nodes[s..s + len as usize],
        }
    }

    /// The items of an array value (empty for a scalar).
    pub fn array(&self, v: &FlatValue<'t>) -> &[FlatValue<'t>] {
        match *v {
            FlatValue::Array { start, len } => {
                &self.items[start as usize..start as usize + len as usize]
            }
            _ => &[],
        }
    }

    /// The flat form of `tree`, borrowing its strings.
    pub fn from_tree<S: AsRef<str>>(tree: &'t Tree<S>) -> Flat<'t> {
        let mut f = Flat::default();
        f.top = f.push_tree_nodes(&tree.nodes);
        f
    }

    fn push_tree_nodes<S: AsRef<str>>(&mut self, nodes: &'t [Node<S>]) -> (u32, u32) {
        let mut here = Vec::with_capacity(nodes.len());
        for n in nodes {
            let kind = match n {
                Node::Setting { value, .. } => FlatKind::Setting(self.push_tree_value(value)),
                Node::Section { children, .. } => {
                    let (start, len) = self.push_tree_nodes(children);
                    FlatKind::Section { start, len }
                }
            };
            here.push(FlatNode { key: n.key(), kind });
        }
        let start = self.nodes.len() as u32;
        self.nodes.extend(here);
        (start, nodes.len() as u32)
    }

    fn push_tree_value<S: AsRef<str>>(&mut self, v: &'t Value<S>) -> FlatValue<'t> {
        match v {
            Value::Int(i) => FlatValue::Int(*i),
            Value::Float(s) => FlatValue::Float(s.as_ref()),
            Value::Str(s) => FlatValue::Str(s.as_ref()),
            Value::Array(a) => {
                let vals: Vec<FlatValue<'t>> = a.iter().map(|x| self.push_tree_value(x)).collect();
                let start = self.items.len() as u32;
                self.items.extend(vals);
                FlatValue::Array {
                    start,
                    len: a.len() as u32,
                }
            }
        }
    }

    /// The owned tree this flat form stands for.
    pub fn to_tree(&self) -> Tree {
        Tree {
            nodes: self.root().to_owned_nodes(),
        }
    }

    fn owned_value(&self, v: &FlatValue<'t>) -> Value {
        match v {
            FlatValue::Int(i) => Value::Int(*i),
            FlatValue::Float(s) => Value::Float((*s).to_owned()),
            FlatValue::Str(s) => Value::Str((*s).to_owned()),
            FlatValue::Array { .. } => {
                Value::Array(self.array(v).iter().map(|x| self.owned_value(x)).collect())
            }
        }
    }
}

impl<'f, 't> Sect<'f, 't> {
    /// The value of the first node named `key`, if that node is a setting.
    pub fn value(&self, key: &str) -> Option<FlatValue<'t>> {
        match self.nodes.iter().find(|n| n.key == key)?.kind {
            FlatKind::Setting(v) => Some(v),
            FlatKind::Section { .. } => None,
        }
    }

    /// The string of the first node named `key`, if it is a string setting.
    pub fn str(&self, key: &str) -> Option<&'t str> {
        match self.value(key)? {
            FlatValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The children of the first node named `key`, if it is a section.
    pub fn section(&self, key: &str) -> Option<Sect<'f, 't>> {
        match self.nodes.iter().find(|n| n.key == key)?.kind {
            FlatKind::Section { start, len } => Some(self.flat.range(start, len)),
            FlatKind::Setting(_) => None,
        }
    }

    /// True if two or more nodes are named `key`.
    pub fn duplicated(&self, key: &str) -> bool {
        self.nodes.iter().filter(|n| n.key == key).nth(1).is_some()
    }

    /// True if any key names two or more nodes.
    pub fn repeats_a_key(&self) -> bool {
        let n = self.nodes;
        // Equal keys have equal lengths and last bytes; lvm2's keys of one
        // section mostly differ there, so the bytes are compared only
        // where both agree.
        let last = |k: &str| k.as_bytes().last().copied();
        // A hostile section with many keys is checked in linear time.
        if n.len() > 64 {
            let mut seen = std::collections::HashSet::with_capacity(n.len());
            return n.iter().any(|m| !seen.insert(m.key));
        }
        (0..n.len()).any(|i| {
            let k = n[i].key;
            n[i + 1..]
                .iter()
                .any(|m| m.key.len() == k.len() && last(m.key) == last(k) && m.key == k)
        })
    }

    /// The sections among the nodes, with their keys, in order.
    pub fn subsections(self) -> impl Iterator<Item = (&'t str, Sect<'f, 't>)> + 'f {
        let flat = self.flat;
        self.nodes.iter().filter_map(move |n| match n.kind {
            FlatKind::Section { start, len } => Some((n.key, flat.range(start, len))),
            FlatKind::Setting(_) => None,
        })
    }

    /// The items of an array value of this text.
    pub fn array(&self, v: &FlatValue<'t>) -> &'f [FlatValue<'t>] {
        self.flat.array(v)
    }

    /// Node `n` (one of these nodes) with owned strings.
    pub fn to_owned_node(&self, n: &FlatNode<'t>) -> Node {
        match n.kind {
            FlatKind::Setting(v) => Node::Setting {
                key: n.key.to_owned(),
                value: self.flat.owned_value(&v),
            },
            FlatKind::Section { start, len } => Node::Section {
                key: n.key.to_owned(),
                children: self.flat.range(start, len).to_owned_nodes(),
            },
        }
    }

    /// The nodes with owned strings.
    pub fn to_owned_nodes(&self) -> Vec<Node> {
        self.nodes.iter().map(|n| self.to_owned_node(n)).collect()
    }
}

/// Parses metadata text into flat form, or `None` if the text is not
/// UTF-8, holds a string with an escape, or does not parse (then
/// [`super::parse_borrowed`] gives the tree or the error). The text ends at
/// its end or at the first NUL.
pub fn parse_flat(text: &[u8]) -> Option<Flat<'_>> {
    let end = memchr::memchr(0, text).unwrap_or(text.len());
    let body = std::str::from_utf8(&text[..end]).ok()?;
    // lvm2 writes a node a line (and a closing brace on some), and about
    // one array item for every two lines: the vectors rarely grow.
    let lines = memchr::memchr_iter(b'\n', body.as_bytes()).count() + 1;
    let mut p = P {
        s: body,
        b: body.as_bytes(),
        at: 0,
        flat: Flat {
            nodes: Vec::with_capacity(lines),
            items: Vec::with_capacity(lines / 2),
            top: (0, 0),
        },
        stack: Vec::with_capacity(64),
    };
    p.flat.top = p.items(0, true)?;
    Some(p.flat)
}

struct P<'t> {
    s: &'t str,
    b: &'t [u8],
    at: usize,
    flat: Flat<'t>,
    /// The nodes of the sections being read, innermost last.
    stack: Vec<FlatNode<'t>>,
}

/// Byte classes: whitespace (`u8::is_ascii_whitespace`), the end of a key
/// (whitespace, `#`, `=`, `{`, `}`), the end of a bare value (those and
/// `]`, `,`).
const WS: u8 = 1;
const KEY_END: u8 = 2;
const BARE_END: u8 = 4;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut k = 0;
        if b.is_ascii_whitespace() {
            k |= WS | KEY_END | BARE_END;
        }
        if matches!(b, b'#' | b'=' | b'{' | b'}') {
            k |= KEY_END | BARE_END;
        }
        if matches!(b, b']' | b',') {
            k |= BARE_END;
        }
        t[c] = k;
        c += 1;
    }
    t
};

impl<'t> P<'t> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    /// Whitespace and comments.
    fn junk(&mut self) {
        let b = self.b;
        let mut at = self.at;
        while at < b.len() {
            let c = b[at];
            if CLASS[c as usize] & WS != 0 {
                at += 1;
            } else if c == b'#' {
                at += memchr::memchr(b'\n', &b[at..]).unwrap_or(b.len() - at);
            } else {
                break;
            }
        }
        self.at = at;
    }

    /// The text from `from` to the current position. Every token starts
    /// and ends next to an ASCII byte, so this is a char boundary.
    fn slice(&self, from: usize) -> Option<&'t str> {
        self.s.get(from..self.at)
    }

    /// One or more bytes not of class `end`.
    fn take_until(&mut self, end: u8) -> Option<&'t str> {
        let from = self.at;
        let b = self.b;
        let mut at = from;
        while at < b.len() && CLASS[b[at] as usize] & end == 0 {
            at += 1;
        }
        self.at = at;
        if at == from {
            return None;
        }
        self.slice(from)
    }

    /// A quoted string without escapes (`"` or `'`), the quote at `at`.
    fn quoted(&mut self) -> Option<&'t str> {
        let q = self.b[self.at];
        let from = self.at + 1;
        let len = if q == b'"' {
            let n = memchr::memchr2(b'"', b'\\', &self.b[from..])?;
            if self.b[from + n] == b'\\' {
                return None;
            }
            n
        } else {
            memchr::memchr(b'\'', &self.b[from..])?
        };
        self.at = from;
        self.at += len;
        let s = self.slice(from)?;
        self.at += 1;
        Some(s)
    }

    fn key(&mut self) -> Option<&'t str> {
        let k = match self.peek()? {
            b'"' | b'\'' => self.quoted()?,
            _ => self.take_until(KEY_END)?,
        };
        (!k.is_empty()).then_some(k)
    }

    fn number(&mut self) -> Option<FlatValue<'t>> {
        let from = self.at;
        let neg = match self.peek() {
            Some(b'-') => {
                self.at += 1;
                true
            }
            Some(b'+') => {
                self.at += 1;
                false
            }
            _ => false,
        };
        let body = self.at;
        let mut dots = 0;
        while let Some(c) = self.peek() {
            if c == b'.' {
                dots += 1;
            } else if !c.is_ascii_digit() {
                break;
            }
            self.at += 1;
        }
        let digits = &self.b[body..self.at];
        if digits.is_empty() || dots > 1 || digits == b"." {
            return None;
        }
        if dots == 1 {
            return Some(FlatValue::Float(self.slice(from)?));
        }
        // strtoll with base 0: a leading 0 means octal.
        let (digits, radix) = if digits.len() > 1 && digits[0] == b'0' {
            (&digits[1..], 8)
        } else {
            (digits, 10)
        };
        let mut v: i64 = 0;
        for &d in digits {
            let d = i64::from(d - b'0');
            if d >= radix {
                return None;
            }
            v = v.checked_mul(radix)?.checked_add(d)?;
        }
        Some(FlatValue::Int(if neg { -v } else { v }))
    }

    fn scalar(&mut self) -> Option<FlatValue<'t>> {
        match self.peek()? {
            b'"' | b'\'' => self.quoted().map(FlatValue::Str),
            c if c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.') => self.number(),
            _ => self.take_until(BARE_END).map(FlatValue::Str),
        }
    }

    fn array(&mut self) -> Option<FlatValue<'t>> {
        self.at += 1;
        let start = self.flat.items.len() as u32;
        loop {
            self.junk();
            match self.peek()? {
                b']' => {
                    self.at += 1;
                    let len = self.flat.items.len() as u32 - start;
                    return Some(FlatValue::Array { start, len });
                }
                _ => {
                    let v = self.scalar()?;
                    self.flat.items.push(v);
                    self.junk();
                    if self.peek() == Some(b',') {
                        self.at += 1;
                    }
                }
            }
        }
    }

    /// Items until `}` (left unread) or, at the top level, the end; their
    /// range in the node vector.
    fn items(&mut self, depth: usize, top: bool) -> Option<(u32, u32)> {
        let base = self.stack.len();
        loop {
            self.junk();
            match self.peek() {
                None if top => break,
                None => return None,
                Some(b'}') if top => return None,
                Some(b'}') => break,
                Some(_) => {}
            }
            let key = self.key()?;
            self.junk();
            let kind = match self.peek()? {
                b'{' => {
                    if depth >= MAX_NESTING {
                        return None;
                    }
                    self.at += 1;
                    let (start, len) = self.items(depth + 1, false)?;
                    // items stopped at the '}'.
                    self.at += 1;
                    FlatKind::Section { start, len }
                }
                b'=' => {
                    self.at += 1;
                    self.junk();
                    let v = if self.peek()? == b'[' {
                        self.array()?
                    } else {
                        self.scalar()?
                    };
                    FlatKind::Setting(v)
                }
                _ => return None,
            };
            self.stack.push(FlatNode { key, kind });
        }
        let start = self.flat.nodes.len() as u32;
        let len = (self.stack.len() - base) as u32;
        self.flat.nodes.extend(self.stack.drain(base..));
        Some((start, len))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_flat;

    /// A section's repeated key is found with few keys and with many (the
    /// linear check a hostile section with thousands of keys gets).
    #[test]
    fn a_repeated_key_is_found_in_small_and_large_sections() {
        for n in [3usize, 64, 65, 5000] {
            let mut text = String::from("s {\n");
            for i in 0..n {
                text.push_str(&format!("k{i} = {i}\n"));
            }
            text.push_str("}\n");
            let flat = parse_flat(text.as_bytes()).unwrap();
            let s = flat.root().section("s").unwrap();
            assert!(!s.repeats_a_key(), "{n} distinct keys");
            let again = text.replace("}\n", &format!("k{} = 0\n}}\n", n / 2));
            let flat = parse_flat(again.as_bytes()).unwrap();
            assert!(
                flat.root().section("s").unwrap().repeats_a_key(),
                "{n} keys, one twice"
            );
        }
    }
}
