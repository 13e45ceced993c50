//! lvm2's metadata text: the config-tree grammar of `libdm/libdm-config.c`.
//!
//! [`parse`] turns text into a [`Tree`] that keeps every node in file order
//! (duplicates included); [`parse_borrowed`] makes the same tree borrowing
//! its strings from the text (the text's UTF-8 is checked once, and no
//! key or value is copied); [`write_raw`] renders a tree the way lvm2
//! writes text to a metadata area. [`parse_flat`] reads the common text
//! (UTF-8, no escapes) into a [`Flat`] form, the fastest way in.

mod flat;
mod parse;
mod write;

pub use flat::{parse_flat, Flat, FlatKind, FlatNode, FlatValue, Sect};
pub use parse::{parse, parse_borrowed, MAX_NESTING};
use std::borrow::Cow;
pub use write::{escape, value_to_string, write_raw};

/// A scalar or array value. `S` is how text is held: `String` (the
/// default, an owned tree) or `Cow<str>` borrowing from the parsed text
/// ([`parse_borrowed`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Value<S = String> {
    /// An integer (lvm2 reads it with `strtoll`, base 0).
    Int(i64),
    /// A number with a decimal point, kept as written.
    Float(S),
    /// A string, unescaped (quoted or bare in the text).
    Str(S),
    /// A flat array; `[]` is an empty array.
    Array(Vec<Value<S>>),
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<S = String> {
    /// `key = value`.
    Setting {
        /// The key.
        key: S,
        /// The value.
        value: Value<S>,
    },
    /// `key { ... }`.
    Section {
        /// The key.
        key: S,
        /// The children in file order.
        children: Vec<Node<S>>,
    },
}

/// A tree borrowing its keys and strings from the text it was parsed from
/// (only strings with escapes, or text that is not UTF-8, own theirs).
pub type BorrowedTree<'a> = Tree<Cow<'a, str>>;

impl<S: AsRef<str>> Value<S> {
    /// The value with owned strings.
    pub fn to_owned_value(&self) -> Value {
        match self {
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(f.as_ref().to_owned()),
            Value::Str(s) => Value::Str(s.as_ref().to_owned()),
            Value::Array(a) => Value::Array(a.iter().map(Value::to_owned_value).collect()),
        }
    }

    /// The string of a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_ref()),
            _ => None,
        }
    }
}

impl<S: AsRef<str>> Node<S> {
    /// The node's key.
    pub fn key(&self) -> &str {
        match self {
            Node::Setting { key, .. } | Node::Section { key, .. } => key.as_ref(),
        }
    }

    /// The node (and everything under it) with owned strings.
    pub fn to_owned_node(&self) -> Node {
        match self {
            Node::Setting { key, value } => Node::Setting {
                key: key.as_ref().to_owned(),
                value: value.to_owned_value(),
            },
            Node::Section { key, children } => Node::Section {
                key: key.as_ref().to_owned(),
                children: children.iter().map(Node::to_owned_node).collect(),
            },
        }
    }
}

/// A parsed text: the top-level nodes in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tree<S = String> {
    /// Top-level nodes.
    pub nodes: Vec<Node<S>>,
}

impl<S: AsRef<str>> Tree<S> {
    /// The tree with owned strings.
    pub fn to_owned_tree(&self) -> Tree {
        Tree {
            nodes: self.nodes.iter().map(Node::to_owned_node).collect(),
        }
    }
}

/// Lookups shared by a tree and a section's children: the first node with
/// a key wins, as in lvm2.
pub trait Lookup<S: AsRef<str> = String> {
    /// The nodes.
    fn nodes(&self) -> &[Node<S>];
    /// The value of the first setting named `key`.
    fn value(&self, key: &str) -> Option<&Value<S>> {
        self.nodes()
            .iter()
            .find(|n| n.key() == key)
            .and_then(|n| match n {
                Node::Setting { value, .. } => Some(value),
                Node::Section { .. } => None,
            })
    }
    /// True if two or more nodes are named `key`: lvm2 then uses the first
    /// and warns that it ignores the others.
    fn duplicated(&self, key: &str) -> bool {
        self.nodes()
            .iter()
            .filter(|n| n.key() == key)
            .nth(1)
            .is_some()
    }
    /// The children of the first section named `key`.
    fn section(&self, key: &str) -> Option<&[Node<S>]> {
        self.nodes()
            .iter()
            .find(|n| n.key() == key)
            .and_then(|n| match n {
                Node::Section { children, .. } => Some(children.as_slice()),
                Node::Setting { .. } => None,
            })
    }
}

impl<S: AsRef<str>> Lookup<S> for Tree<S> {
    fn nodes(&self) -> &[Node<S>] {
        &self.nodes
    }
}

impl<S: AsRef<str>> Lookup<S> for [Node<S>] {
    fn nodes(&self) -> &[Node<S>] {
        self
    }
}

#[cfg(test)]
mod tests;
