//! Semantic checks after parsing: ranges, cross-key rules, names.
//!
//! A section's `validate` reports every problem it finds to a [`Validator`], naming the
//! offending key relative to the section; the validator keeps the full path, and
//! [`super::Config::parse`] later turns each path into the line of its value. Nothing
//! stops at the first error, so an operator sees every mistake in one run.

use std::fmt::Display;

use toml::de::DeTable;

use super::error::{Segment, line_of, report_span, value_span};

/// Collects `(key path, message)` pairs while the sections check themselves.
pub(crate) struct Validator<'a> {
    /// The parsed file, when there is one, to tell keys it sets from defaults.
    source: Option<&'a DeTable<'a>>,
    /// The file's text, to name the line of another key in a message.
    text: Option<&'a str>,
    path: Vec<Segment>,
    errors: Vec<(Vec<Segment>, String)>,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(source: Option<(&'a DeTable<'a>, &'a str)>) -> Validator<'a> {
        Validator {
            source: source.map(|(document, _)| document),
            text: source.map(|(_, text)| text),
            path: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn into_errors(self) -> Vec<(Vec<Segment>, String)> {
        self.errors
    }

    /// Runs `check` with `key` (a section or sub-table) appended to the path.
    pub(crate) fn section(&mut self, key: &str, check: impl FnOnce(&mut Self)) {
        self.path.push(Segment::Key(key.to_owned()));
        check(self);
        self.path.pop();
    }

    /// Runs `check` for element `index` of the array at the current path (`[[pool]]`).
    pub(crate) fn element(&mut self, index: usize, check: impl FnOnce(&mut Self)) {
        self.path.push(Segment::Index(index));
        check(self);
        self.path.pop();
    }

    /// Reports `message` against `key` in the current section.
    pub(crate) fn error(&mut self, key: &str, message: impl Into<String>) {
        let mut path = self.path.clone();
        path.push(Segment::Key(key.to_owned()));
        self.errors.push((path, message.into()));
    }

    /// Reports `message` against element `index` of the array `key` in the current
    /// section (`ppp.dns[2]`, `pool[0].ranges[1]`).
    pub(crate) fn error_at_index(&mut self, key: &str, index: usize, message: impl Into<String>) {
        let mut path = self.path.clone();
        path.push(Segment::Key(key.to_owned()));
        path.push(Segment::Index(index));
        self.errors.push((path, message.into()));
    }

    /// The line the file reports the absolute `path` at (see `error::report_span`),
    /// for messages that point at a second place. `None` without a file.
    pub(crate) fn line_of(&self, path: &[Segment]) -> Option<usize> {
        let (source, text) = (self.source?, self.text?);
        report_span(source, path).map(|span| line_of(text, span.start))
    }

    /// Whether the file writes `key` in the current section (false when there is no
    /// file), so a rule between two keys can blame the one the operator wrote.
    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.written_at(key).is_some()
    }

    /// Byte offset of `key`'s value in the file, if the file writes it.
    pub(crate) fn written_at(&self, key: &str) -> Option<usize> {
        let source = self.source?;
        let mut path = self.path.clone();
        path.push(Segment::Key(key.to_owned()));
        value_span(source, &path).map(|span| span.start)
    }

    /// `low <= value <= high`, else "must be between LOW and HIGH, not VALUE".
    pub(crate) fn in_range<T: PartialOrd + Display>(
        &mut self,
        key: &str,
        value: T,
        low: T,
        high: T,
    ) {
        if value < low || value > high {
            self.error(
                key,
                format!("must be between {low} and {high}, not {value}"),
            );
        }
    }
}

/// `#[serde(deserialize_with = "integer::<_, T, LOW, HIGH>")]`: an integer field whose
/// errors speak the operator's language. A value that fits `T` is accepted here and
/// range-checked by the section's `validate` (so every such error is reported); one that
/// does not fit `T` cannot be stored and fails here, with the same message as
/// [`Validator::in_range`], and a wrong type says "expected an integer from LOW to HIGH"
/// instead of naming a Rust type.
pub(crate) fn integer<'de, D, T, const LOW: i64, const HIGH: i64>(
    deserializer: D,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    struct IntegerVisitor<T, const LOW: i64, const HIGH: i64>(std::marker::PhantomData<T>);
    impl<T, const LOW: i64, const HIGH: i64> serde::de::Visitor<'_> for IntegerVisitor<T, LOW, HIGH>
    where
        T: TryFrom<i64> + TryFrom<u64>,
    {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an integer from {LOW} to {HIGH}")
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<T, E> {
            T::try_from(value)
                .map_err(|_| E::custom(format!("must be between {LOW} and {HIGH}, not {value}")))
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<T, E> {
            T::try_from(value)
                .map_err(|_| E::custom(format!("must be between {LOW} and {HIGH}, not {value}")))
        }
    }
    deserializer.deserialize_any(IntegerVisitor::<T, LOW, HIGH>(std::marker::PhantomData))
}
