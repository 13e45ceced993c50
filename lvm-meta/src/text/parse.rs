//! The tokenizer and grammar, with nom.
//!
//! Lexical rules (lvm2 `_get_token`): the input ends at the buffer's end or
//! the first NUL; `#` starts a comment at a token boundary; `{ } [ ] , =`
//! are single-character tokens; `"..."` strings unescape only `\"` and `\\`;
//! `'...'` strings are raw; numbers are recognised in value position only.

use super::{BorrowedTree, Node, Tree, Value};
use crate::error::Corruption;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::opt;
use nom::sequence::preceded;
use nom::IResult;
use std::borrow::Cow;

/// Deepest nesting of sections accepted. lvm2's metadata nests four deep
/// (VG, logical_volumes, LV, segment); this leaves room for unknown segment
/// types and stops stack exhaustion on hostile input.
pub const MAX_NESTING: usize = 32;

type Res<'a, T> = IResult<&'a [u8], T, PErr<'a>>;

/// A parse failure: where (the remaining input) and what was expected.
/// Backtracking creates many of these, so the message is only formatted
/// when an error is reported.
#[derive(Debug)]
struct PErr<'a> {
    at: &'a [u8],
    msg: Msg,
}

#[derive(Debug)]
enum Msg {
    Kind(nom::error::ErrorKind),
    Text(String),
}

impl From<String> for Msg {
    fn from(s: String) -> Msg {
        Msg::Text(s)
    }
}

impl From<&str> for Msg {
    fn from(s: &str) -> Msg {
        Msg::Text(s.to_owned())
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Kind(k) => write!(f, "unexpected input ({k:?})"),
            Msg::Text(t) => f.write_str(t),
        }
    }
}

impl<'a> nom::error::ParseError<&'a [u8]> for PErr<'a> {
    fn from_error_kind(input: &'a [u8], kind: nom::error::ErrorKind) -> Self {
        PErr {
            at: input,
            msg: Msg::Kind(kind),
        }
    }
    fn append(_: &'a [u8], _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

fn fail<'a, T>(at: &'a [u8], msg: impl Into<Msg>) -> Res<'a, T> {
    Err(nom::Err::Failure(PErr {
        at,
        msg: msg.into(),
    }))
}

/// Whitespace and comments (a plain loop: this runs between every token).
fn junk(i: &[u8]) -> Res<'_, ()> {
    let mut at = 0;
    while let Some(&c) = i.get(at) {
        if c.is_ascii_whitespace() {
            at += 1;
        } else if c == b'#' {
            at += i[at..]
                .iter()
                .position(|&c| c == b'\n')
                .unwrap_or(i.len() - at);
        } else {
            break;
        }
    }
    Ok((&i[at..], ()))
}

fn is_ident_end(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'#' | b'=' | b'{' | b'}')
}

/// How the parser holds a key or string: owned ([`String`]) or borrowed
/// from the text ([`Cow`]).
trait TextOut<'a>: Sized {
    fn borrowed(s: &'a str) -> Self;
    fn owned(s: String) -> Self;
}

impl<'a> TextOut<'a> for String {
    fn borrowed(s: &'a str) -> Self {
        s.to_owned()
    }
    fn owned(s: String) -> Self {
        s
    }
}

impl<'a> TextOut<'a> for Cow<'a, str> {
    fn borrowed(s: &'a str) -> Self {
        Cow::Borrowed(s)
    }
    fn owned(s: String) -> Self {
        Cow::Owned(s)
    }
}

/// The text being parsed, with its UTF-8 form when it is valid UTF-8
/// (checked once for the whole text: tokens then are slices of it).
struct Src<'a> {
    body: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> Src<'a> {
    /// Token `tok` (a slice of the body) as a string; bytes that are not
    /// UTF-8 become U+FFFD, as lvm2's bytes are shown.
    fn string<S: TextOut<'a>>(&self, tok: &'a [u8]) -> S {
        if let Some(t) = self.text {
            let at = tok.as_ptr() as usize - self.body.as_ptr() as usize;
            if let Some(s) = t.get(at..at + tok.len()) {
                return S::borrowed(s);
            }
        }
        S::owned(String::from_utf8_lossy(tok).into_owned())
    }
}

