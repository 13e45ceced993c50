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
///
/// One loop over the bytes: an explicit stack of open sections (at most
/// [`MAX_NESTING`]) instead of recursion, keys and values found with the
/// byte classes of `CLASS` and, for quoted strings, eight bytes at a time.
pub fn parse_flat(text: &[u8]) -> Option<Flat<'_>> {
    let end = memchr::memchr(0, text).unwrap_or(text.len());
    let s = std::str::from_utf8(&text[..end]).ok()?;
    let b = s.as_bytes();
    // Every node has its '=' or '{', and every array item but an array's
    // first follows a ',': counted (with those in strings and comments,
    // so never too few), the vectors do not grow and hold no more than
    // they need (fresh memory costs more than the count). A text that is
    // mostly such bytes gets at most one slot per eight bytes at first.
    let first = |n: usize| n.min(b.len() / 8) + 4;
    let (node_bytes, item_bytes) = count_marks(b);
    let mut nodes: Vec<FlatNode<'_>> = Vec::with_capacity(first(node_bytes));
    let mut items: Vec<FlatValue<'_>> = Vec::with_capacity(first(item_bytes));
    // The nodes of the sections being read, innermost last; and for each
    // open section its key and where its nodes start on `stack`.
    let mut stack: Vec<FlatNode<'_>> = Vec::with_capacity(64);
    let mut open: Vec<(&str, usize)> = Vec::with_capacity(MAX_NESTING);
    // While the innermost open section has held only settings, they go
    // straight to `nodes` from this position (most sections, like lvm2's
    // segments and PVs, hold only settings, and are not copied); at its
    // first subsection they move to `stack`.
    let mut direct: Option<usize> = None;
    let mut at = 0;
    loop {
        at = junk(b, at);
        let Some(&c) = b.get(at) else {
            // The end of the text closes the top level only.
            if !open.is_empty() {
                return None;
            }
            break;
        };
        if c == b'}' {
            // A '}' at the top level closes nothing: an error.
            let (key, base) = open.pop()?;
            at += 1;
            let (start, len) = match direct.take() {
                Some(d) => (d, nodes.len() - d),
                None => {
                    let start = nodes.len();
                    nodes.extend_from_slice(&stack[base..]);
                    stack.truncate(base);
                    (start, nodes.len() - start)
                }
            };
            // Its parent holds a section: its nodes are on `stack`.
            stack.push(FlatNode {
                key,
                kind: FlatKind::Section {
                    start: start as u32,
                    len: len as u32,
                },
            });
            continue;
        }
        let (key, next) = key(s, at)?;
        // lvm2 writes "key = value" and "key {": one space each side. The
        // first is taken in one step when the value starts right after.
        if let Some(&[b' ', b'=', b' ', c]) = b.get(next..next + 4) {
            if CLASS[c as usize] & JUNK == 0 {
                let (v, after) = value(s, next + 3, &mut items)?;
                at = after;
                let node = FlatNode {
                    key,
                    kind: FlatKind::Setting(v),
                };
                put(node, direct, &mut nodes, &mut stack);
                continue;
            }
        }
        at = match b.get(next..next + 2) {
            Some(b" {") => next + 1,
            _ => junk(b, next),
        };
        match b.get(at) {
            Some(b'{') => {
                if open.len() >= MAX_NESTING {
                    return None;
                }
                if let Some(d) = direct {
                    stack.extend_from_slice(&nodes[d..]);
                    nodes.truncate(d);
                }
                open.push((key, stack.len()));
                direct = Some(nodes.len());
                at += 1;
            }
            Some(b'=') => {
                at = match b.get(at + 1) {
                    Some(b' ') => junk(b, at + 2),
                    _ => junk(b, at + 1),
                };
                let (v, next) = value(s, at, &mut items)?;
                at = next;
                let node = FlatNode {
                    key,
                    kind: FlatKind::Setting(v),
                };
                put(node, direct, &mut nodes, &mut stack);
            }
            _ => return None,
        }
    }
    let start = nodes.len() as u32;
    let len = stack.len() as u32;
    nodes.append(&mut stack);
    Some(Flat {
        nodes,
        items,
        top: (start, len),
    })
}

