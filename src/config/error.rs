//! Configuration errors, and how a byte span in the file becomes `LINE` and `key`.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem with a configuration file, rendered as `FILE:LINE: key: message`.
///
/// `line` is absent when the problem has no place in the file (it cannot be read, or a
/// programmatically built [`super::Config`] is checked); `key` is absent when no key can
/// be named (a syntax error outside any key or value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as the user gave it, or a description such as `<embedded default>`.
    pub origin: String,
    /// 1-based line of the offending value (or key, for an unknown key).
    pub line: Option<usize>,
    /// Dotted key path, e.g. `dataplane.batch`; array elements as `pools[2]`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one configuration: never empty when returned as an error.
///
/// `Display` writes one [`ConfigError`] per line, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub(crate) fn new(errors: Vec<ConfigError>) -> ConfigErrors {
        debug_assert!(!errors.is_empty());
        ConfigErrors(errors)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[ConfigError] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// `dataplane.batch`, `pools[2].range`.
pub(crate) fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(index) => {
                out.push('[');
                out.push_str(&index.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// 1-based line of byte `offset` in `text` (an offset past the end is the last line).
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.start == offset && span.end == offset)
}

/// The deepest key path whose key or value span contains `offset`, for naming the key
/// of an error toml reports only as a span. Children are searched before their parent,
/// because a `[table]`'s own span may cover its whole section.
pub(crate) fn path_at(root: &DeTable<'_>, offset: usize) -> Option<Vec<Segment>> {
    let mut path = Vec::new();
    path_in_table(root, offset, &mut path).then_some(path)
}

fn path_in_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<Segment>) -> bool {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        if path_in_value(value, offset, path)
            || contains(&key.span(), offset)
            || contains(&value.span(), offset)
        {
            return true;
        }
        path.pop();
    }
    false
}

fn path_in_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<Segment>) -> bool {
    match value.get_ref() {
        DeValue::Table(table) => path_in_table(table, offset, path),
        DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                path.push(Segment::Index(index));
                if path_in_value(element, offset, path) || contains(&element.span(), offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// The span of the value at `path`, or `None` if the file does not set it.
pub(crate) fn value_span(root: &DeTable<'_>, path: &[Segment]) -> Option<Range<usize>> {
    lookup(root, path).map(|(_, value)| value)
}

/// The span to report for `path`: the value's if the file sets it, else the key of the
/// nearest enclosing table the file does write (its `[header]`; for an array element,
/// the element itself), else none.
pub(crate) fn report_span(root: &DeTable<'_>, path: &[Segment]) -> Option<Range<usize>> {
    if let Some(span) = value_span(root, path) {
        return Some(span);
    }
    (1..path.len())
        .rev()
        .find_map(|len| lookup(root, &path[..len]).map(|(key, value)| key.unwrap_or(value)))
}

/// `(key span, value span)` of the entry at `path`; the key span is `None` for an array
/// element.
fn lookup(root: &DeTable<'_>, path: &[Segment]) -> Option<(Option<Range<usize>>, Range<usize>)> {
    let (first, rest) = path.split_first()?;
    let Segment::Key(first) = first else {
        return None;
    };
    let (key, mut value) = root.get_key_value(first.as_str())?;
    let mut key_span = Some(key.span());
    for segment in rest {
        match (segment, value.get_ref()) {
            (Segment::Key(name), DeValue::Table(table)) => {
                let (key, next) = table.get_key_value(name.as_str())?;
                key_span = Some(key.span());
                value = next;
            }
            (Segment::Index(index), DeValue::Array(array)) => {
                value = array.get(*index)?;
                key_span = None;
            }
            _ => return None,
        }
    }
    Some((key_span, value.span()))
}
