//! Errors as values: a message in QEMU's words, plus an optional hint.

use std::fmt;

/// An error of the object model: what QEMU would print, and what to do about it.
///
/// `Display` prints only the message; [`Error::hint`] is the text QEMU appends
/// on its own line(s) with `error_append_hint`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    message: String,
    hint: Option<String>,
}

impl Error {
    /// An error with `message` and no hint.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            hint: None,
        }
    }

    /// Adds (or extends) the hint, as QEMU's `error_append_hint` does.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.hint = Some(match self.hint.take() {
            Some(mut h) => {
                h.push('\n');
                h.push_str(&hint);
                h
            }
            None => hint,
        });
        self
    }

    /// Puts `prefix` in front of the message, as QEMU's `error_prepend` does.
    #[must_use]
    pub fn prepend(mut self, prefix: impl fmt::Display) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }

    /// The message, without the hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Formats the error as QEMU prints a command-line error:
    /// `<prog>: -<option> <arg>: <message>` followed by the hint lines.
    ///
    /// ```
    /// let e = qomgen::Error::new("No provided host device").with_hint("Use -device vfio-pci,host=...");
    /// assert_eq!(
    ///     e.to_cli("qomgen", "device", "vfio-pci"),
    ///     "qomgen: -device vfio-pci: No provided host device\nUse -device vfio-pci,host=...\n"
    /// );
    /// ```
    pub fn to_cli(&self, prog: &str, option: &str, arg: &str) -> String {
        let mut s = format!("{prog}: -{option} {arg}: {}\n", self.message);
        if let Some(h) = &self.hint {
            s.push_str(h);
            s.push('\n');
        }
        s
    }

    /// Formats the error as a warning about a command-line option, as QEMU's
    /// `warn_report` prints one: `<prog>: -<option> <arg>: warning: <message>`
    /// followed by the hint lines.
    ///
    /// ```
    /// let w = qomgen::Error::new("Cannot get IOVA ranges: Invalid argument")
    ///     .with_hint("Fallback to default 64bit IOVA range and 4K page size");
    /// assert_eq!(
    ///     w.to_cli_warning("qomgen", "device", "vfio-pci,host=01:00.0"),
    ///     "qomgen: -device vfio-pci,host=01:00.0: warning: Cannot get IOVA ranges: Invalid argument\n\
    ///      Fallback to default 64bit IOVA range and 4K page size\n"
    /// );
    /// ```
    pub fn to_cli_warning(&self, prog: &str, option: &str, arg: &str) -> String {
        let mut s = format!("{prog}: -{option} {arg}: warning: {}\n", self.message);
        if let Some(h) = &self.hint {
            s.push_str(h);
            s.push('\n');
        }
        s
    }

    /// `Parameter '<name>' is missing`
    pub fn missing_parameter(name: &str) -> Self {
        Error::new(format!("Parameter '{name}' is missing"))
    }

    /// `Parameter '<name>' expects <what>`
    pub fn invalid_parameter_value(name: &str, what: &str) -> Self {
        Error::new(format!("Parameter '{name}' expects {what}"))
    }

    /// `Invalid parameter type for '<name>', expected: <what>`
    pub fn invalid_parameter_type(name: &str, what: &str) -> Self {
        Error::new(format!(
            "Invalid parameter type for '{name}', expected: {what}"
        ))
    }

    /// `Parameter 'id' expects an identifier` with QEMU's hint.
    pub fn bad_id() -> Self {
        Error::invalid_parameter_value("id", "an identifier").with_hint(
            "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
        )
    }
}

/// Result type of the object model.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// "Did you mean" for a misspelt name: the closest candidate within an edit
/// distance that scales with the word's length, if any (the derive's
/// suggestions use the same function).
pub fn suggest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    crate::suggest::closest(wrong, candidates)
}

/// Adds a "Did you mean '<x>'?" hint when a close candidate exists.
pub(crate) fn with_suggestion<'a>(
    err: Error,
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Error {
    match suggest(wrong, candidates) {
        Some(s) => err.with_hint(format!("Did you mean '{s}'?")),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_picks_closest() {
        assert_eq!(suggest("hots", ["host", "sysfsdev", "fd"]), Some("host"));
        assert_eq!(suggest("x-vgaa", ["x-vga", "x-req"]), Some("x-vga"));
        assert_eq!(suggest("zzzzzz", ["host", "fd"]), None);
    }

    #[test]
    fn hints_accumulate_on_separate_lines() {
        let e = Error::new("m").with_hint("a").with_hint("b");
        assert_eq!(e.hint(), Some("a\nb"));
        assert_eq!(e.prepend("vfio x: ").message(), "vfio x: m");
    }
}
