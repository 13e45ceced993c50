//! lvm2's report selections (`-S`/`--select`): the grammar, the value
//! syntax of each field type, reserved values, and lvm2's messages for
//! every refusal, as lvm2 2.03.16 has them.
//!
//! ```text
//! OR  := AND (('||' | '#') AND)*
//! AND := EX (('&&' | ',') EX)*
//! EX  := '!' '(' OR ')' | '(' OR ')' | FIELD OP VALUE
//! OP  := '=~' | '!~' | '=' | '!=' | '>=' | '>' | '<=' | '<'
//!        | 'since' | 'after' | 'until' | 'before'
//! ```
//!
//! Values: strings (quoted with `'` or `"`, or bare up to an operator,
//! `)` or a space), string lists (`[a,b]` all of them exactly, `{a,b}` all
//! of them among others, `[a||b]`/`{a||b}` any of them), numbers, sizes
//! with a unit (`m` when none), percents (`50` or `50%`), times
//! (`YYYY[-MM[-DD]]` or `@seconds`), regular expressions (see [`regex`]).
//! [`parse`] never panics, whatever its input.

pub mod regex;

use crate::fields::FieldType;
use regex::Regex;

/// A field as a selection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRef {
    /// The caller's index for the field, given back to [`Selection::matches`].
    pub id: usize,
    /// The field's canonical name (for messages and reserved values).
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
}

/// A row's value of a field, as selections compare it.
#[derive(Debug, Clone, PartialEq)]
pub enum SelValue {
    /// Text (also what regular expressions are matched against).
    Str(String),
    /// A list of words.
    List(Vec<String>),
    /// A number; `u64::MAX` is lvm2's "undefined" (`-1`).
    Num(u64),
    /// A size in 512-byte sectors (`NaN` when undefined).
    Size(f64),
    /// A percentage in millionths of a percent; above 100% means undefined.
    Pct(u64),
    /// Seconds since the epoch.
    Time(i64),
}

/// Deepest nesting of parentheses and `!( )` parsed (lvm2 has no limit):
/// it bounds the parser's recursion on hostile input.
const MAX_NESTING: usize = 256;

/// The value lvm2 uses for an undefined number.
pub const UNDEF: u64 = u64::MAX;
/// One percent in [`SelValue::Pct`] units.
pub const PERCENT_1: u64 = 1_000_000;
/// The read-ahead value `auto`, as a size.
pub const SIZE_AUTO: f64 = u64::MAX as f64;

/// A refused selection: what lvm2 prints on stderr (complete lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectError {
    /// The text, every line indented by two spaces and ending in a newline.
    pub stderr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    /// `[..]` with `,`/`&&`: exactly these items.
    Strict,
    /// `{..}` with `,`/`&&`: these items among others.
    Subset,
    /// Either bracket with `||`/`#`, or a bare word: any of these.
    Any,
}

#[derive(Debug, Clone)]
enum Operand {
    Regex(Regex, bool),
    Str(String),
    List(ListKind, Vec<String>),
    Num(u64, Option<u64>),
    Size(f64),
    Pct(u64),
    Time(i64, Option<i64>),
}

#[derive(Debug, Clone)]
struct Item {
    field: FieldRef,
    cmp: Cmp,
    operand: Operand,
    /// The reserved value of the field (strict ones only): ordering
    /// comparisons never match it.
    strict_num: Option<u64>,
    strict_size: Option<f64>,
}

