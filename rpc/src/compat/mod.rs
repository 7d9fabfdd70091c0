//! Whether a new version of an API breaks the programs that call the old
//! one: two descriptions (`rpc.describe`'s answers, or saved files) compared
//! method by method, each difference classed by whom it breaks.
//!
//! The rules are the README's "Evolving an API". Two kinds of caller meet a
//! changed API: **older callers** of the new server (built against the old
//! description), which is what a deploy must not break, and **newer
//! callers** of an old server (built against the new one, talking to an
//! instance not yet upgraded), which can use only what both versions have.
//! A third kind of change breaks neither on the wire but code generated
//! from the description (a renamed param or method): those are reported
//! apart.
//!
//! Types are compared by their shapes where both descriptions have them
//! (version 2): a struct that gains a required field a server reads breaks
//! older callers, an enum that gains a variant a server writes breaks them
//! too, a renamed type with the same fields breaks only generated code (see
//! `shapes`). Against a description without shapes, types are compared by
//! the names it gives them.
//!
//! ```
//! use dotrpc::compat::{self, Breaks};
//! use dotrpc::{Description, schema::{MethodDescription, ParamDescription}};
//!
//! let old = Description {
//!     methods: vec![MethodDescription {
//!         params: vec![ParamDescription::new("name", "String")],
//!         returns: "String".into(),
//!         ..MethodDescription::new("greet")
//!     }],
//!     ..Description::default()
//! };
//! let mut new = old.clone();
//! new.methods[0].params.push(ParamDescription::optional("punctuation", "Option<String>"));
//! let report = compat::compare(&old, &new);
//! assert!(!report.breaks_older_callers(), "{report}");
//! assert_eq!(report.changes[0].breaks, Breaks::NewerCallers);
//! ```

mod shapes;

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::schema::{Description, MethodDescription, ParamDescription, Type, Types};
use shapes::Sides;

/// Whom a change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Breaks {
    /// Callers built against the old description, calling the new server.
    OlderCallers,
    /// Callers built against the new description, calling an old server.
    NewerCallers,
    /// Both.
    Both,
    /// Nobody on the wire; code generated from the description changes.
    GeneratedCode,
    /// Nobody.
    Nobody,
}

impl Breaks {
    /// Whether older callers of the new server are broken.
    pub fn older_callers(self) -> bool {
        matches!(self, Breaks::OlderCallers | Breaks::Both)
    }

    /// Whom a change breaks, from whether it breaks each kind of caller.
    fn of(older: bool, newer: bool) -> Option<Breaks> {
        match (older, newer) {
            (true, true) => Some(Breaks::Both),
            (true, false) => Some(Breaks::OlderCallers),
            (false, true) => Some(Breaks::NewerCallers),
            (false, false) => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Breaks::OlderCallers => "breaks older callers",
            Breaks::NewerCallers => "breaks newer callers",
            Breaks::Both => "breaks both",
            Breaks::GeneratedCode => "generated code only",
            Breaks::Nobody => "breaks nobody",
        }
    }
}

/// One difference between the two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The method's path in the new version (or the old, if it is gone).
    pub path: String,
    /// What changed, in words.
    pub change: String,
    /// Whom it breaks.
    pub breaks: Breaks,
}

/// Every difference, in the order of the old version's paths, then the
/// methods added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The differences; none if the versions describe the same API.
    pub changes: Vec<Change>,
}

impl Report {
    /// Whether a caller built against the old version fails against the
    /// new: what a deploy must not do.
    pub fn breaks_older_callers(&self) -> bool {
        self.changes.iter().any(|c| c.breaks.older_callers())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "no changes");
        }
        for change in &self.changes {
            writeln!(
                f,
                "{:<22} {}: {}",
                change.breaks.label(),
                change.path,
                change.change
            )?;
        }
        Ok(())
    }
}