/// Byte classes: whitespace (`u8::is_ascii_whitespace`), the end of a key
/// (whitespace, `#`, `=`, `{`, `}`), the end of a bare value (those and
/// `]`, `,`), and junk between tokens (whitespace and the `#` that starts
/// a comment).
const WS: u8 = 1;
const KEY_END: u8 = 2;
const BARE_END: u8 = 4;
const JUNK: u8 = 8;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut k = 0;
        if b.is_ascii_whitespace() {
            k |= WS | KEY_END | BARE_END | JUNK;
        }
        if matches!(b, b'#' | b'=' | b'{' | b'}') {
            k |= KEY_END | BARE_END;
        }
        if b == b'#' {
            k |= JUNK;
        }
        if matches!(b, b']' | b',') {
            k |= BARE_END;
        }
        t[c] = k;
        c += 1;
    }
    t
};

/// The value at `at` (an array, its items added to `items`, or a scalar)
/// and the position after it.
#[inline(always)]
fn value<'t>(
    s: &'t str,
    at: usize,
    items: &mut Vec<FlatValue<'t>>,
) -> Option<(FlatValue<'t>, usize)> {
    if s.as_bytes().get(at) == Some(&b'[') {
        array(s, at + 1, items)
    } else {
        scalar(s, at)
    }
}

/// Files a setting: straight into `nodes` while its section has held
/// only settings (`direct`), on `stack` otherwise.
#[inline(always)]
fn put<'t>(
    node: FlatNode<'t>,
    direct: Option<usize>,
    nodes: &mut Vec<FlatNode<'t>>,
    stack: &mut Vec<FlatNode<'t>>,
) {
    if direct.is_some() {
        nodes.push(node);
    } else {
        stack.push(node);
    }
}

/// How many bytes of `b` are `=` or `{` (one per node), and how many are
/// `,` or `[` (one per array item but the first): both in one read of the
/// text. Counted in 32 byte lanes of 8 bits, emptied before they can
/// overflow, which the compiler turns into vector instructions.
fn count_marks(b: &[u8]) -> (usize, usize) {
    const LANES: usize = 32;
    let (mut nodes, mut items) = (0usize, 0usize);
    let mut blocks = b.chunks_exact(LANES * 255);
    let mut add = |block: &[u8]| {
        let (mut n, mut i) = ([0u8; LANES], [0u8; LANES]);
        let mut words = block.chunks_exact(LANES);
        for w in &mut words {
            for k in 0..LANES {
                let c = w[k];
                n[k] += u8::from(c == b'=') | u8::from(c == b'{');
                i[k] += u8::from(c == b',') | u8::from(c == b'[');
            }
        }
        let sum = |l: [u8; LANES]| l.iter().map(|&x| usize::from(x)).sum::<usize>();
        let tail = words.remainder();
        let count = |x: u8, y: u8| tail.iter().filter(|&&c| c == x || c == y).count();
        nodes += sum(n) + count(b'=', b'{');
        items += sum(i) + count(b',', b'[');
    };
    for block in &mut blocks {
        add(block);
    }
    add(blocks.remainder());
    (nodes, items)
}

/// The position after the whitespace and comments at `at`.
#[inline(always)]
fn junk(b: &[u8], mut at: usize) -> usize {
    while let Some(&c) = b.get(at) {
        if CLASS[c as usize] & JUNK == 0 {
            break;
        }
        if c == b'#' {
            // A comment runs to the end of its line (the newline is
            // whitespace) or of the text.
            at += memchr::memchr(b'\n', &b[at..]).unwrap_or(b.len() - at);
        } else {
            at += 1;
        }
    }
    at
}

