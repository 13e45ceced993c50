//! Rendering a tree as lvm2 writes text into a metadata area: no
//! indentation, one node per line, arrays on one line as `[a, b]`.
//! (lvm2's layout of its own metadata, with blank lines and the trailing
//! header block, is produced by the VG writer; this renders any tree.)

use super::{Node, Tree, Value};

/// Escapes `"` and `\` with a backslash (lvm2 `dm_escape_double_quotes`).
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// A key as written: bare when it is a plain word, quoted otherwise (a key
/// read from a quoted string may hold any character).
fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key.bytes().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    b'#' | b'=' | b'{' | b'}' | b'"' | b'\'' | b'[' | b']' | b','
                )
        });
    if plain {
        out.push_str(key);
    } else {
        out.push('"');
        out.push_str(&escape(key));
        out.push('"');
    }
}

fn value(out: &mut String, v: &Value) {
    match v {
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(f),
        Value::Str(s) => {
            out.push('"');
            out.push_str(&escape(s));
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, x) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                value(out, x);
            }
            out.push(']');
        }
    }
}

fn nodes(out: &mut String, ns: &[Node]) {
    for n in ns {
        match n {
            Node::Setting { key, value: v } => {
                push_key(out, key);
                out.push_str(" = ");
                value(out, v);
                out.push('\n');
            }
            Node::Section { key, children } => {
                push_key(out, key);
                out.push_str(" {\n");
                nodes(out, children);
                out.push_str("}\n");
            }
        }
    }
}

/// Renders `tree` without indentation; parsing the result gives `tree` back.
pub fn write_raw(tree: &Tree) -> String {
    let mut s = String::new();
    nodes(&mut s, &tree.nodes);
    s
}

/// Renders one value as it appears after `=`.
pub fn value_to_string(v: &Value) -> String {
    let mut s = String::new();
    value(&mut s, v);
    s
}