/// Compares `old` with `new`.
pub fn compare(old: &Description, new: &Description) -> Report {
    let types = Versions {
        old: &old.types,
        new: &new.types,
    };
    let mut old: Vec<&MethodDescription> = old.methods.iter().collect();
    old.sort_by(|a, b| a.path.cmp(&b.path));
    let mut new: Vec<&MethodDescription> = new.methods.iter().collect();
    new.sort_by(|a, b| a.path.cmp(&b.path));
    let answering = |methods: &[&MethodDescription]| -> HashMap<String, usize> {
        let mut at = HashMap::new();
        for (index, method) in methods.iter().enumerate() {
            for path in std::iter::once(&method.path).chain(&method.aliases) {
                at.entry(path.clone()).or_insert(index);
            }
        }
        at
    };
    let (old_at, new_at) = (answering(&old), answering(&new));
    let mut changes = Vec::new();
    let mut matched = vec![false; new.len()];
    for before in &old {
        let mut note = |change: String, breaks| {
            changes.push(Change {
                path: before.path.clone(),
                change,
                breaks,
            });
        };
        let Some(&index) = new_at.get(&before.path) else {
            note("removed".into(), Breaks::OlderCallers);
            continue;
        };
        matched[index] = true;
        let after = new[index];
        if after.path != before.path {
            note(
                format!("moved to `{}`, which still answers here", after.path),
                Breaks::GeneratedCode,
            );
        }
        for alias in &before.aliases {
            if !new_at.contains_key(alias) {
                note(
                    format!("no longer answers at `{alias}`"),
                    Breaks::OlderCallers,
                );
            }
        }
        compare_method(before, after, &types, &mut note);
    }
    for (index, after) in new.iter().enumerate() {
        let known = std::iter::once(&after.path)
            .chain(&after.aliases)
            .any(|path| old_at.contains_key(path));
        if !matched[index] && !known {
            changes.push(Change {
                path: after.path.clone(),
                change: "added: an old server answers UnknownApi".into(),
                breaks: Breaks::NewerCallers,
            });
        }
    }
    Report { changes }
}

/// The type tables of the two versions.
struct Versions<'a> {
    old: &'a Types,
    new: &'a Types,
}

/// Which way values of a type travel: written by callers and read by the
/// server (params, input streams), or the other way round.
#[derive(Clone, Copy)]
enum Flow {
    ToServer,
    ToCaller,
}

impl Versions<'_> {
    /// Whom changing a type from `was` to `is` breaks, and why, or `None`
    /// if the wire is the same for both.
    fn retyped(&self, flow: Flow, was: &Type, is: &Type) -> Option<(Breaks, String)> {
        let old_reads = Sides {
            reader: self.old,
            writer: self.new,
        };
        let new_reads = Sides {
            reader: self.new,
            writer: self.old,
        };
        // Older callers meet the new server; newer callers an old one.
        let (older, newer) = match flow {
            Flow::ToServer => (new_reads.mismatches(is, was), old_reads.mismatches(was, is)),
            Flow::ToCaller => (old_reads.mismatches(was, is), new_reads.mismatches(is, was)),
        };
        let breaks = Breaks::of(!older.is_empty(), !newer.is_empty())?;
        let why: Vec<String> = older.into_iter().chain(newer).collect();
        Some((breaks, why.join("; ")))
    }
}

/// The differences between two versions of one method.
fn compare_method(
    before: &MethodDescription,
    after: &MethodDescription,
    types: &Versions<'_>,
    note: &mut impl FnMut(String, Breaks),
) {
    if before.event != after.event {
        let (was, is) = if after.event {
            ("a call", "an event")
        } else {
            ("an event", "a call")
        };
        note(format!("was {was}, is {is}"), Breaks::Both);
    }
    let shapes = before.shapes.as_ref().zip(after.shapes.as_ref());
    let param_shapes = shapes.map(|(was, is)| (&was.params[..], &is.params[..]));
    compare_params(&before.params, &after.params, param_shapes, types, note);
    let mut changed = |what: &str,
                       flow: Flow,
                       names: (Option<&str>, Option<&str>),
                       shapes: Option<(Option<&Type>, Option<&Type>)>| {
        let (was, is) = names;
        let show = |ty: Option<&str>| ty.map_or_else(|| "none".to_owned(), |t| format!("`{t}`"));
        let renamed = if was == is {
            format!("{what} {}", show(is))
        } else {
            format!("{what}: {} → {}", show(was), show(is))
        };
        match shapes {
            Some((Some(was_shape), Some(is_shape))) => {
                match types.retyped(flow, was_shape, is_shape) {
                    Some((breaks, why)) => note(format!("{renamed}: {why}"), breaks),
                    None if was != is => note(
                        format!("{renamed}, the same on the wire"),
                        Breaks::GeneratedCode,
                    ),
                    None => {}
                }
            }
            _ if was != is => note(renamed, Breaks::Both),
            _ => {}
        }
    };
    changed(
        "result",
        Flow::ToCaller,
        (Some(&before.returns), Some(&after.returns)),
        shapes.map(|(was, is)| (Some(&was.returns), Some(&is.returns))),
    );
    changed(
        "error",
        Flow::ToCaller,
        (before.error.as_deref(), after.error.as_deref()),
        shapes.map(|(was, is)| (was.error.as_ref(), is.error.as_ref())),
    );
    changed(
        "stream of",
        Flow::ToCaller,
        (before.stream.as_deref(), after.stream.as_deref()),
        shapes.map(|(was, is)| (was.stream.as_ref(), is.stream.as_ref())),
    );
    changed(
        "input stream of",
        Flow::ToServer,
        (before.input.as_deref(), after.input.as_deref()),
        shapes.map(|(was, is)| (was.input.as_ref(), is.input.as_ref())),
    );
    if before.idempotent != after.idempotent {
        let now = if after.idempotent { "now" } else { "no longer" };
        note(
            format!("{now} idempotent: sent again after a lost connection"),
            Breaks::Nobody,
        );
    }
    if before.deprecated != after.deprecated {
        match &after.deprecated {
            Some(why) => note(format!("deprecated: {why}"), Breaks::Nobody),
            None => note("no longer deprecated".into(), Breaks::Nobody),
        }
    }
}