/// A double-quoted string body with lvm2's unescaping.
fn dquoted<'a, S: TextOut<'a>>(src: &Src<'a>, i: &'a [u8]) -> Res<'a, S> {
    let (mut rest, _) = char('"')(i)?;
    // Fast path: most strings hold no backslash and are a slice of the text.
    if let Some(end) = rest.iter().position(|&c| c == b'"' || c == b'\\') {
        if rest[end] == b'"' {
            return Ok((&rest[end + 1..], src.string(&rest[..end])));
        }
    }
    let mut out = Vec::new();
    loop {
        match rest.first() {
            None => return fail(i, "unterminated string"),
            Some(b'"') => {
                rest = &rest[1..];
                break;
            }
            Some(b'\\') => match rest.get(1) {
                None => return fail(i, "unterminated string"),
                Some(&c @ (b'"' | b'\\')) => {
                    out.push(c);
                    rest = &rest[2..];
                }
                Some(&c) => {
                    out.push(b'\\');
                    out.push(c);
                    rest = &rest[2..];
                }
            },
            Some(&c) => {
                out.push(c);
                rest = &rest[1..];
            }
        }
    }
    let s = match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok((rest, S::owned(s)))
}

fn squoted<'a, S: TextOut<'a>>(src: &Src<'a>, i: &'a [u8]) -> Res<'a, S> {
    let (r, _) = char('\'')(i)?;
    let (r, body) = take_till(|c| c == b'\'')(r)?;
    if r.is_empty() {
        return fail(i, "unterminated string");
    }
    Ok((&r[1..], src.string(body)))
}

fn key<'a, S: TextOut<'a> + AsRef<str>>(src: &Src<'a>, i: &'a [u8]) -> Res<'a, S> {
    let (r, k) = match i.first() {
        Some(b'"') => dquoted::<S>(src, i)?,
        Some(b'\'') => squoted::<S>(src, i)?,
        _ => {
            let (r, k) = take_while1(|c| !is_ident_end(c))(i)?;
            (r, src.string(k))
        }
    };
    if k.as_ref().is_empty() {
        return fail(i, "empty key");
    }
    Ok((r, k))
}

/// A number in value position: `[+-.0-9]` then digits with at most one dot.
fn number<'a, S: TextOut<'a>>(src: &Src<'a>, i: &'a [u8]) -> Res<'a, Value<S>> {
    let (r, sign) = opt(alt((char('+'), char('-'))))(i)?;
    let (r, body) = take_while(|c: u8| c.is_ascii_digit() || c == b'.')(r)?;
    if body.is_empty() || body.iter().filter(|&&c| c == b'.').count() > 1 || body == b"." {
        return Err(nom::Err::Error(PErr {
            at: i,
            msg: "not a number".into(),
        }));
    }
    let whole = &i[..i.len() - r.len()];
    if body.contains(&b'.') {
        return Ok((r, Value::Float(src.string(whole))));
    }
    let neg = sign == Some('-');
    // strtoll with base 0: a leading 0 means octal. Digits only here.
    let (digits, radix) = if body.len() > 1 && body[0] == b'0' {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    let mut v: Option<i64> = Some(0);
    for &d in digits {
        let d = i64::from(d - b'0');
        v = if d >= radix {
            None
        } else {
            v.and_then(|v| v.checked_mul(radix)?.checked_add(d))
        };
    }
    // An empty digit string after the leading 0 cannot happen (body.len() > 1).
    let Some(v) = v else {
        let text = String::from_utf8_lossy(whole);
        return fail(i, format!("number {text} is out of range or not valid"));
    };
    Ok((r, Value::Int(if neg { -v } else { v })))
}

fn bare<'a, S: TextOut<'a>>(src: &Src<'a>, i: &'a [u8]) -> Res<'a, Value<S>> {
    let (r, w) = take_while1(|c| !is_ident_end(c) && c != b']' && c != b',')(i)?;
    Ok((r, Value::Str(src.string(w))))
}

fn scalar<'a, S: TextOut<'a>>(src: &Src<'a>, i: &'a [u8]) -> Res<'a, Value<S>> {
    match i.first() {
        Some(b'"') => dquoted(src, i).map(|(r, s)| (r, Value::Str(s))),
        Some(b'\'') => squoted(src, i).map(|(r, s)| (r, Value::Str(s))),
        Some(c) if c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.') => number(src, i),
        Some(_) => bare(src, i),
        None => fail(i, "a value is missing"),
    }
}