#[derive(Debug, Clone)]
enum Node {
    Item(Box<Item>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

/// A parsed selection.
#[derive(Debug, Clone)]
pub struct Selection {
    root: Node,
}

impl Selection {
    /// The ids of the fields the selection reads, each once.
    pub fn fields(&self) -> Vec<usize> {
        fn walk(n: &Node, out: &mut Vec<usize>) {
            match n {
                Node::Item(i) => {
                    if !out.contains(&i.field.id) {
                        out.push(i.field.id);
                    }
                }
                Node::And(v) | Node::Or(v) => v.iter().for_each(|n| walk(n, out)),
                Node::Not(n) => walk(n, out),
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    /// Whether a row passes; `value` gives the row's value of a field id.
    pub fn matches(&self, value: &mut dyn FnMut(usize) -> SelValue) -> bool {
        eval(&self.root, value)
    }
}

fn eval(n: &Node, value: &mut dyn FnMut(usize) -> SelValue) -> bool {
    match n {
        Node::Item(i) => compare(i, &value(i.field.id)),
        Node::And(v) => v.iter().all(|n| eval(n, value)),
        Node::Or(v) => v.iter().any(|n| eval(n, value)),
        Node::Not(n) => !eval(n, value),
    }
}

fn dbl_eq(a: f64, b: f64) -> bool {
    (a - b).abs() < f64::EPSILON
}

fn compare(i: &Item, v: &SelValue) -> bool {
    use Cmp::*;
    match (&i.operand, v) {
        (Operand::Regex(r, not), SelValue::Str(s)) => r.is_match(s) != *not,
        (Operand::Str(want), SelValue::Str(s)) => match i.cmp {
            Ne => s != want,
            _ => s == want,
        },
        (Operand::List(kind, want), SelValue::List(have)) => {
            let r = list_match(*kind, want, have);
            if i.cmp == Ne {
                !r
            } else {
                r
            }
        }
        (Operand::Num(a, b), SelValue::Num(x)) => num_cmp(i, *x, *a, *b),
        (Operand::Pct(a), SelValue::Pct(x)) => {
            // Only real percentages (0..=100%) ever match, even for `!=`.
            *x <= 100 * PERCENT_1 && num_cmp(i, *x, *a, None)
        }
        (Operand::Size(a), SelValue::Size(x)) => {
            let a = *a;
            let x = *x;
            let strict = i.strict_size.is_some_and(|r| dbl_eq(x, r) || dbl_eq(a, r));
            match i.cmp {
                Eq => dbl_eq(x, a),
                Ne => !dbl_eq(x, a),
                _ if strict => false,
                Gt => x > a && !dbl_eq(x, a),
                Ge => x > a || dbl_eq(x, a),
                Lt => x < a && !dbl_eq(x, a),
                Le => x < a || dbl_eq(x, a),
            }
        }
        (Operand::Time(a, b), SelValue::Time(x)) => {
            let x = *x;
            match (i.cmp, b) {
                // lvm2 treats `!=` with a range like `=`.
                (Eq | Ne, Some(b)) => x >= *a && x <= *b,
                (Eq, None) => x == *a,
                (Ne, None) => x != *a,
                (Gt, Some(b)) => x > *b,
                (Gt, None) => x > *a,
                (Ge, _) => x >= *a,
                (Lt, _) => x < *a,
                (Le, Some(b)) => x <= *b,
                (Le, None) => x <= *a,
            }
        }
        _ => false,
    }
}

fn num_cmp(i: &Item, x: u64, a: u64, b: Option<u64>) -> bool {
    use Cmp::*;
    let strict = i.strict_num.is_some_and(|r| x == r || a == r);
    match (i.cmp, b) {
        (Eq, Some(b)) => x >= a && x <= b,
        (Eq, None) => x == a,
        (Ne, Some(b)) => !(x >= a && x <= b),
        (Ne, None) => x != a,
        _ if strict => false,
        (Gt, Some(b)) => x > b,
        (Gt, None) => x > a,
        (Ge, _) => x >= a,
        (Lt, _) => x < a,
        (Le, Some(b)) => x <= b,
        (Le, None) => x <= a,
    }
}

fn list_match(kind: ListKind, want: &[String], have: &[String]) -> bool {
    if have.is_empty() {
        return match kind {
            ListKind::Any => want.iter().any(String::is_empty),
            _ => want.len() == 1 && want[0].is_empty(),
        };
    }
    match kind {
        ListKind::Strict => want == have,
        ListKind::Subset => want.iter().all(|w| have.contains(w)),
        ListKind::Any => want.iter().any(|w| have.contains(w)),
    }
}

/// A reserved word of a field: the value it stands for.
#[derive(Debug, Clone, Copy)]
enum Reserved {
    Num(u64),
    Str(&'static str),
    Size(f64),
}

/// Binary fields and the words that name their "set" state; `yes`/`no`
/// work for all of them.
const BINARY_NAMES: &[(&str, &[&str])] = &[
    ("pv_allocatable", &["allocatable"]),
    ("pv_exported", &["exported"]),
    ("pv_missing", &["missing"]),
    ("pv_in_use", &["used", "in use"]),
    ("pv_duplicate", &["duplicate"]),
    ("vg_extendable", &["extendable"]),
    ("vg_exported", &["exported"]),
    ("vg_partial", &["partial"]),
    ("vg_clustered", &["clustered"]),
    ("vg_shared", &["shared"]),
    ("lv_initial_image_sync", &["initial image sync", "sync"]),
    ("lv_image_synced", &["image synced", "synced"]),
    ("lv_merging", &["merging"]),
    ("lv_converting", &["converting"]),
    ("lv_allocation_locked", &["allocation locked", "locked"]),
    ("lv_fixed_minor", &["fixed minor", "fixed"]),
    (
        "lv_active_locally",
        &["active locally", "active", "locally"],
    ),
    (
        "lv_active_remotely",
        &["active remotely", "active", "remotely"],
    ),
    (
        "lv_active_exclusively",
        &["active exclusively", "active", "exclusively"],
    ),
    ("lv_merge_failed", &["merge failed", "failed"]),
    ("lv_snapshot_invalid", &["snapshot invalid", "invalid"]),
    ("lv_suspended", &["suspended"]),
    (
        "lv_live_table",
        &["live table present", "live table", "live"],
    ),
    (
        "lv_inactive_table",
        &["inactive table present", "inactive table", "inactive"],
    ),
    ("lv_device_open", &["open"]),
    ("lv_skip_activation", &["skip activation", "skip"]),
    ("zero", &["zero"]),
    ("lv_check_needed", &["check needed", "needed"]),
    ("vdo_compression", &["enabled"]),
    ("vdo_deduplication", &["enabled"]),
    ("vdo_use_metadata_hints", &["enabled"]),
    ("vdo_use_sparse_index", &["enabled"]),
];

/// Per-field reserved words (besides the binary ones): (field, canonical
/// value, words, strict). Strict values are never ordered against.
const FIELD_WORDS: &[(&str, Reserved, &[&str], bool)] = &[
    (
        "vg_permissions",
        Reserved::Str("writeable"),
        &["writeable", "rw", "read-write"],
        false,
    ),
    (
        "vg_permissions",
        Reserved::Str("read-only"),
        &["read-only", "r", "ro"],
        false,
    ),
    ("vg_mda_copies", Reserved::Num(UNDEF), &["unmanaged"], true),
    (
        "lv_permissions",
        Reserved::Str("writeable"),
        &["writeable", "rw", "read-write"],
        false,
    ),
    (
        "lv_permissions",
        Reserved::Str("read-only"),
        &["read-only", "r", "ro"],
        false,
    ),
    (
        "lv_permissions",
        Reserved::Str("read-only-override"),
        &["read-only-override", "ro-override", "r-override", "R"],
        false,
    ),
    ("lv_read_ahead", Reserved::Size(SIZE_AUTO), &["auto"], true),
    (
        "lv_when_full",
        Reserved::Str("error"),
        &["error", "error when full", "error if no space"],
        false,
    ),
    (
        "lv_when_full",
        Reserved::Str("queue"),
        &["queue", "queue when full", "queue if no space"],
        false,
    ),
    ("lv_when_full", Reserved::Str(""), &["", "undefined"], true),
    ("cache_policy", Reserved::Str(""), &["", "undefined"], true),
    ("seg_monitor", Reserved::Str(""), &["", "undefined"], true),
    (
        "lv_health_status",
        Reserved::Str(""),
        &["", "undefined"],
        true,
    ),
    (
        "kernel_discards",
        Reserved::Str(""),
        &["", "undefined"],
        true,
    ),
    (
        "vdo_write_policy",
        Reserved::Str(""),
        &["", "undefined"],
        true,
    ),
];

/// Words every number field takes for "undefined".
const NUM_UNDEF_WORDS: &[&str] = &["-1", "unknown", "undefined", "undef"];

fn is_num(ty: FieldType) -> bool {
    matches!(ty, FieldType::Num | FieldType::Bin | FieldType::SNum)
}

/// The reserved value `word` stands for in field `f`, if any.
fn reserved(f: &FieldRef, word: &str) -> Option<Reserved> {
    if is_num(f.ty) && NUM_UNDEF_WORDS.contains(&word) {
        return Some(Reserved::Num(UNDEF));
    }
    if let Some((_, names)) = BINARY_NAMES.iter().find(|(n, _)| *n == f.name) {
        if names.contains(&word) || word == "yes" {
            return Some(Reserved::Num(1));
        }
        if word == "no" {
            return Some(Reserved::Num(0));
        }
    }
    FIELD_WORDS
        .iter()
        .find(|(n, _, words, _)| *n == f.name && words.contains(&word))
        .map(|(_, r, _, _)| *r)
}

/// The field's strict reserved values (number, size).
fn strict_values(f: &FieldRef) -> (Option<u64>, Option<f64>) {
    let mut num = if is_num(f.ty) { Some(UNDEF) } else { None };
    let mut size = None;
    for (n, r, _, strict) in FIELD_WORDS {
        if *n == f.name && *strict {
            match r {
                Reserved::Num(v) => num = Some(*v),
                Reserved::Size(v) => size = Some(*v),
                Reserved::Str(_) => {}
            }
        }
    }
    (num, size)
}

/// The strict reserved string of a field, if it has one.
fn strict_str(f: &FieldRef) -> Option<&'static str> {
    FIELD_WORDS.iter().find_map(|(n, r, _, strict)| match r {
        Reserved::Str(s) if *n == f.name && *strict => Some(*s),
        _ => None,
    })
}

/// Names a field of lvm2's catalogue by its exact name; the id is its index
/// in [`crate::fields::CATALOGUE`]. A resolver for [`parse`] outside a
/// report (reports also take names without their prefix).
pub fn catalogue_field(name: &str) -> Option<FieldRef> {
    let id = crate::fields::CATALOGUE
        .iter()
        .position(|f| f.name == name)?;
    let f = &crate::fields::CATALOGUE[id];
    Some(FieldRef {
        id,
        name: f.name,
        ty: f.ty,
    })
}

/// Parses selection `text`, its dates read in UTC; `resolve` names a
/// field (lvm2's rules for prefixes are the caller's). `Ok(None)`: select
/// everything (empty, or `all`).
pub fn parse(
    text: &str,
    resolve: &dyn Fn(&str) -> Option<FieldRef>,
) -> Result<Option<Selection>, SelectError> {
    parse_in(text, resolve, &crate::localtime::Zone::utc())
}

/// [`parse`], with dates and times read as the wall clock of `zone` (as
/// lvm2 reads them in its local zone) unless they carry an offset.
pub fn parse_in(
    text: &str,
    resolve: &dyn Fn(&str) -> Option<FieldRef>,
    zone: &crate::localtime::Zone,
) -> Result<Option<Selection>, SelectError> {
    if text.is_empty() || text.eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    let mut p = P {
        s: text.as_bytes(),
        resolve,
        zone,
        log: String::new(),
        depth: 0,
    };
    let r = p.or_ex(0);
    let (root, at) = match r {
        Some(x) => x,
        None => return Err(SelectError { stderr: p.log }),
    };
    let at = p.skip_space(at);
    if at < p.s.len() {
        p.err("Expecting logical operator");
        p.syntax_error(at);
        return Err(SelectError { stderr: p.log });
    }
    Ok(Some(Selection { root }))
}

const LOG_OPS: [(&str, u8); 11] = [
    ("&&", AND),
    (",", AND),
    ("||", OR),
    ("#", OR),
    ("!", NOT),
    ("(", PS),
    (")", PE),
    ("[", LS),
    ("]", LE),
    ("{", SLS),
    ("}", LE),
];
const AND: u8 = 1;
const OR: u8 = 2;
const NOT: u8 = 4;
const PS: u8 = 8;
const PE: u8 = 16;
const LS: u8 = 32;
const LE: u8 = 64;
const SLS: u8 = 128;

struct P<'a> {
    s: &'a [u8],
    resolve: &'a dyn Fn(&str) -> Option<FieldRef>,
    zone: &'a crate::localtime::Zone,
    log: String,
    depth: usize,
}

/// Which of the list-end brackets a token is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Op(u8),
    ListEnd(bool),
}

impl P<'_> {
    fn err(&mut self, line: &str) {
        self.log.push_str("  ");
        self.log.push_str(line);
        self.log.push('\n');
    }

    fn rest(&self, at: usize) -> String {
        String::from_utf8_lossy(self.s.get(at..).unwrap_or_default()).into_owned()
    }

    fn syntax_error(&mut self, at: usize) {
        let r = self.rest(at);
        self.err(&format!("Selection syntax error at '{r}'."));
        self.err("Use 'help' for selection to get more help.");
    }

    fn skip_space(&self, mut at: usize) -> usize {
        while at < self.s.len() && self.s[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    }

    /// A logical operator among `expect` at `at` (after spaces): its flag
    /// and the position after it.
    fn log_op(&self, at: usize, expect: u8, list_ends: bool) -> Option<(Tok, usize)> {
        let at = self.skip_space(at);
        let rest = self.s.get(at..).unwrap_or_default();
        for (t, flag) in LOG_OPS {
            let tok = match t {
                "]" => Tok::ListEnd(true),
                "}" => Tok::ListEnd(false),
                _ => Tok::Op(flag),
            };
            let wanted = match tok {
                Tok::ListEnd(_) => list_ends,
                Tok::Op(f) => f & expect != 0,
            };
            if wanted && rest.starts_with(t.as_bytes()) {
                return Some((tok, at + t.len()));
            }
        }
        None
    }

    fn or_ex(&mut self, at: usize) -> Option<(Node, usize)> {
        self.chain(at, OR, Self::and_ex, Node::Or)
    }

    fn and_ex(&mut self, at: usize) -> Option<(Node, usize)> {
        self.chain(at, AND, Self::ex, Node::And)
    }

    /// `PART (OP PART)*`: one part alone, or `join` of all of them.
    fn chain(
        &mut self,
        mut at: usize,
        op: u8,
        part: fn(&mut Self, usize) -> Option<(Node, usize)>,
        join: fn(Vec<Node>) -> Node,
    ) -> Option<(Node, usize)> {
        let mut parts = Vec::new();
        loop {
            let (n, next) = part(self, at)?;
            parts.push(n);
            match self.log_op(next, op, false) {
                Some((_, after)) => at = after,
                None => {
                    let node = if parts.len() == 1 {
                        parts.pop()?
                    } else {
                        join(parts)
                    };
                    return Some((node, next));
                }
            }
        }
    }

    fn ex(&mut self, at: usize) -> Option<(Node, usize)> {
        if self.depth > MAX_NESTING {
            self.err("Selection is nested too deeply.");
            return None;
        }
        match self.log_op(at, NOT | PS, false) {
            Some((Tok::Op(NOT), next)) => {
                let Some((_, inner)) = self.log_op(next, PS, false) else {
                    let r = self.rest(self.skip_space(next));
                    self.err(&format!("Syntax error: left parenthesis expected at '{r}'"));
                    return None;
                };
                self.depth += 1;
                let r = self.or_ex(inner);
                self.depth -= 1;
                let (n, next) = r?;
                let Some((_, after)) = self.log_op(next, PE, false) else {
                    let r = self.rest(self.skip_space(next));
                    self.err(&format!(
                        "Syntax error: right parenthesis expected at '{r}'"
                    ));
                    return None;
                };
                // lvm2 sets a "negated" mark on the inner node: negating
                // twice is negating once.
                let n = match n {
                    Node::Not(_) => n,
                    other => Node::Not(Box::new(other)),
                };
                Some((n, after))
            }
            Some((_, inner)) => {
                self.depth += 1;
                let r = self.or_ex(inner);
                self.depth -= 1;
                let (n, next) = r?;
                let Some((_, after)) = self.log_op(next, PE, false) else {
                    let r = self.rest(self.skip_space(next));
                    self.err(&format!(
                        "Syntax error: right parenthesis expected at '{r}'"
                    ));
                    return None;
                };
                Some((n, after))
            }
            None => {
                let at = self.skip_space(at);
                self.item(at)
            }
        }
    }

    /// A bare or quoted word from `at`: (start, end, next position); bare
    /// words end at a space or one of `ends`. `None` after logging
    /// `Missing end quote.`.
    fn word(
        &mut self,
        at: usize,
        quote: Option<u8>,
        ends: u8,
        list: bool,
    ) -> Option<(usize, usize, usize)> {
        let s = self.s;
        match quote {
            Some(q) => {
                let mut p = at;
                while p < s.len() && s[p] != q {
                    p += 1;
                }
                if p >= s.len() {
                    self.err("Missing end quote.");
                    return None;
                }
                Some((at, p, p + 1))
            }
            None => {
                let mut p = at;
                while p < s.len() {
                    if s[p] == b' ' || self.log_op_here(p, ends, list) {
                        break;
                    }
                    p += 1;
                }
                Some((at, p, p))
            }
        }
    }

    /// Whether a logical operator in `ends` starts exactly at `p`.
    fn log_op_here(&self, p: usize, ends: u8, list: bool) -> bool {
        let rest = &self.s[p..];
        LOG_OPS.iter().any(|(t, f)| {
            let wanted = match *t {
                "]" | "}" => list,
                _ => f & ends != 0,
            };
            wanted && rest.starts_with(t.as_bytes())
        })
    }

    fn quote_at(&self, at: usize) -> (Option<u8>, usize) {
        match self.s.get(at) {
            Some(&q) if q == b'"' || q == b'\'' => (Some(q), at + 1),
            _ => (None, at),
        }
    }

    fn text(&self, a: usize, b: usize) -> String {
        String::from_utf8_lossy(self.s.get(a..b).unwrap_or_default()).into_owned()
    }

    fn item(&mut self, at: usize) -> Option<(Node, usize)> {
        let s = self.s;
        // field name
        let mut we = at;
        while we < s.len() && (s[we].is_ascii_alphanumeric() || s[we] == b'_' || s[we] == b'-') {
            we += 1;
        }
        if we == at {
            self.err("Expecting field name");
            self.syntax_error(at);
            return None;
        }
        let name = self.text(at, we);
        let Some(field) = (self.resolve)(&name) else {
            if name == "help" || name == "?" {
                self.log.push_str(&crate::fields::help_text(false, true));
                self.err(&format!("Selection field is uncomparable: {name}."));
            } else {
                self.log.push_str(&crate::fields::help_text(false, true));
                self.err(&format!("Unrecognised selection field: {name}"));
            }
            self.syntax_error(at);
            return None;
        };
        // comparison operator
        let op_at = self.skip_space(we);
        let rest = &s[op_at..];
        const OPS: [(&str, Cmp, u8); 12] = [
            ("=~", Cmp::Eq, 1),
            ("!~", Cmp::Ne, 1),
            ("=", Cmp::Eq, 0),
            ("!=", Cmp::Ne, 0),
            (">=", Cmp::Ge, 2),
            (">", Cmp::Gt, 2),
            ("<=", Cmp::Le, 2),
            ("<", Cmp::Lt, 2),
            ("since", Cmp::Ge, 3),
            ("after", Cmp::Gt, 3),
            ("until", Cmp::Le, 3),
            ("before", Cmp::Lt, 3),
        ];
        let Some(&(op, cmp, class)) = OPS.iter().find(|(o, _, _)| rest.starts_with(o.as_bytes()))
        else {
            self.log.push_str(SELECTION_HELP);
            let r = self.rest(we);
            self.err(&format!("Unrecognised comparison operator: {r}"));
            self.syntax_error(at);
            return None;
        };
        let vat = op_at + op.len();
        let (strict_num, strict_size) = strict_values(&field);
        let mk = |operand| Item {
            field,
            cmp,
            operand,
            strict_num,
            strict_size,
        };
        if class == 1 {
            return self.regex_item(at, vat, field, cmp == Cmp::Ne, mk);
        }
        let ty = field.ty;
        if class == 2
            && !(is_num(ty) || matches!(ty, FieldType::Size | FieldType::Pct | FieldType::Time))
        {
            self.log.push_str(SELECTION_HELP);
            let r = self.rest(at);
            self.err(&format!(
                "Operator can be used only with number, size, time or percent fields: {r}"
            ));
            self.syntax_error(at);
            return None;
        }
        if class == 3 && ty != FieldType::Time {
            self.log.push_str(SELECTION_HELP);
            let r = self.rest(at);
            self.err(&format!("Operator can be used only with time fields: {r}"));
            self.syntax_error(at);
            return None;
        }
        let vat = self.skip_space(vat);
        // reserved words first
        let (q, wat) = self.quote_at(vat);
        if let Some((a, b, next)) = self.word(wat, q, AND | OR | PE, false) {
            let w = self.text(a, b);
            if let Some(r) = reserved(&field, &w) {
                let operand = match r {
                    Reserved::Num(v) if ty == FieldType::Pct => Operand::Pct(v),
                    Reserved::Num(v) => Operand::Num(v, None),
                    Reserved::Str(v) => Operand::Str(v.to_owned()),
                    Reserved::Size(v) => Operand::Size(v),
                };
                let next = self.skip_space(next);
                return Some((Node::Item(Box::new(mk(operand))), next));
            }
        }
        let fname = field.name;
        let fail = |p: &mut Self, what: &str| {
            p.err(&format!(
                "Failed to parse {what} value for selection field {fname}."
            ));
            p.syntax_error(at);
        };
        let (operand, next) = match ty {
            FieldType::Str => {
                let (q, wat) = self.quote_at(vat);
                let Some((a, b, next)) = self.word(wat, q, AND | OR | PE, false) else {
                    fail(self, "string");
                    return None;
                };
                let v = self.text(a, b);
                if strict_str(&field) == Some(v.as_str()) {
                    self.err(&format!("String value {v} found in selection is reserved."));
                    return None;
                }
                (Operand::Str(v), next)
            }
            FieldType::StrList => match self.list(vat) {
                Some((kind, items, next)) => (Operand::List(kind, items), next),
                None => {
                    fail(self, "string list");
                    return None;
                }
            },
            FieldType::Num
            | FieldType::Bin
            | FieldType::SNum
            | FieldType::Size
            | FieldType::Pct => self.number(at, vat, field)?,
            FieldType::Time => {
                let r = self.time(vat, &field);
                match r {
                    Some((a, b, next)) => (Operand::Time(a, b), next),
                    None => {
                        fail(self, "time");
                        return None;
                    }
                }
            }
        };
        let next = self.skip_space(next);
        Some((Node::Item(Box::new(mk(operand))), next))
    }

    fn regex_item(
        &mut self,
        at: usize,
        vat: usize,
        field: FieldRef,
        not: bool,
        mk: impl Fn(Operand) -> Item,
    ) -> Option<(Node, usize)> {
        let vat = self.skip_space(vat);
        if vat >= self.s.len() {
            self.err(&format!(
                "Regular expression expected for selection field {}",
                field.name
            ));
            self.syntax_error(at);
            return None;
        }
        let close = match self.s[vat] {
            b'(' => Some(b')'),
            b'{' => Some(b'}'),
            b'[' => Some(b']'),
            q @ (b'"' | b'\'') => Some(q),
            _ => None,
        };
        let start = if close.is_some() { vat + 1 } else { vat };
        let Some((a, b, next)) = self.word(start, close, AND | OR | PE, false) else {
            self.err(&format!(
                "Failed to parse regex value for selection field {}.",
                field.name
            ));
            self.syntax_error(at);
            return None;
        };
        if field.ty != FieldType::Str {
            self.err(&format!(
                "dm_report: incompatible comparison type for selection field {}",
                field.name
            ));
            return None;
        }
        let pattern = self.text(a, b);
        match Regex::new(&pattern) {
            Ok(r) => {
                let next = self.skip_space(next);
                Some((Node::Item(Box::new(mk(Operand::Regex(r, not)))), next))
            }
            Err(lines) => {
                for l in lines {
                    self.err(&l);
                }
                self.err(&format!(
                    "dm_report: failed to create regex matcher for selection field {}",
                    field.name
                ));
                None
            }
        }
    }

    fn list(&mut self, at: usize) -> Option<(ListKind, Vec<String>, usize)> {
        let open = self.log_op(at, LS | SLS, false);
        let Some((Tok::Op(open), mut p)) = open else {
            // One bare or quoted item.
            let (q, wat) = self.quote_at(at);
            let (a, b, next) = self.word(wat, q, AND | OR | PE, false)?;
            return Some((ListKind::Any, vec![self.text(a, b)], next));
        };
        let square = open == LS;
        let mut items = Vec::new();
        let mut op: Option<u8> = None;
        loop {
            if p >= self.s.len() {
                break;
            }
            p = self.skip_space(p);
            let (q, wat) = self.quote_at(p);
            let (a, b, next) = self.word(wat, q, AND | OR, true)?;
            let next = self.skip_space(next);
            let Some((tok, after)) = self.log_op(next, AND | OR, true) else {
                self.err("Invalid operator in selection list.");
                return None;
            };
            let end = match tok {
                Tok::ListEnd(sq) => {
                    if sq != square {
                        let want = if square { "]" } else { "}" };
                        self.err(&format!(
                            "List ended with incorrect character, expecting '{want}'."
                        ));
                        return None;
                    }
                    true
                }
                Tok::Op(f) => {
                    match op {
                        Some(o) if o != f => {
                            self.err(
                                "Only one type of logical operator allowed in selection list at a time.",
                            );
                            return None;
                        }
                        _ => op = Some(f),
                    }
                    false
                }
            };
            items.push(self.text(a, b));
            p = after;
            if end {
                items.sort();
                let kind = match (op, square) {
                    (Some(OR), _) => ListKind::Any,
                    (_, true) => ListKind::Strict,
                    (_, false) => ListKind::Subset,
                };
                return Some((kind, items, p));
            }
        }
        self.err(&format!("Missing list end for selection field {}", "list"));
        None
    }

    fn number(&mut self, at: usize, vat: usize, field: FieldRef) -> Option<(Operand, usize)> {
        let s = self.s;
        let ty = field.ty;
        let name = field.name;
        let mut p = vat;
        let mut dot = false;
        while p < s.len() && (s[p].is_ascii_digit() || (!dot && s[p] == b'.')) {
            if s[p] == b'.' {
                dot = true;
            }
            p += 1;
        }
        if p == vat {
            self.err(&format!(
                "Failed to parse numeric value for selection field {name}."
            ));
            self.syntax_error(at);
            return None;
        }
        let digits = self.text(vat, p);
        let kind_name = |t: FieldType| match t {
            FieldType::Size => "size",
            FieldType::Pct => "percent",
            _ => "numeric",
        };
        if s.get(p) == Some(&b'%') {
            if ty != FieldType::Pct {
                self.err(&format!(
                    "Found percent value but {} value expected for selection field {name}.",
                    kind_name(ty)
                ));
                self.syntax_error(at);
                return None;
            }
            p += 1;
        } else if let Some(f) = s.get(p).and_then(|&c| unit_factor(c)) {
            if ty != FieldType::Size {
                self.err(&format!(
                    "Found size unit specifier but {} value expected for selection field {name}.",
                    kind_name(ty)
                ));
                self.syntax_error(at);
                return None;
            }
            p += 1;
            return Some((Operand::Size(strtod(&digits) * f as f64 / 512.0), p));
        }
        let out_of_range = |p: &mut Self| {
            p.err(&format!(
                "Field selection value {digits} out of supported range for field {name}."
            ));
        };
        let operand = match ty {
            FieldType::Size => Operand::Size(strtod(&digits) * 1048576.0 / 512.0),
            FieldType::Pct => {
                let d = strtod(&digits);
                if d > 100.0 {
                    out_of_range(self);
                    return None;
                }
                Operand::Pct((PERCENT_1 as f64 * d) as u64)
            }
            _ => {
                let int = digits.split('.').next().unwrap_or("");
                let v = if int.is_empty() {
                    0
                } else {
                    match int.parse::<u64>() {
                        Ok(v) => v,
                        Err(_) => {
                            out_of_range(self);
                            return None;
                        }
                    }
                };
                if v == UNDEF {
                    self.err(&format!(
                        "Numeric value {v} found in selection is reserved."
                    ));
                    return None;
                }
                Operand::Num(v, None)
            }
        };
        Some((operand, p))
    }

    fn time(&mut self, vat: usize, field: &FieldRef) -> Option<(i64, Option<i64>, usize)> {
        let s = self.s;
        if s.get(vat) == Some(&b'@') {
            let mut p = vat + 1;
            let mut dot = false;
            while p < s.len() && (s[p].is_ascii_digit() || (!dot && s[p] == b'.')) {
                dot |= s[p] == b'.';
                p += 1;
            }
            if p == vat + 1 {
                return None;
            }
            let t = self.text(vat + 1, p);
            let int = t.split('.').next().unwrap_or("");
            let v = if int.is_empty() {
                0
            } else {
                int.parse::<i64>().ok()?
            };
            return Some((v, None, p));
        }
        let (q, wat) = self.quote_at(vat);
        let (a, b, next) = self.word(wat, q, AND | OR | PE, false)?;
        let w = self.text(a, b);
        if field.name.starts_with("lv_time") && !w.starts_with(|c: char| c.is_ascii_digit()) {
            self.err(&format!(
                "Unrecognized string in date/time specification at \"{w}\"."
            ));
            return None;
        }
        match parse_date(&w, self.zone) {
            Ok((t1, t2)) => Some((t1, t2, next)),
            Err(m) => {
                if let Some(m) = m {
                    self.err(m);
                }
                None
            }
        }
    }
}

/// C's `strtod` on what the number scanner took (digits, at most one dot).
fn strtod(s: &str) -> f64 {
    let t = s.strip_suffix('.').unwrap_or(s);
    if t.is_empty() {
        return 0.0;
    }
    let t = match t.strip_prefix('.') {
        Some(x) => format!("0.{x}"),
        None => t.to_owned(),
    };
    t.parse().unwrap_or(0.0)
}

/// A size unit letter's factor in bytes (lvm2's units; `h`/`r` count as
/// bytes here, as in lvm2).
fn unit_factor(c: u8) -> Option<u64> {
    let k: u64 = 1024;
    let d: u64 = 1000;
    Some(match c {
        b'h' | b'H' | b'r' | b'R' | b'b' | b'B' => 1,
        b's' | b'S' => 512,
        b'k' => k,
        b'm' => k * k,
        b'g' => k * k * k,
        b't' => k * k * k * k,
        b'p' => k * k * k * k * k,
        b'e' => k * k * k * k * k * k,
        b'K' => d,
        b'M' => d * d,
        b'G' => d * d * d,
        b'T' => d * d * d * d,
        b'P' => d * d * d * d * d,
        b'E' => d * d * d * d * d * d,
        _ => return None,
    })
}

fn days_in_month(m: i64, y: i64) -> i64 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The spans lvm2 gives a date or time written to the day, hour...:
/// a selection `=` matches the whole span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    /// Down to the second: one instant.
    Exact,
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

/// The digits at `at` as C's `strtol` reads them (saturating), and
/// where they end (`at` itself when there are none).
fn digits_at(s: &[u8], at: usize) -> (i64, usize) {
    let mut p = at;
    let mut n: i64 = 0;
    while let Some(c) = s.get(p).filter(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
        p += 1;
    }
    (n, p)
}

fn skip_spaces(s: &[u8], mut p: usize) -> usize {
    while s.get(p).is_some_and(u8::is_ascii_whitespace) {
        p += 1;
    }
    p
}

fn is_digit_at(s: &[u8], p: usize) -> bool {
    s.get(p).is_some_and(u8::is_ascii_digit)
}

/// Up to three numbers joined by `delim` (`2024-07-01`, `10:00`), read as
/// lvm2 reads them: the numbers (-1 when absent), where they end, and the
/// length the text would have written in full (`YYYY-MM-DD` counts 10
/// however many digits each part had).
fn three_parts(s: &[u8], at: usize, delim: u8, widths: [i64; 3]) -> ([i64; 3], usize, i64) {
    let mut n = [-1i64; 3];
    let (v, mut end) = digits_at(s, at);
    n[0] = v;
    let mut len: i64 = 0;
    if s.get(end) == Some(&delim) {
        len += widths[0] - (end - at) as i64;
        let p = end + 1;
        if is_digit_at(s, p) {
            let (v, e) = digits_at(s, p);
            n[1] = v;
            len += widths[1] - (e - p) as i64;
            end = e;
            if s.get(end) == Some(&delim) {
                let p = end + 1;
                let (v, e) = digits_at(s, p);
                n[2] = v;
                len += widths[2] - (e - p) as i64;
                end = e;
            }
        }
    }
    (n, end, len + (end - at) as i64)
}

/// A selection's date and time, `date [time] [zone]` as lvm2 writes them:
/// `YYYY-MM-DD`, `YYYY-MM`, `YYYY` (or `YYYYMMDD`, `YYYYMM`), a time
/// `hh:mm:ss`, `hh:mm`, `hh` (or `hhmmss`, `hhmm`) and an offset `+hh:mm`,
/// `-hhmm`, `+hh`. The time is the wall clock of `zone` unless an offset
/// is given. The result is the first second and, unless the time was
/// given to the second, the last second of the span it names, with
/// lvm2's reckoning of that span (C's `mktime` of the next day, month or
/// year; a day that is the last of its month, or any day of January,
/// spans to the same day of the next month). `Err(Some(line))`: lvm2's
/// message; `Err(None)`: a refusal it gives no reason for.
fn parse_date(
    w: &str,
    zone: &crate::localtime::Zone,
) -> Result<(i64, Option<i64>), Option<&'static str>> {
    const BAD: &str = "Incorrect date format.";
    const BAD_TIME: &str = "Incorrect time format.";
    let s = w.as_bytes();
    if !is_digit_at(s, 0) {
        return Err(None);
    }
    let ([mut y, mut m, mut d], end, len) = three_parts(s, 0, b'-', [4, 2, 2]);
    let mut span = Span::Exact;
    if d == -1 {
        match (m, len) {
            (-1, 4) => {
                span = Span::Year;
                (m, d) = (1, 1);
            }
            (-1, 6) => {
                span = Span::Month;
                (y, m, d) = (y / 100, y % 100, 1);
            }
            (-1, 8) => {
                span = Span::Day;
                (y, m, d) = (y / 10_000, y / 100 % 100, y % 100);
            }
            (-1, _) => return Err(Some(BAD)),
            (_, 7) => {
                span = Span::Month;
                d = 1;
            }
            _ => return Err(Some(BAD)),
        }
    }
    if !(1..=12).contains(&m) {
        return Err(Some("Specified month out of range."));
    }
    if d < 1 || d > days_in_month(m, y) {
        return Err(Some("Specified day out of range."));
    }
    if span == Span::Exact {
        span = Span::Day;
    }
    let mut p = skip_spaces(s, end);
    let (mut h, mut mi, mut sec) = (0, 0, 0);
    if is_digit_at(s, p) {
        let ([a, b, c], end, len) = three_parts(s, p, b':', [2, 2, 2]);
        let mut t = Span::Exact;
        (h, mi, sec) = (a, b, c);
        if c == -1 {
            match (b, len) {
                (-1, 2) => {
                    t = Span::Hour;
                    (mi, sec) = (0, 0);
                }
                (-1, 4) => {
                    t = Span::Minute;
                    (h, mi, sec) = (a / 100, a % 100, 0);
                }
                (-1, 6) => {
                    t = Span::Second;
                    (h, mi, sec) = (a / 10_000, a / 100 % 100, a % 100);
                }
                (-1, _) => return Err(Some(BAD_TIME)),
                (_, 5) => {
                    t = Span::Minute;
                    sec = 0;
                }
                _ => return Err(Some(BAD_TIME)),
            }
        }
        if !(0..=23).contains(&h) {
            return Err(Some("Specified hours out of range."));
        }
        if !(0..=60).contains(&mi) {
            return Err(Some("Specified minutes out of range."));
        }
        if !(0..=60).contains(&sec) {
            return Err(Some("Specified seconds out of range."));
        }
        if span != Span::Day {
            return Err(Some("Full date specification needed."));
        }
        span = t;
        p = skip_spaces(s, end);
    }
    let offset = match s.get(p) {
        Some(&c @ (b'+' | b'-')) => {
            let sign = if c == b'-' { -1 } else { 1 };
            let at = p + 1;
            let (a, end) = digits_at(s, at);
            let (hh, mm, end) = if s.get(end) == Some(&b':') {
                let (b, e) = digits_at(s, end + 1);
                if e == end + 1 {
                    return Err(None);
                }
                (a, b, e)
            } else {
                match end - at {
                    2 => (a, 0, end),
                    4 => (a / 100, a % 100, end),
                    _ => return Err(None),
                }
            };
            if !(0..=60).contains(&mm) || !(0..=14).contains(&hh) {
                return Err(None);
            }
            p = skip_spaces(s, end);
            Some(sign * (hh * 3600 + mm * 60))
        }
        Some(c) if c.is_ascii_digit() => return Err(None),
        _ => None,
    };
    if p < s.len() {
        return Err(None);
    }
    // The end of the span as lvm2 reckons it: the next second, minute...
    // falling through to the next larger unit at the top of each range,
    // without resetting the smaller ones.
    let mon0 = m - 1;
    let (mut uy, mut um, mut ud, mut uh, mut umi, mut us) = (y, mon0, d, h, mi, sec);
    let mut level = span;
    loop {
        match level {
            Span::Exact => break,
            Span::Second if us < 59 => us += 1,
            Span::Minute if umi < 59 => umi += 1,
            Span::Hour if uh < 23 => uh += 1,
            // lvm2 looks up the month before (by its 0-based number) with
            // a year counted from 1900: March takes 29 days in a leap
            // year, January finds no day count.
            Span::Day if ud < lvm2_day_limit(um, uy - 1900) => ud += 1,
            Span::Month if um < 11 => um += 1,
            Span::Year => uy += 1,
            _ => {
                level = match level {
                    Span::Second => Span::Minute,
                    Span::Minute => Span::Hour,
                    Span::Hour => Span::Day,
                    Span::Day => Span::Month,
                    _ => Span::Year,
                };
                continue;
            }
        }
        break;
    }
    let mut t1 = zone.mktime(y, mon0, d, h, mi, sec);
    let mut t2 = zone.mktime(uy, um, ud, uh, umi, us) - 1;
    if let Some(o) = offset {
        let shift = o - i64::from(zone.offset_at(t1));
        t1 -= shift;
        t2 -= shift;
    }
    Ok((t1, (span != Span::Exact).then_some(t2)))
}

/// The day count lvm2 compares a day with when it ends a day's span: that
/// of the month before `mon0` (0-based), 29 for March of a leap year
/// (`year` counted from 1900), none (0) for January.
fn lvm2_day_limit(mon0: i64, year: i64) -> i64 {
    if mon0 == 0 {
        return 0;
    }
    if mon0 == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0) {
        return 29;
    }
    days_in_month(mon0, 2001)
}

/// What lvm2 prints before a refused operator: the selection help.
const SELECTION_HELP: &str = "  Selection operands
  ------------------
    field               - Reporting field.
    number              - Non-negative integer value.
    size                - Floating point value with units, 'm' unit used by default if not specified.
    percent             - Non-negative integer with or without % suffix.
    string              - Characters quoted by ' or \" or unquoted.
    string list         - Strings enclosed by [ ] or { } and elements delimited by either
                          \"all items must match\" or \"at least one item must match\" operator.
    regular expression  - Characters quoted by ' or \" or unquoted.
   
