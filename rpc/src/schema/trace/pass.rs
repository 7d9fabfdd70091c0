//! A pass's bookkeeping: what was seen where, which choice each choice
//! point makes, who takes a failure, and what a struct's or enum's visit
//! taught.

use super::read::Fields;
use serde::de::Visitor;

use super::{
    BYTE_LENGTHS, Kind, Learned, MAX_DEFERS, MAX_NODES, MAX_REENTRY, Pass, Result, STRINGS,
    StructProgress, TraceError, unknowns, variant_key,
};
use crate::schema::Type;

impl Pass<'_> {
    /// Notes what the value at the current path is.
    pub(super) fn enter(&mut self, kind: Kind) -> Result<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(TraceError::new(format!(
                "the type has more than {MAX_NODES} values in one instance"
            )));
        }
        if let Kind::Named(name) = &kind {
            self.schema.note_named(name);
        }
        self.trace.kinds.insert(self.path.clone(), kind);
        Ok(())
    }

    /// Runs `read` with `segment` added to the path.
    pub(super) fn at<R>(&mut self, segment: &str, read: impl FnOnce(&mut Self) -> R) -> R {
        let len = self.path.len();
        self.path.push_str(segment);
        let result = read(self);
        self.path.truncate(len);
        result
    }

    /// The choice the choice point at the current path makes, of `options`.
    pub(super) fn choice(&self, options: usize) -> usize {
        let chosen = self.trace.choices.get(&self.path).copied().unwrap_or(0);
        chosen.min(options - 1)
    }

    /// After a choice point's value: if it failed, nothing deeper claimed the
    /// failure and another option is left, claims it for the next pass.
    pub(super) fn settle<R>(
        &mut self,
        result: Result<R>,
        chosen: usize,
        options: usize,
    ) -> Result<R> {
        if result.is_err() {
            self.failed_at(chosen, options);
        }
        result
    }

    /// A choice point's value failed: claims the failure if nothing deeper
    /// did and another option is left. (Apart from the generic `settle`, as
    /// all bookkeeping is, so it is compiled once, not once per type.)
    fn failed_at(&mut self, chosen: usize, options: usize) {
        if self.unclaimed() && chosen + 1 < options {
            self.trace.choices.insert(self.path.clone(), chosen + 1);
            self.claimed = true;
        }
    }

    /// Whether a failure is still unclaimed, after offering it to the last
    /// leaf if nothing was read since it.
    pub(super) fn unclaimed(&mut self) -> bool {
        if self.claimed {
            return false;
        }
        if let Some((path, chosen, options, nodes)) = self.last_leaf.take()
            && nodes == self.nodes
            && chosen + 1 < options
        {
            self.trace.choices.insert(path, chosen + 1);
            self.claimed = true;
        }
        !self.claimed
    }

    pub(super) fn leaf<R>(
        &mut self,
        ty: Type,
        options: usize,
        read: impl FnOnce(usize) -> Result<R>,
    ) -> Result<R> {
        self.enter(Kind::Leaf(ty))?;
        let chosen = self.choice(options);
        let result = read(chosen);
        self.read_leaf(result, chosen, options)
    }

    /// After a leaf's value: settles it, and remembers it in case what reads
    /// it rejects the value.
    pub(super) fn read_leaf<R>(
        &mut self,
        result: Result<R>,
        chosen: usize,
        options: usize,
    ) -> Result<R> {
        let result = self.settle(result, chosen, options);
        self.leaf_read(chosen, options);
        result
    }

    fn leaf_read(&mut self, chosen: usize, options: usize) {
        self.last_leaf = Some((self.path.clone(), chosen, options, self.nodes));
    }

    pub(super) fn string<'de, V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        self.leaf(Type::String, STRINGS.len(), |i| {
            visitor.visit_str(STRINGS[i])
        })
    }

    pub(super) fn bytes<'de, V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        self.leaf(Type::Bytes, BYTE_LENGTHS.len(), |i| {
            visitor.visit_byte_buf(vec![0; BYTE_LENGTHS[i]])
        })
    }

    pub(super) fn note_failure(&mut self, name: &str, error: &TraceError) {
        self.schema
            .failures
            .entry(name.to_owned())
            .or_insert_with(|| error.message.clone());
    }

    /// Fails if the type `key` is already being read `MAX_REENTRY` times.
    pub(super) fn reenter(&self, key: &str) -> Result<()> {
        if self.stack.iter().filter(|k| *k == key).count() >= MAX_REENTRY {
            return Err(TraceError::new(format!("`{key}` contains itself")));
        }
        Ok(())
    }

    /// Reads a struct (or struct variant) `key` with `fields` through `read`,
    /// which hands the visitor a map of its fields.
    pub(super) fn fields_of<R>(
        &mut self,
        key: String,
        fields: &'static [&'static str],
        read: impl FnOnce(Fields<'_, '_>) -> Result<R>,
    ) -> Result<R> {
        let mut visit = self.begin_fields(key, fields)?;
        let result = read(Fields {
            pass: self,
            keys: &visit.keys,
            next: 0,
            fed: &mut visit.fed,
        });
        self.end_fields(visit, result.as_ref().err());
        result
    }

    /// Starts reading a struct: which keys it is fed this pass.
    fn begin_fields(&mut self, key: String, fields: &'static [&'static str]) -> Result<Visit> {
        self.reenter(&key)?;
        let progress = self
            .schema
            .structs
            .entry(key.clone())
            .or_insert_with(|| StructProgress {
                keys: fields.to_vec(),
                shapes: None,
                optional: vec![None; fields.len()],
            });
        let left_out = match &progress.shapes {
            Some(_) if !self.probed.contains(&key) => {
                progress.optional.iter().position(Option::is_none)
            }
            _ => None,
        };
        if left_out.is_some() {
            self.probed.insert(key.clone());
        }
        let keys: Vec<&'static str> = progress
            .keys
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != left_out)
            .map(|(_, k)| *k)
            .collect();
        self.stack.push(key.clone());
        Ok(Visit {
            key,
            left_out,
            keys,
            fed: Vec::new(),
        })
    }

    /// Ends reading a struct: what its visit taught.
    fn end_fields(&mut self, visit: Visit, error: Option<&TraceError>) {
        self.stack.pop();
        match error {
            None => self.fields_read(&visit.key, visit.left_out),
            Some(error) if self.unclaimed() => {
                self.fields_failed(&visit.key, visit.left_out, error, &visit.fed);
            }
            Some(_) => {}
        }
    }

    fn fields_read(&mut self, key: &str, left_out: Option<usize>) {
        let base = self.path.clone();
        let Some(progress) = self.schema.structs.get_mut(key) else {
            return;
        };
        if let Some(index) = left_out {
            progress.optional[index] = Some(true);
            self.progress = true;
            return;
        }
        let shapes: Vec<Type> = progress
            .keys
            .iter()
            .map(|k| self.trace.type_at(&format!("{base}.{k}")))
            .collect();
        let better = match &progress.shapes {
            None => true,
            Some(old) => unknowns(&shapes) < unknowns(old),
        };
        if better {
            progress.shapes = Some(shapes);
            self.progress = true;
        }
    }

    fn fields_failed(
        &mut self,
        key: &str,
        left_out: Option<usize>,
        error: &TraceError,
        fed: &[&'static str],
    ) {
        let Some(progress) = self.schema.structs.get_mut(key) else {
            return;
        };
        if let Some(field) = error.duplicate {
            // An alias of a field already fed (serde lists aliases among the
            // fields, next to each other): feed only the field's own name.
            let last = fed.last().copied();
            let before = fed.len().checked_sub(2).map(|i| fed[i]);
            let alias = match (before, last) {
                (Some(before), Some(last)) if last == field => Some(before),
                (_, last) => last,
            };
            if let Some(index) = alias.and_then(|a| progress.keys.iter().position(|k| *k == a)) {
                progress.keys.remove(index);
                progress.optional.remove(index);
                progress.shapes = None;
                self.claimed = true;
                return;
            }
        }
        if let Some(index) = left_out {
            progress.optional[index] = Some(false);
            self.claimed = true;
            return;
        }
        self.note_failure(key, error);
    }

    /// The variant an enum is read as this pass, and whether it is being
    /// explored (rather than fed as a known value).
    pub(super) fn pick_variant(&mut self, key: &str) -> Result<(usize, bool)> {
        let reentered = self.stack.iter().any(|k| k == key);
        let progress = &self.schema.enums[key];
        if !reentered && !self.explored.contains(key) {
            // A variant not seen yet, or a struct variant whose fields are
            // still being probed.
            let unfinished = |i: &usize| match &progress.shapes[*i] {
                None => true,
                Some(Learned::Struct) => self
                    .schema
                    .structs
                    .get(&variant_key(key, progress.variants[*i]))
                    .is_some_and(|p| p.optional.contains(&None)),
                Some(_) => false,
            };
            let unknown = (0..progress.variants.len())
                .filter(unfinished)
                .min_by_key(|i| progress.defers[*i]);
            if let Some(index) = unknown {
                self.explored.insert(key.to_owned());
                return Ok((index, true));
            }
        }
        let known = |i: &usize| {
            matches!(&progress.shapes[*i], Some(l) if !matches!(l, Learned::Opaque(_)))
                && !progress.bad.contains(i)
        };
        // Plainest first: a unit variant, then one that leads to no type
        // being read now, so a type that contains itself comes to an end.
        let leads_back = |i: &usize| {
            let shapes: Vec<Type> = match &progress.shapes[*i] {
                Some(Learned::Newtype(ty)) => vec![ty.clone()],
                Some(Learned::Tuple(items)) => items.clone(),
                Some(Learned::Struct) => self
                    .schema
                    .structs
                    .get(&variant_key(key, progress.variants[*i]))
                    .and_then(|p| p.shapes.clone())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            shapes
                .iter()
                .flat_map(Type::names)
                .any(|name| name == key || self.stack.iter().any(|k| k == name))
        };
        let count = progress.variants.len();
        let unit =
            (0..count).find(|i| known(i) && matches!(progress.shapes[*i], Some(Learned::Unit)));
        let ending = || (0..count).find(|i| known(i) && !leads_back(i));
        match unit.or_else(ending).or_else(|| (0..count).find(known)) {
            Some(index) => Ok((index, false)),
            None => Err(TraceError::new(format!(
                "no variant of `{key}` could be read yet"
            ))),
        }
    }

    pub(super) fn learn_variant(&mut self, key: &str, index: usize, learned: Learned) {
        if let Some(progress) = self.schema.enums.get_mut(key)
            && progress.shapes[index].is_none()
        {
            progress.shapes[index] = Some(learned);
            self.progress = true;
        }
    }

    pub(super) fn variant_failed(
        &mut self,
        key: &str,
        index: usize,
        explored: bool,
        error: &TraceError,
    ) {
        let Some(progress) = self.schema.enums.get_mut(key) else {
            return;
        };
        if explored {
            progress.defers[index] += 1;
            if progress.defers[index] >= MAX_DEFERS {
                progress.shapes[index] =
                    Some(Learned::Opaque(format!("could not be traced: {error}")));
            }
            self.claimed = true;
        } else if progress.bad.insert(index) {
            self.claimed = true;
        }
    }
}

/// A struct's visit under way.
pub(super) struct Visit {
    key: String,
    /// The field left out this pass, to see whether it may be.
    left_out: Option<usize>,
    /// The keys fed.
    keys: Vec<&'static str>,
    /// The keys fed so far, to tell which one was an alias.
    fed: Vec<&'static str>,
}