fn array<'a, S: TextOut<'a>>(src: &Src<'a>, i: &'a [u8]) -> Res<'a, Value<S>> {
    let (mut r, _) = char('[')(i)?;
    let mut items = Vec::new();
    loop {
        let (r2, _) = junk(r)?;
        r = r2;
        if let Ok((r2, _)) = char::<_, PErr>(']')(r) {
            return Ok((r2, Value::Array(items)));
        }
        if r.is_empty() {
            return fail(i, "unterminated array");
        }
        let (r2, v) = scalar(src, r).map_err(to_failure)?;
        items.push(v);
        let (r2, _) = junk(r2)?;
        let (r2, _) = opt(char(','))(r2)?;
        r = r2;
    }
}

fn to_failure(e: nom::Err<PErr<'_>>) -> nom::Err<PErr<'_>> {
    match e {
        nom::Err::Error(e) => nom::Err::Failure(e),
        other => other,
    }
}

fn value<'a, S: TextOut<'a>>(src: &Src<'a>, i: &'a [u8]) -> Res<'a, Value<S>> {
    if i.first() == Some(&b'[') {
        array(src, i)
    } else {
        scalar(src, i).map_err(to_failure)
    }
}

/// Items until `}` (inside a section) or the end of input (top level).
///
/// The nodes are gathered on `stack`, shared by every level (a section's
/// children go on top of its earlier siblings), and each level's are moved
/// into a vector of their exact number at its end: no vector grows by
/// doubling, copying its nodes and leaving the smaller copies behind.
fn items<'a, S: TextOut<'a> + AsRef<str>>(
    src: &Src<'a>,
    mut i: &'a [u8],
    depth: usize,
    top: bool,
    stack: &mut Vec<Node<S>>,
) -> Res<'a, Vec<Node<S>>> {
    let base = stack.len();
    loop {
        let (r, _) = junk(i)?;
        i = r;
        if i.is_empty() {
            if top {
                return Ok((i, stack.drain(base..).collect()));
            }
            return fail(i, "end of text inside a section (missing '}')");
        }
        if i[0] == b'}' {
            if top {
                return fail(i, "'}' without a section to close");
            }
            return Ok((i, stack.drain(base..).collect()));
        }
        let (r, k) = key::<S>(src, i).map_err(to_failure)?;
        let (r, _) = junk(r)?;
        match r.first() {
            Some(b'{') => {
                if depth >= MAX_NESTING {
                    return fail(r, format!("sections nested deeper than {MAX_NESTING}"));
                }
                let (r, children) = items(src, &r[1..], depth + 1, false, stack)?;
                let (r, _) = preceded(junk, tag("}"))(r)?;
                stack.push(Node::Section { key: k, children });
                i = r;
            }
            Some(b'=') => {
                let (r, _) = junk(&r[1..])?;
                let (r, v) = value(src, r)?;
                stack.push(Node::Setting { key: k, value: v });
                i = r;
            }
            _ => return fail(r, format!("expected '=' or '{{' after \"{}\"", k.as_ref())),
        }
    }
}

fn parse_as<'a, S: TextOut<'a> + AsRef<str>>(text: &'a [u8]) -> Result<Tree<S>, Corruption> {
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    let body = &text[..end];
    let src = Src {
        body,
        text: std::str::from_utf8(body).ok(),
    };
    match items(&src, body, 0, true, &mut Vec::new()) {
        Ok((_, nodes)) => Ok(Tree { nodes }),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let offset = body.len() - e.at.len();
            let line = body[..offset].iter().filter(|&&c| c == b'\n').count() + 1;
            Err(Corruption::Text {
                line: line as u64,
                offset: offset as u64,
                message: e.msg.to_string(),
            })
        }
        Err(nom::Err::Incomplete(_)) => Err(Corruption::Text {
            line: 0,
            offset: body.len() as u64,
            message: "incomplete".into(),
        }),
    }
}

/// Parses metadata text. The text ends at its end or at the first NUL.
pub fn parse(text: &[u8]) -> Result<Tree, Corruption> {
    parse_as(text)
}

/// Parses metadata text like [`parse`] into a tree whose keys and strings
/// borrow from `text` (a string holding an escape, or any string of a text
/// that is not UTF-8, is owned).
pub fn parse_borrowed(text: &[u8]) -> Result<BorrowedTree<'_>, Corruption> {
    parse_as(text)
}