  Reserved values
  ---------------
    -1, unknown, undefined, undef   - Reserved value for undefined numeric value. [number]
    allocatable, yes                -  [unknown]
    allocatable, no                 -  [unknown]
    exported, yes                   -  [unknown]
    exported, no                    -  [unknown]
    missing, yes                    -  [unknown]
    missing, no                     -  [unknown]
    used, in use, yes               -  [unknown]
    used, in use, no                -  [unknown]
    duplicate, yes                  -  [unknown]
    duplicate, no                   -  [unknown]
    extendable, yes                 -  [unknown]
    extendable, no                  -  [unknown]
    exported, yes                   -  [unknown]
    exported, no                    -  [unknown]
    partial, yes                    -  [unknown]
    partial, no                     -  [unknown]
    clustered, yes                  -  [unknown]
    clustered, no                   -  [unknown]
    shared, yes                     -  [unknown]
    shared, no                      -  [unknown]
    writeable, rw, read-write       -  [unknown]
    read-only, r, ro                -  [unknown]
   
  Selection operators
  -------------------
    Comparison operators:
          =~  - Matching regular expression. [regex]
          !~  - Not matching regular expression. [regex]
           =  - Equal to. [number, size, percent, string, string list, time]
          !=  - Not equal to. [number, size, percent, string, string_list, time]
          >=  - Greater than or equal to. [number, size, percent, time]
           >  - Greater than. [number, size, percent, time]
          <=  - Less than or equal to. [number, size, percent, time]
           <  - Less than. [number, size, percent, time]
       since  - Since specified time (same as '>='). [time]
       after  - After specified time (same as '>'). [time]
       until  - Until specified time (same as '<='). [time]
      before  - Before specified time (same as '<'). [time]
   
