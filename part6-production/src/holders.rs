//! Which source holds which entries of a bounded table, oldest first, so
//! that a full table evicts from the source that holds the most and never
//! from somebody who holds little (rule AS-16).
//!
//! A table that anonymous requests can fill (sign-ins in progress,
//! registered clients nobody has used) needs a bound, and a bound needs a
//! victim. Evicting the oldest entry of the whole table would let one
//! script push out a person's sign-in; refusing new entries would lock the
//! person out. So each entry is charged to its [`Source`]: a source over its
//! own share loses its own oldest entry, and when the whole table is full
//! the source with the most entries loses its oldest. A source with nothing
//! in the table is never refused because of the others.

use std::collections::{HashMap, VecDeque};

use crate::limits::Source;

/// The ids each source holds in one table, oldest first.
#[derive(Debug, Default)]
pub struct Holders {
    by_source: HashMap<Source, VecDeque<String>>,
    len: usize,
}

impl Holders {
    /// Charges `id` to `source`.
    pub fn add(&mut self, source: Source, id: String) {
        self.by_source.entry(source).or_default().push_back(id);
        self.len += 1;
    }

    /// Stops charging `id` to `source` (the entry was used or expired).
    pub fn remove(&mut self, source: Source, id: &str) {
        let Some(ids) = self.by_source.get_mut(&source) else {
            return;
        };
        if let Some(at) = ids.iter().position(|held| held == id) {
            ids.remove(at);
            self.len -= 1;
        }
        if ids.is_empty() {
            self.by_source.remove(&source);
        }
    }

    /// How many entries `source` holds.
    pub fn count(&self, source: Source) -> usize {
        self.by_source.get(&source).map_or(0, VecDeque::len)
    }

    /// How many entries all sources hold.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nobody holds anything.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest entry of `source`.
    pub fn oldest_of(&self, source: Source) -> Option<String> {
        self.by_source.get(&source)?.front().cloned()
    }

    /// The source that holds the most entries, and its oldest one: whom a
    /// full table evicts.
    pub fn largest(&self) -> Option<(Source, String)> {
        let (source, ids) = self.by_source.iter().max_by_key(|(_, ids)| ids.len())?;
        Some((*source, ids.front()?.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(last: u8) -> Source {
        Source::of([10, 0, 0, last].into())
    }

    #[test]
    fn as16_the_largest_holder_is_the_victim() {
        let mut holders = Holders::default();
        holders.add(source(1), "a1".into());
        holders.add(source(2), "b1".into());
        holders.add(source(2), "b2".into());
        assert_eq!(holders.largest(), Some((source(2), "b1".into())));
        assert_eq!(holders.oldest_of(source(1)).as_deref(), Some("a1"));
        holders.remove(source(2), "b1");
        holders.remove(source(2), "b2");
        assert_eq!(holders.count(source(2)), 0);
        assert_eq!(holders.len(), 1);
        assert_eq!(holders.largest(), Some((source(1), "a1".into())));
        holders.remove(source(1), "a1");
        assert!(holders.is_empty());
        assert_eq!(holders.largest(), None);
    }
}