/// Params compared by position: the wire carries them in order.
fn compare_params(
    before: &[ParamDescription],
    after: &[ParamDescription],
    shapes: Option<(&[Type], &[Type])>,
    types: &Versions<'_>,
    note: &mut impl FnMut(String, Breaks),
) {
    let before_optional = optional(before);
    let after_optional = optional(after);
    for (position, (was, is)) in before.iter().zip(after).enumerate() {
        let n = position + 1;
        let retyped = if was.ty == is.ty {
            format!("param {n} `{}` (`{}`)", is.name, is.ty)
        } else {
            format!("param {n} `{}`: `{}` → `{}`", is.name, was.ty, is.ty)
        };
        let shaped = shapes.and_then(|(was, is)| Some((was.get(position)?, is.get(position)?)));
        if let Some((was_shape, is_shape)) = shaped {
            match types.retyped(Flow::ToServer, was_shape, is_shape) {
                Some((breaks, why)) => note(format!("{retyped}: {why}"), breaks),
                None if was.ty != is.ty => {
                    note(
                        format!("{retyped}, the same on the wire"),
                        Breaks::GeneratedCode,
                    );
                }
                None => {}
            }
            if was.name != is.name {
                note(
                    format!("param {n} renamed `{}` → `{}`", was.name, is.name),
                    Breaks::GeneratedCode,
                );
            }
        } else if was.ty != is.ty {
            note(retyped, Breaks::Both);
        } else if was.name != is.name {
            note(
                format!("param {n} renamed `{}` → `{}`", was.name, is.name),
                Breaks::GeneratedCode,
            );
        }
        if before_optional[position] && !after_optional[position] {
            note(
                format!("param {n} `{}` may no longer be left out", is.name),
                Breaks::OlderCallers,
            );
        }
    }
    for (position, added) in after.iter().enumerate().skip(before.len()) {
        let n = position + 1;
        if after_optional[position] {
            note(
                format!(
                    "param {n} `{}` added, may be left out: an old server refuses a call that sends it",
                    added.name
                ),
                Breaks::NewerCallers,
            );
        } else {
            note(
                format!("param {n} `{}` added, required", added.name),
                Breaks::OlderCallers,
            );
        }
    }
    for (position, removed) in before.iter().enumerate().skip(after.len()) {
        note(
            format!(
                "param {} `{}` removed: a call that sends it is refused",
                position + 1,
                removed.name
            ),
            Breaks::OlderCallers,
        );
    }
}