    Logical and grouping operators:
        &&  - All fields must match
         ,  - All fields must match
        ||  - At least one field must match
         #  - At least one field must match
         !  - Logical negation
         (  - Left parenthesis
         )  - Right parenthesis
         [  - List start
         ]  - List end
         {  - List subset start
         }  - List subset end
   
";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sel(text: &str) -> Selection {
        parse(text, &catalogue_field).unwrap().unwrap()
    }

    fn err(text: &str) -> String {
        parse(text, &catalogue_field).unwrap_err().stderr
    }

    /// A row: LV `lin` of 12 MiB with tags db,web, two segments.
    fn row(id: usize) -> SelValue {
        match crate::fields::CATALOGUE[id].name {
            "lv_name" => SelValue::Str("lin".into()),
            "lv_tags" => SelValue::List(vec!["db".into(), "web".into()]),
            "lv_size" => SelValue::Size(24576.0),
            "seg_count" => SelValue::Num(2),
            "lv_major" => SelValue::Num(UNDEF),
            "data_percent" => SelValue::Pct(UNDEF),
            "snap_percent" => SelValue::Pct(25 * PERCENT_1),
            "lv_time" => SelValue::Time(86400 * 365),
            "lv_merging" => SelValue::Num(0),
            _ => SelValue::Str(String::new()),
        }
    }

    fn m(text: &str) -> bool {
        sel(text).matches(&mut row)
    }

    #[test]
    fn comparisons_and_logic() {
        assert!(m("lv_name=lin"));
        assert!(m("lv_name!=str"));
        assert!(m("lv_size>8m&&lv_size<=12m"));
        assert!(m("lv_size=12582912b"));
        assert!(m("lv_size=12.0"));
        assert!(!m("lv_size>12m"));
        assert!(m("seg_count>=2,lv_name=lin"));
        assert!(m("lv_name=str||seg_count=2"));
        assert!(m("lv_name=str#seg_count=2"));
        assert!(!m("!(lv_name=lin)"));
        // lvm2 marks the inner node negated: twice is once.
        assert!(!m("!(!(lv_name=lin))"));
        assert!(m("(lv_name=str||lv_name=lin)&&seg_count=2"));
        assert!(m("lv_name=~^l && lv_name!~x"));
        assert!(m("lv_merging=0&&lv_merging=no&&!(lv_merging=merging)"));
    }

    #[test]
    fn lists() {
        assert!(m("lv_tags=web"));
        assert!(m("lv_tags=[web,db]"));
        assert!(!m("lv_tags=[web]"));
        assert!(m("lv_tags={web}"));
        assert!(!m("lv_tags={web,x}"));
        assert!(m("lv_tags=[x||db]"));
        assert!(m("lv_tags=[web&&db]"));
        assert!(!m("lv_tags=[]"));
    }

    #[test]
    fn reserved_and_undefined_values() {
        assert!(m("lv_major=-1"));
        assert!(m("lv_major=undefined"));
        // An undefined value is never ordered.
        assert!(!m("lv_major>0"));
        assert!(!m("lv_major<5"));
        // An undefined percentage matches nothing, not even `!=`.
        assert!(!m("data_percent!=5"));
        assert!(m("snap_percent=25%"));
        assert!(m("snap_percent<50"));
        assert!(m("lv_time>1970-06-01&&lv_time<1971-02"));
        assert!(m("lv_time=1971-01-01"));
        assert!(m("lv_time='1971-01-01 00'") && m("lv_time=\"1971-01-01 00:00:00\""));
        assert!(!m("lv_time>'1971-01-01 00:00'"));
    }

    #[test]
    fn refusals_print_lvm2_messages() {
        assert_eq!(
            err("lv_size=abc"),
            "  Failed to parse numeric value for selection field lv_size.\n  \
             Selection syntax error at 'lv_size=abc'.\n  \
             Use 'help' for selection to get more help.\n"
        );
        assert_eq!(
            err("!lv_name=lin"),
            "  Syntax error: left parenthesis expected at 'lv_name=lin'\n"
        );
        assert_eq!(
            err("lv_tags=~we"),
            "  dm_report: incompatible comparison type for selection field lv_tags\n"
        );
        assert!(err("nosuch=1").ends_with(
            "  Unrecognised selection field: nosuch\n  \
             Selection syntax error at 'nosuch=1'.\n  \
             Use 'help' for selection to get more help.\n"
        ));
        assert!(err("lv_name<x").contains(
            "Operator can be used only with number, size, time or percent fields: lv_name<x"
        ));
        assert_eq!(
            err("seg_count=1x"),
            "  Expecting logical operator\n  Selection syntax error at 'x'.\n  \
             Use 'help' for selection to get more help.\n"
        );
        assert!(parse("all", &catalogue_field).unwrap().is_none());
        assert!(parse("", &catalogue_field).unwrap().is_none());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}lv_name=lin{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&deep, &catalogue_field).is_err());
        let nots = "!(".repeat(5000);
        assert!(parse(&nots, &catalogue_field).is_err());
        let re = format!("lv_name=~'{}'", "(a".repeat(3000));
        assert!(parse(&re, &catalogue_field).is_err());
        let long = format!("lv_name=~'{}'", "a*".repeat(5000));
        // Matches (the empty string) in time, without deep recursion.
        assert!(sel(&long).matches(&mut row));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text: parsed or refused with a message, never a panic; a
        /// parsed selection evaluates on any row.
        #[test]
        fn never_panics(text in "\\PC{0,60}") {
            match parse(&text, &catalogue_field) {
                Ok(Some(s)) => {
                    for id in s.fields() {
                        prop_assert!(id < crate::fields::CATALOGUE.len());
                    }
                    s.matches(&mut row);
                }
                Ok(None) => {}
                Err(e) => prop_assert!(e.stderr.ends_with('\n')),
            }
        }

        /// Texts made of the grammar's own pieces reach deeper.
        #[test]
        fn grammar_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
            Just("lv_name"), Just("lv_tags"), Just("lv_size"), Just("lv_time"), Just("seg_count"),
            Just("data_percent"), Just("lv_major"), Just("="), Just("!="), Just("=~"), Just("<"),
            Just(">="), Just("since"), Just("&&"), Just("||"), Just(","), Just("#"), Just("!"),
            Just("("), Just(")"), Just("["), Just("]"), Just("{"), Just("}"), Just("'"), Just("\""),
            Just("lin"), Just("12m"), Just("50%"), Just("1970-01-02"), Just("@5"), Just("undefined"),
            Just("^(a|b)*$"), Just("[a-"), Just("\\"), Just(" "), Just("."), Just("-1")
        ], 0..24)) {
            let text: String = parts.concat();
            if let Ok(Some(s)) = parse(&text, &catalogue_field) {
                s.matches(&mut row);
            }
        }
    }
}
