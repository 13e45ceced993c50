//! The tokenizer and grammar, with nom.
//!
//! Lexical rules (lvm2 `_get_token`): the input ends at the buffer's end or
//! the first NUL; `#` starts a comment at a token boundary; `{ } [ ] , =`
//! are single-character tokens; `"..."` strings unescape only `\"` and `\\`;
//! `'...'` strings are raw; numbers are recognised in value position only.

use super::{Node, Tree, Value};
use crate::error::Corruption;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::opt;
use nom::sequence::preceded;
use nom::IResult;

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

/// A double-quoted string body with lvm2's unescaping.
fn dquoted(i: &[u8]) -> Res<'_, String> {
    let (mut rest, _) = char('"')(i)?;
    // Fast path: most strings hold no backslash; one allocation then.
    if let Some(end) = rest.iter().position(|&c| c == b'"' || c == b'\\') {
        if rest[end] == b'"' {
            let body = &rest[..end];
            let s = match std::str::from_utf8(body) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(body).into_owned(),
            };
            return Ok((&rest[end + 1..], s));
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
    Ok((rest, String::from_utf8_lossy(&out).into_owned()))
}

fn squoted(i: &[u8]) -> Res<'_, String> {
    let (r, _) = char('\'')(i)?;
    let (r, body) = take_till(|c| c == b'\'')(r)?;
    if r.is_empty() {
        return fail(i, "unterminated string");
    }
    Ok((&r[1..], String::from_utf8_lossy(body).into_owned()))
}

fn key(i: &[u8]) -> Res<'_, String> {
    let (r, k) = match i.first() {
        Some(b'"') => dquoted(i)?,
        Some(b'\'') => squoted(i)?,
        _ => {
            let (r, k) = take_while1(|c| !is_ident_end(c))(i)?;
            let k = match std::str::from_utf8(k) {
                Ok(k) => k.to_owned(),
                Err(_) => String::from_utf8_lossy(k).into_owned(),
            };
            (r, k)
        }
    };
    if k.is_empty() {
        return fail(i, "empty key");
    }
    Ok((r, k))
}

/// A number in value position: `[+-.0-9]` then digits with at most one dot.
fn number(i: &[u8]) -> Res<'_, Value> {
    let (r, sign) = opt(alt((char('+'), char('-'))))(i)?;
    let (r, body) = take_while(|c: u8| c.is_ascii_digit() || c == b'.')(r)?;
    if body.is_empty() || body.iter().filter(|&&c| c == b'.').count() > 1 || body == b"." {
        return Err(nom::Err::Error(PErr {
            at: i,
            msg: "not a number".into(),
        }));
    }
    let text = std::str::from_utf8(&i[..i.len() - r.len()]).unwrap_or("");
    if body.contains(&b'.') {
        return Ok((r, Value::Float(text.to_owned())));
    }
    let neg = sign == Some('-');
    let digits = std::str::from_utf8(body).unwrap_or("");
    // strtoll with base 0: a leading 0 means octal.
    let parsed = if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    let Some(v) = parsed else {
        return fail(i, format!("number {text} is out of range or not valid"));
    };
    Ok((r, Value::Int(if neg { -v } else { v })))
}

fn bare(i: &[u8]) -> Res<'_, Value> {
    let (r, w) = take_while1(|c| !is_ident_end(c) && c != b']' && c != b',')(i)?;
    Ok((r, Value::Str(String::from_utf8_lossy(w).into_owned())))
}

fn scalar(i: &[u8]) -> Res<'_, Value> {
    match i.first() {
        Some(b'"') => dquoted(i).map(|(r, s)| (r, Value::Str(s))),
        Some(b'\'') => squoted(i).map(|(r, s)| (r, Value::Str(s))),
        Some(c) if c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.') => number(i),
        Some(_) => bare(i),
        None => fail(i, "a value is missing"),
    }
}

fn array(i: &[u8]) -> Res<'_, Value> {
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
        let (r2, v) = scalar(r).map_err(to_failure)?;
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

fn value(i: &[u8]) -> Res<'_, Value> {
    if i.first() == Some(&b'[') {
        array(i)
    } else {
        scalar(i).map_err(to_failure)
    }
}

/// Items until `}` (inside a section) or the end of input (top level).
fn items(mut i: &[u8], depth: usize, top: bool) -> Res<'_, Vec<Node>> {
    let mut nodes = Vec::with_capacity(8);
    loop {
        let (r, _) = junk(i)?;
        i = r;
        if i.is_empty() {
            if top {
                return Ok((i, nodes));
            }
            return fail(i, "end of text inside a section (missing '}')");
        }
        if i[0] == b'}' {
            if top {
                return fail(i, "'}' without a section to close");
            }
            return Ok((i, nodes));
        }
        let (r, k) = key(i).map_err(to_failure)?;
        let (r, _) = junk(r)?;
        match r.first() {
            Some(b'{') => {
                if depth >= MAX_NESTING {
                    return fail(r, format!("sections nested deeper than {MAX_NESTING}"));
                }
                let (r, children) = items(&r[1..], depth + 1, false)?;
                let (r, _) = preceded(junk, tag("}"))(r)?;
                nodes.push(Node::Section { key: k, children });
                i = r;
            }
            Some(b'=') => {
                let (r, _) = junk(&r[1..])?;
                let (r, v) = value(r)?;
                nodes.push(Node::Setting { key: k, value: v });
                i = r;
            }
            _ => return fail(r, format!("expected '=' or '{{' after \"{k}\"")),
        }
    }
}

/// Parses metadata text. The text ends at its end or at the first NUL.
pub fn parse(text: &[u8]) -> Result<Tree, Corruption> {
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    let body = &text[..end];
    match items(body, 0, true) {
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