/// Which params a call may leave out: the trailing run of those marked
/// optional, or (in descriptions older than the mark) of `Option`s.
fn optional(params: &[ParamDescription]) -> Vec<bool> {
    let required = params
        .iter()
        .rposition(|p| !(p.optional || p.ty.starts_with("Option<")))
        .map_or(0, |last| last + 1);
    (0..params.len()).map(|i| i >= required).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(path: &str, params: &[(&str, &str)]) -> MethodDescription {
        MethodDescription {
            params: params
                .iter()
                .map(|(name, ty)| ParamDescription::new(*name, *ty))
                .collect(),
            returns: "String".into(),
            ..MethodDescription::new(path)
        }
    }

    /// `compare` of two method lists without shapes.
    fn compare(old: &[MethodDescription], new: &[MethodDescription]) -> Report {
        let described = |methods: &[MethodDescription]| Description {
            methods: methods.to_vec(),
            ..Description::default()
        };
        super::compare(&described(old), &described(new))
    }

    /// Each change between `old` and `new`, as (path, whom it breaks).
    fn classes(old: &[MethodDescription], new: &[MethodDescription]) -> Vec<(String, Breaks)> {
        compare(old, new)
            .changes
            .into_iter()
            .map(|c| (c.path, c.breaks))
            .collect()
    }

    fn one(path: &str, breaks: Breaks) -> Vec<(String, Breaks)> {
        vec![(path.to_owned(), breaks)]
    }

    #[test]
    fn the_same_api_has_no_changes() {
        let api = [method("a", &[("x", "u8")]), method("b.c", &[])];
        assert_eq!(compare(&api, &api), Report::default());
        assert_eq!(compare(&api, &api).to_string(), "no changes\n");
    }

    #[test]
    fn an_added_method_breaks_only_newer_callers_and_a_removed_one_older() {
        let v1 = [method("a", &[])];
        let v2 = [method("a", &[]), method("b", &[])];
        assert_eq!(classes(&v1, &v2), one("b", Breaks::NewerCallers));
        assert_eq!(classes(&v2, &v1), one("b", Breaks::OlderCallers));
        assert!(compare(&v2, &v1).breaks_older_callers());
        assert!(!compare(&v1, &v2).breaks_older_callers());
    }

    #[test]
    fn trailing_params_that_may_be_missing_are_safe_and_required_ones_are_not() {
        let v1 = [method("greet", &[("name", "String")])];
        let mut optional = method("greet", &[("name", "String")]);
        optional
            .params
            .push(ParamDescription::optional("times", "u8"));
        assert_eq!(
            classes(&v1, std::slice::from_ref(&optional)),
            one("greet", Breaks::NewerCallers)
        );
        // Read from an older description: a trailing Option.
        let option = method("greet", &[("name", "String"), ("p", "Option<String>")]);
        assert_eq!(classes(&v1, &[option]), one("greet", Breaks::NewerCallers));
        let required = method("greet", &[("name", "String"), ("times", "u8")]);
        assert_eq!(
            classes(&v1, std::slice::from_ref(&required)),
            one("greet", Breaks::OlderCallers)
        );
        assert_eq!(
            classes(&[optional], &[required]),
            one("greet", Breaks::OlderCallers)
        );
        assert_eq!(
            classes(&[method("greet", &[("name", "String"), ("x", "u8")])], &v1),
            one("greet", Breaks::OlderCallers)
        );
    }

    #[test]
    fn changed_types_break_both_and_renamed_params_only_generated_code() {
        let v1 = [method("div", &[("a", "f64"), ("b", "f64")])];
        let retyped = [method("div", &[("a", "f64"), ("b", "String")])];
        assert_eq!(classes(&v1, &retyped), one("div", Breaks::Both));
        let renamed = [method("div", &[("a", "f64"), ("divisor", "f64")])];
        assert_eq!(classes(&v1, &renamed), one("div", Breaks::GeneratedCode));
        let mut returns = method("div", &[("a", "f64"), ("b", "f64")]);
        returns.returns = "f32".into();
        assert_eq!(classes(&v1, &[returns]), one("div", Breaks::Both));
        let mut event = v1[0].clone();
        event.event = true;
        assert_eq!(classes(&v1, &[event]), one("div", Breaks::Both));
    }

    #[test]
    fn a_method_moved_with_an_alias_breaks_nobody_and_losing_the_alias_does() {
        let v1 = [method("farewell", &[]), method("admin.uptime", &[])];
        let mut goodbye = method("goodbye", &[]);
        goodbye.aliases = vec!["farewell".into()];
        let mut uptime = method("ops.uptime", &[]);
        uptime.aliases = vec!["admin.uptime".into()];
        let v2 = [goodbye.clone(), uptime];
        assert_eq!(
            classes(&v1, &v2),
            [
                ("admin.uptime".to_owned(), Breaks::GeneratedCode),
                ("farewell".to_owned(), Breaks::GeneratedCode)
            ]
        );
        assert!(!compare(&v1, &v2).breaks_older_callers());
        // v3 drops the alias: callers of the old path break.
        let v3 = [method("goodbye", &[]), method("ops.uptime", &[])];
        let report = compare(&v2, &v3);
        assert!(report.breaks_older_callers(), "{report}");
        assert!(
            report
                .to_string()
                .contains("no longer answers at `farewell`"),
            "{report}"
        );
    }

    #[test]
    fn deprecation_and_idempotence_break_nobody() {
        let v1 = [method("hello", &[])];
        let mut hello = method("hello", &[]);
        hello.deprecated = Some("use greet".into());
        hello.idempotent = true;
        let report = compare(&v1, &[hello]);
        assert_eq!(report.changes.len(), 2, "{report}");
        assert!(report.changes.iter().all(|c| c.breaks == Breaks::Nobody));
        assert!(report.to_string().contains("deprecated: use greet"));
    }
}
