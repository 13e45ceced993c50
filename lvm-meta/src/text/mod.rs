//! lvm2's metadata text: the config-tree grammar of `libdm/libdm-config.c`.
//!
//! [`parse`] turns text into a [`Tree`] that keeps every node in file order
//! (duplicates included); [`write_raw`] renders a tree the way lvm2 writes
//! text to a metadata area.

mod parse;
mod write;

pub use parse::{parse, MAX_NESTING};
pub use write::{escape, value_to_string, write_raw};

/// A scalar or array value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer (lvm2 reads it with `strtoll`, base 0).
    Int(i64),
    /// A number with a decimal point, kept as written.
    Float(String),
    /// A string, unescaped (quoted or bare in the text).
    Str(String),
    /// A flat array; `[]` is an empty array.
    Array(Vec<Value>),
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `key = value`.
    Setting {
        /// The key.
        key: String,
        /// The value.
        value: Value,
    },
    /// `key { ... }`.
    Section {
        /// The key.
        key: String,
        /// The children in file order.
        children: Vec<Node>,
    },
}

impl Node {
    /// The node's key.
    pub fn key(&self) -> &str {
        match self {
            Node::Setting { key, .. } | Node::Section { key, .. } => key,
        }
    }
}

/// A parsed text: the top-level nodes in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tree {
    /// Top-level nodes.
    pub nodes: Vec<Node>,
}

/// Lookups shared by a tree and a section's children: the first node with
/// a key wins, as in lvm2.
pub trait Lookup {
    /// The nodes.
    fn nodes(&self) -> &[Node];
    /// The value of the first setting named `key`.
    fn value(&self, key: &str) -> Option<&Value> {
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
    fn section(&self, key: &str) -> Option<&[Node]> {
        self.nodes()
            .iter()
            .find(|n| n.key() == key)
            .and_then(|n| match n {
                Node::Section { children, .. } => Some(children.as_slice()),
                Node::Setting { .. } => None,
            })
    }
}

impl Lookup for Tree {
    fn nodes(&self) -> &[Node] {
        &self.nodes
    }
}

impl Lookup for [Node] {
    fn nodes(&self) -> &[Node] {
        self
    }
}

#[cfg(test)]
mod tests;