/// The end of the run of bytes from `at` that are not of class `end`.
#[inline(always)]
fn run_until(b: &[u8], mut at: usize, end: u8) -> usize {
    // Eight bytes at a time while eight remain: one bounds check for the
    // eight table lookups.
    while let Some(chunk) = b.get(at..at + 8) {
        for (i, &c) in chunk.iter().enumerate() {
            if CLASS[c as usize] & end != 0 {
                return at + i;
            }
        }
        at += 8;
    }
    while let Some(&c) = b.get(at) {
        if CLASS[c as usize] & end != 0 {
            break;
        }
        at += 1;
    }
    at
}

/// The text from `from` to `to`. Every token starts and ends next to an
/// ASCII byte or the text's ends, so these are char boundaries.
#[inline(always)]
fn slice(s: &str, from: usize, to: usize) -> Option<&str> {
    s.get(from..to)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// For the eight bytes of `w` (little-endian), a mask whose lowest set bit
/// is the high bit of the first byte equal to `c` (bits above it may be
/// set wrongly by the borrow; only the lowest is used).
#[inline(always)]
fn eq_mask(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The position of the first `q` (or, if `stop_at_backslash`, the first
/// `\`) at or after `at`, or `None` if there is none.
#[inline(always)]
fn find_quote(b: &[u8], mut at: usize, q: u8, stop_at_backslash: bool) -> Option<usize> {
    while let Some(chunk) = b.get(at..at + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let mut m = eq_mask(w, q);
        if stop_at_backslash {
            m |= eq_mask(w, b'\\');
        }
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while let Some(&c) = b.get(at) {
        if c == q || (stop_at_backslash && c == b'\\') {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// A quoted string without escapes, the quote at `at`: the string and the
/// position after the closing quote. `None` if it is unterminated or a
/// double-quoted string holds a backslash (an escape, left to the tree
/// parser).
#[inline(always)]
fn quoted(s: &str, at: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    let q = b[at];
    let end = if q == b'"' {
        find_quote(b, at + 1, b'"', true)?
    } else {
        find_quote(b, at + 1, q, false)?
    };
    if b[end] != q {
        return None;
    }
    Some((slice(s, at + 1, end)?, end + 1))
}

/// For the eight bytes of `w` (little-endian), a mask whose lowest set bit
/// is the high bit of the first byte below `n` (`n` at most 0x80).
#[inline(always)]
fn lt_mask(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// The end of a bare key from `at`: the first byte of class [`KEY_END`]
/// or the end of the text.
///
/// Eight bytes are looked at together for a byte that may end a key: one
/// below 0x24 (whitespace, `#`, and a few others), `=`, or one at or above
/// 0x7b (`{`, `}`, and a few others, and the bytes of non-ASCII UTF-8).
/// The first such byte is checked in [`CLASS`]; if it does not end the key
/// the search goes on after it.
#[inline(always)]
fn key_end(b: &[u8], mut at: usize) -> usize {
    while b.len() - at >= 8 {
        let Ok(w) = <[u8; 8]>::try_from(&b[at..at + 8]) else {
            break;
        };
        let w = u64::from_le_bytes(w);
        // Bytes at or above 0x7b: their high bit is set once 5 is added
        // (no byte of UTF-8 is above 0xf4, so nothing carries).
        let high = w.wrapping_add(ONES * 5) & HIGHS;
        let m = lt_mask(w, 0x24) | eq_mask(w, b'=') | high;
        if m == 0 {
            at += 8;
            continue;
        }
        let i = at + (m.trailing_zeros() / 8) as usize;
        if CLASS[b[i] as usize] & KEY_END != 0 {
            return i;
        }
        at = i + 1;
    }
    run_until(b, at, KEY_END)
}

/// A key at `at` (bare, or quoted and not empty) and the position after it.
#[inline(always)]
fn key(s: &str, at: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    match b[at] {
        b'"' | b'\'' => {
            let (k, next) = quoted(s, at)?;
            (!k.is_empty()).then_some((k, next))
        }
        _ => {
            // The byte at `at` is not whitespace or '#' (junk stopped
            // there) and not '}' (the caller took it), but may be '=' or
            // '{': a key needs one byte.
            let end = key_end(b, at);
            if end == at {
                return None;
            }
            Some((slice(s, at, end)?, end))
        }
    }
}

/// A scalar value at `at` (which is inside the text) and the position
/// after it.
#[inline(always)]
fn scalar(s: &str, at: usize) -> Option<(FlatValue<'_>, usize)> {
    let b = s.as_bytes();
    match *b.get(at)? {
        b'"' | b'\'' => quoted(s, at).map(|(v, next)| (FlatValue::Str(v), next)),
        c if c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.') => number(s, at),
        _ => {
            let end = run_until(b, at, BARE_END);
            if end == at {
                return None;
            }
            Some((FlatValue::Str(slice(s, at, end)?), end))
        }
    }
}

/// A number at `at`: an optional sign, then digits with at most one dot
/// (a float, kept as written) or none (an integer as `strtoll` base 0
/// reads it: a leading 0 means octal). `None` if it is neither, or out of
/// the range of `i64`.
#[inline(always)]
fn number(s: &str, at: usize) -> Option<(FlatValue<'_>, usize)> {
    let b = s.as_bytes();
    // Most numbers lvm2 writes are decimal with no sign or dot and do not
    // start with 0: read those in one short loop.
    if b[at].wrapping_sub(b'1') < 9 {
        let mut v = i64::from(b[at] - b'0');
        let mut i = at + 1;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(i64::from(d));
            i += 1;
        }
        // 18 digits cannot overflow; a dot makes it a float.
        if i - at <= 18 && b.get(i) != Some(&b'.') {
            return Some((FlatValue::Int(v), i));
        }
    } else if b[at] == b'0' && !matches!(b.get(at + 1), Some(b'0'..=b'9' | b'.')) {
        return Some((FlatValue::Int(0), at + 1));
    }
    let neg = b[at] == b'-';
    let body = if matches!(b[at], b'+' | b'-') {
        at + 1
    } else {
        at
    };
    // Digits are summed as they go by; more than 18 cannot overflow an
    // i64 only if checked, which the slow path below does.
    let mut i = body;
    let mut dots = 0usize;
    let mut v: i64 = 0;
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            v = v.wrapping_mul(10).wrapping_add(i64::from(d));
        } else if c == b'.' {
            dots += 1;
        } else {
            break;
        }
        i += 1;
    }
    let digits = &b[body..i];
    if digits.is_empty() || dots > 1 || digits == b"." {
        return None;
    }
    if dots == 1 {
        return Some((FlatValue::Float(slice(s, at, i)?), i));
    }
    if digits.len() > 18 || (digits.len() > 1 && digits[0] == b'0') {
        v = int_slow(digits)?;
    }
    Some((FlatValue::Int(if neg { -v } else { v }), i))
}

/// The value of an integer's digits (no sign, no dot) with every step
/// checked: octal after a leading 0, else decimal.
fn int_slow(digits: &[u8]) -> Option<i64> {
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
    Some(v)
}

/// The items of an array whose `[` is just before `at`, pushed on
/// `items`; the array value and the position after its `]`.
#[inline(always)]
fn array<'t>(
    s: &'t str,
    mut at: usize,
    items: &mut Vec<FlatValue<'t>>,
) -> Option<(FlatValue<'t>, usize)> {
    let b = s.as_bytes();
    let start = items.len() as u32;
    loop {
        at = junk(b, at);
        if *b.get(at)? == b']' {
            let len = items.len() as u32 - start;
            return Some((FlatValue::Array { start, len }, at + 1));
        }
        let (v, next) = scalar(s, at)?;
        items.push(v);
        at = junk(b, next);
        if b.get(at) == Some(&b',') {
            at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_flat;
    use crate::text::{Node, Tree, Value};

    fn set(key: &str, value: Value) -> Node {
        Node::Setting {
            key: key.into(),
            value,
        }
    }

    fn sec(key: &str, children: Vec<Node>) -> Node {
        Node::Section {
            key: key.into(),
            children,
        }
    }

    fn tree(text: &[u8]) -> Option<Vec<Node>> {
        parse_flat(text).map(|f| f.to_tree().nodes)
    }

    /// lvm2's tokenizer ends a bare key at whitespace, `#`, `=`, `{` or
    /// `}` and nowhere else. Keys of every length up to three words, at
    /// every alignment, ended by each of those and by the end of the text.
    #[test]
    fn keys_end_where_lvm2_ends_them() {
        for len in 1..=24 {
            let key: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            for pad in 0..8 {
                let lead = " ".repeat(pad);
                for (text, what) in [
                    (format!("{lead}{key} = 1\n"), "space"),
                    (format!("{lead}{key}=1"), "="),
                    (format!("{lead}{key}\t=\r\n1"), "tab"),
                    (format!("{lead}{key}#c = 2\n= 1"), "comment"),
                ] {
                    assert_eq!(
                        tree(text.as_bytes()),
                        Some(vec![set(&key, Value::Int(1))]),
                        "{what}: {text:?}"
                    );
                }
                let text = format!("{lead}{key}{{}}");
                assert_eq!(tree(text.as_bytes()), Some(vec![sec(&key, vec![])]));
                let text = format!("{lead}{key}{{x=2}}");
                assert_eq!(
                    tree(text.as_bytes()),
                    Some(vec![sec(&key, vec![set("x", Value::Int(2))])])
                );
                // A key at the very end has no value: an error.
                assert_eq!(tree(format!("{lead}{key}").as_bytes()), None);
                assert_eq!(tree(format!("{lead}{key} ").as_bytes()), None);
            }
        }
    }

    /// Bytes that are not whitespace, `#`, `=`, `{` or `}` belong to a bare
    /// key, whatever they are: other punctuation, other control bytes,
    /// bytes above 0x7a, UTF-8.
    #[test]
    fn other_bytes_stay_in_the_key() {
        for key in [
            "a!b",
            "a\"b",
            "x$%&()*+",
            "a|b~c",
            "yyyyyyyyy",
            "a\x01b\x1fc",
            "ключ",
            "naïve_key_12345",
            "\x7f\x7f\x7f",
            "z-1.5",
        ] {
            let text = format!("{key} = 7\n");
            assert_eq!(
                tree(text.as_bytes()),
                Some(vec![set(key, Value::Int(7))]),
                "{key:?}"
            );
        }
    }

    /// Quoted strings of every length at every alignment: a double-quoted
    /// one ends at the first `"` (one holding a backslash is an escape,
    /// left to the tree parser), a single-quoted one at the first `'` with
    /// no escapes at all.
    #[test]
    fn quoted_strings_end_at_their_quote() {
        for len in 0..=20 {
            let body: String = (0..len).map(|i| (b'A' + (i % 26) as u8) as char).collect();
            for pad in 0..8 {
                let lead = " ".repeat(pad);
                let dq = format!("{lead}k = \"{body}\"");
                assert_eq!(
                    tree(dq.as_bytes()),
                    Some(vec![set("k", Value::Str(body.clone()))]),
                    "{dq:?}"
                );
                let sq = format!("{lead}k = ['{body}', \"{body}'\"]\n");
                assert_eq!(
                    tree(sq.as_bytes()),
                    Some(vec![set(
                        "k",
                        Value::Array(vec![
                            Value::Str(body.clone()),
                            Value::Str(format!("{body}'"))
                        ])
                    )]),
                    "{sq:?}"
                );
                let raw = format!("{lead}k = '{body}\\\"'");
                assert_eq!(
                    tree(raw.as_bytes()),
                    Some(vec![set("k", Value::Str(format!("{body}\\\"")))]),
                    "{raw:?}"
                );
                let escaped = format!("{lead}k = \"{body}\\\"x\"");
                assert_eq!(tree(escaped.as_bytes()), None, "{escaped:?}");
                assert_eq!(tree(format!("{lead}k = \"{body}").as_bytes()), None);
                assert_eq!(tree(format!("{lead}k = '{body}").as_bytes()), None);
            }
        }
    }

    /// Numbers as `strtoll` with base 0 reads them (a leading 0 is octal),
    /// a number with a dot kept as written, at the end of the text or not.
    #[test]
    fn numbers_read_as_lvm2_reads_them() {
        for (text, value) in [
            ("0", Value::Int(0)),
            ("7", Value::Int(7)),
            ("010", Value::Int(8)),
            ("-010", Value::Int(-8)),
            ("+5", Value::Int(5)),
            ("-5", Value::Int(-5)),
            ("1796303459", Value::Int(1_796_303_459)),
            ("123456789012345678", Value::Int(123_456_789_012_345_678)),
            ("9223372036854775807", Value::Int(i64::MAX)),
            ("-9223372036854775807", Value::Int(-i64::MAX)),
            ("1.5", Value::Float("1.5".into())),
            ("0.5", Value::Float("0.5".into())),
            (".5", Value::Float(".5".into())),
            ("12.", Value::Float("12.".into())),
            ("-1.25", Value::Float("-1.25".into())),
        ] {
            for end in ["", "\n", " # c", "]"] {
                let t = if end == "]" {
                    format!("k = [{text}]")
                } else {
                    format!("k = {text}{end}")
                };
                let want = if end == "]" {
                    Value::Array(vec![value.clone()])
                } else {
                    value.clone()
                };
                assert_eq!(tree(t.as_bytes()), Some(vec![set("k", want)]), "{t:?}");
            }
        }
        for bad in ["08", "1.2.3", ".", "-", "+"] {
            assert_eq!(tree(format!("k = {bad}\n").as_bytes()), None, "{bad}");
        }
    }

    /// Comments run from `#` to the end of the line or text; sections nest,
    /// settings and subsections interleave in any order, and each section
    /// keeps its own nodes in text order.
    #[test]
    fn comments_and_nested_sections() {
        let text = b"# head\na { b = 1 # one\nc { d = 2 } e = [3, \"x\"] g { } }\nf = 4 # tail";
        let want = vec![
            sec(
                "a",
                vec![
                    set("b", Value::Int(1)),
                    sec("c", vec![set("d", Value::Int(2))]),
                    set(
                        "e",
                        Value::Array(vec![Value::Int(3), Value::Str("x".into())]),
                    ),
                    sec("g", vec![]),
                ],
            ),
            set("f", Value::Int(4)),
        ];
        assert_eq!(tree(text), Some(want.clone()));
        assert_eq!(
            Tree { nodes: want }.nodes,
            crate::text::parse(text).unwrap().nodes
        );
        // Three levels, the innermost first in its parent, then last.
        let text = b"x { y { z { k = 1 } l = 2 } m { n = 3 } }";
        assert_eq!(
            tree(text),
            Some(vec![sec(
                "x",
                vec![
                    sec(
                        "y",
                        vec![
                            sec("z", vec![set("k", Value::Int(1))]),
                            set("l", Value::Int(2))
                        ]
                    ),
                    sec("m", vec![set("n", Value::Int(3))]),
                ]
            )])
        );
        for bad in [
            &b"a { b = 1"[..],
            b"}",
            b"a { } }",
            b"a = ",
            b"a = }",
            b"= 1",
        ] {
            assert_eq!(tree(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

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

    proptest::proptest! {
        /// The vectorised counts equal plain ones, across lane, word and
        /// block boundaries (32 and 8,160 bytes) and with every byte
        /// counted at once.
        #[test]
        fn count_marks_counts_both_pairs(
            b in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'='),
                proptest::strategy::Just(b'{'),
                proptest::strategy::Just(b','),
                proptest::strategy::Just(b'['),
                proptest::prelude::any::<u8>(),
            ], 0..10_000)
        ) {
            let want = |x: u8, y: u8| b.iter().filter(|&&c| c == x || c == y).count();
            proptest::prop_assert_eq!(
                super::count_marks(&b),
                (want(b'=', b'{'), want(b',', b'['))
            );
        }
    }

    #[test]
    fn count_marks_of_long_runs_of_one_byte() {
        for n in [0, 1, 31, 32, 33, 8159, 8160, 8161, 16_320, 100_000] {
            assert_eq!(super::count_marks(&vec![b'='; n]), (n, 0));
            assert_eq!(super::count_marks(&vec![b'['; n]), (0, n));
        }
    }
}
