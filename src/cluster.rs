//! Clusters of near-duplicate segments and who carries them.
//!
//! A cluster counts documents, not segments: a document that repeats a
//! paragraph counts once, and re-ingesting a document id first removes its
//! old membership, so re-crawls never inflate counts.

use std::io;

use crate::snapshot::{Reader, Result as SnapResult, SnapshotError, Writer};
use crate::time::Micros;

pub type ClusterId = u64;
/// Engine-internal document handle (never reused).
pub type DocIdx = u32;
/// Engine-internal interned source.
pub type SourceIdx = u32;

/// One document's membership in a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub doc: DocIdx,
    pub source: SourceIdx,
    pub published_at: Micros,
    /// Ingest order, the tie-breaker for equal `published_at`.
    pub seq: u64,
}

impl Member {
    /// Order of "who had it first".
    pub fn precedence(&self) -> (Micros, u64) {
        (self.published_at, self.seq)
    }
}

/// A cluster of near-duplicate segments.
///
/// Most clusters hold one document's segment and never grow (a text seen
/// once), so that case is stored inline without allocation; it is the bulk
/// of the engine's per-paragraph memory. A second document moves the
/// cluster to the general form, which stays general until it empties.
///
/// Membership is by document: a document's first segment in the cluster
/// makes it a member, its later ones change nothing, and it leaves with
/// all of them (documents leave whole: a takedown, or a replacement).
#[derive(Debug, Clone, Default)]
pub struct Cluster(Repr);

#[derive(Debug, Clone, Default)]
enum Repr {
    #[default]
    Empty,
    One(Member),
    Many(Box<Many>),
}

#[derive(Debug, Clone)]
struct Many {
    /// Sorted by document: documents join in handle order, so adding is a
    /// push and membership a binary search, however large a site's
    /// template cluster grows.
    members: Vec<Member>,
    /// Documents per source.
    per_source: Vec<(SourceIdx, u32)>,
    /// Index in `members` of the earliest occurrence.
    earliest: u32,
}

/// What a document's segment sees of its cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterView {
    pub id: ClusterId,
    pub documents: u32,
    pub sources: u32,
    /// Documents of the asking document's source.
    pub source_documents: u32,
    pub earliest: Member,
}

impl Cluster {
    pub fn documents(&self) -> u32 {
        match &self.0 {
            Repr::Empty => 0,
            Repr::One(_) => 1,
            Repr::Many(m) => m.members.len() as u32,
        }
    }
    pub fn sources(&self) -> u32 {
        match &self.0 {
            Repr::Empty => 0,
            Repr::One(_) => 1,
            Repr::Many(m) => m.per_source.len() as u32,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.documents() == 0
    }
    pub fn earliest(&self) -> Option<Member> {
        match &self.0 {
            Repr::Empty => None,
            Repr::One(member) => Some(*member),
            Repr::Many(m) => Some(m.members[m.earliest as usize]),
        }
    }
    pub fn source_documents(&self, source: SourceIdx) -> u32 {
        match &self.0 {
            Repr::Empty => 0,
            Repr::One(member) => u32::from(member.source == source),
            Repr::Many(m) => m
                .per_source
                .iter()
                .find(|(s, _)| *s == source)
                .map_or(0, |(_, n)| *n),
        }
    }
    /// Documents per source, largest first.
    pub fn per_source(&self) -> Vec<(SourceIdx, u32)> {
        let mut v = match &self.0 {
            Repr::Empty => Vec::new(),
            Repr::One(member) => vec![(member.source, 1)],
            Repr::Many(m) => m.per_source.clone(),
        };
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
    pub fn largest_source_documents(&self) -> u32 {
        match &self.0 {
            Repr::Many(m) => m.per_source.iter().map(|(_, n)| *n).max().unwrap_or(0),
            _ => self.documents(),
        }
    }
    /// Members in document order: the first is the one that joined first
    /// of those still there (its segment stands for the cluster).
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        let (one, many) = match &self.0 {
            Repr::Empty => (None, &[][..]),
            Repr::One(member) => (Some(member), &[][..]),
            Repr::Many(m) => (None, &m.members[..]),
        };
        one.into_iter().chain(many.iter())
    }
    pub fn contains(&self, doc: DocIdx) -> bool {
        match &self.0 {
            Repr::Empty => false,
            Repr::One(member) => member.doc == doc,
            Repr::Many(m) => m.position(doc).is_ok(),
        }
    }

    /// Adds `member`'s document; a member already changes nothing.
    pub fn add(&mut self, member: Member) {
        match &mut self.0 {
            Repr::Empty => self.0 = Repr::One(member),
            Repr::One(m) if m.doc == member.doc => {}
            Repr::One(first) => {
                let mut many = Many {
                    members: Vec::with_capacity(2),
                    per_source: Vec::with_capacity(2),
                    earliest: 0,
                };
                many.members.push(*first);
                many.per_source.push((first.source, 1));
                many.add(member);
                self.0 = Repr::Many(Box::new(many));
            }
            Repr::Many(m) => m.add(member),
        }
    }

    /// Takes document `doc` out; one that is not a member changes nothing.
    pub fn remove(&mut self, doc: DocIdx) {
        match &mut self.0 {
            Repr::Empty => {}
            Repr::One(member) => {
                if member.doc == doc {
                    self.0 = Repr::Empty;
                }
            }
            Repr::Many(m) => {
                m.remove(doc);
                if m.members.is_empty() {
                    self.0 = Repr::Empty;
                }
            }
        }
    }

    /// The cluster as `asking` sees it, counting `asking` as a member if it
    /// is not one yet (a dry run labels as if the document had joined).
    pub fn view(&self, id: ClusterId, asking: &Member) -> ClusterView {
        let member = self.contains(asking.doc);
        let source_documents = self.source_documents(asking.source);
        let earliest = match self.earliest() {
            Some(e) if member || e.precedence() <= asking.precedence() => e,
            _ => *asking,
        };
        ClusterView {
            id,
            documents: self.documents() + u32::from(!member),
            sources: self.sources() + u32::from(!member && source_documents == 0),
            source_documents: source_documents + u32::from(!member),
            earliest,
        }
    }
}

impl Many {
    fn position(&self, doc: DocIdx) -> Result<usize, usize> {
        // The newest document is the common case (its other segments).
        match self.members.last() {
            Some(m) if m.doc == doc => Ok(self.members.len() - 1),
            Some(m) if m.doc < doc => Err(self.members.len()),
            _ => self.members.binary_search_by_key(&doc, |m| m.doc),
        }
    }

    fn add(&mut self, member: Member) {
        let Err(i) = self.position(member.doc) else {
            return;
        };
        self.members.insert(i, member);
        match self
            .per_source
            .iter_mut()
            .find(|(s, _)| *s == member.source)
        {
            Some((_, n)) => *n += 1,
            None => self.per_source.push((member.source, 1)),
        }
        let earliest = self.earliest as usize + usize::from(i <= self.earliest as usize);
        self.earliest = if member.precedence() < self.members[earliest].precedence() {
            i as u32
        } else {
            earliest as u32
        };
    }

    fn remove(&mut self, doc: DocIdx) {
        let Ok(pos) = self.position(doc) else {
            return;
        };
        let gone = self.members.remove(pos);
        if let Some(p) = self.per_source.iter().position(|(s, _)| *s == gone.source) {
            self.per_source[p].1 -= 1;
            if self.per_source[p].1 == 0 {
                self.per_source.swap_remove(p);
            }
        }
        self.earliest = match (self.earliest as usize).cmp(&pos) {
            std::cmp::Ordering::Less => self.earliest,
            std::cmp::Ordering::Greater => self.earliest - 1,
            std::cmp::Ordering::Equal => self
                .members
                .iter()
                .enumerate()
                .min_by_key(|(_, m)| m.precedence())
                .map_or(0, |(i, _)| i as u32),
        };
    }
}

/// All clusters; ids are dense and start at 1.
#[derive(Debug, Default)]
pub struct Clusters {
    slots: Vec<Cluster>,
    live: usize,
}

impl Clusters {
    pub fn create(&mut self) -> ClusterId {
        if self.slots.len() == self.slots.capacity() {
            // Grow by half rather than double, as the index does: the
            // slots are a large share of the state.
            self.slots.reserve_exact((self.slots.len() / 2).max(64));
        }
        self.slots.push(Cluster::default());
        self.slots.len() as ClusterId
    }

    /// Makes sure `id` exists (replay restores stored ids).
    pub fn ensure(&mut self, id: ClusterId) {
        if id as usize > self.slots.len() {
            self.slots.resize_with(id as usize, Cluster::default);
        }
    }

    pub fn get(&self, id: ClusterId) -> Option<&Cluster> {
        id.checked_sub(1).and_then(|i| self.slots.get(i as usize))
    }

    pub fn add(&mut self, id: ClusterId, member: Member) {
        let c = &mut self.slots[id as usize - 1];
        if c.is_empty() {
            self.live += 1;
        }
        c.add(member);
    }

    /// See [`Cluster::remove`].
    pub fn remove(&mut self, id: ClusterId, doc: DocIdx) {
        let Some(c) = id
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i as usize))
        else {
            return;
        };
        let was_live = !c.is_empty();
        c.remove(doc);
        if was_live && c.is_empty() {
            self.live -= 1;
        }
    }

    /// Clusters with at least one document.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Heap bytes in use: the slots and each larger cluster's member lists
    /// (spare capacity is reserved, not touched).
    pub fn heap_bytes(&self) -> usize {
        let many: usize = self
            .slots
            .iter()
            .map(|c| match &c.0 {
                Repr::Many(m) => {
                    std::mem::size_of::<Many>()
                        + m.members.len() * std::mem::size_of::<Member>()
                        + m.per_source.len() * std::mem::size_of::<(SourceIdx, u32)>()
                }
                _ => 0,
            })
            .sum();
        self.slots.len() * std::mem::size_of::<Cluster>() + many
    }

    pub fn iter(&self) -> impl Iterator<Item = (ClusterId, &Cluster)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .map(|(i, c)| (i as ClusterId + 1, c))
    }
}

impl Member {
    fn save(&self, w: &mut Writer) -> io::Result<()> {
        w.put(self.doc)?;
        w.put(self.source)?;
        w.put(self.published_at)?;
        w.put(self.seq)
    }

    fn load(r: &mut Reader) -> SnapResult<Member> {
        Ok(Member {
            doc: r.get()?,
            source: r.get()?,
            published_at: r.get()?,
            seq: r.get()?,
        })
    }
}

const EMPTY: u8 = 0;
const ONE: u8 = 1;
const MANY: u8 = 2;

impl Clusters {
    /// Every cluster as it is (members, counts, earliest).
    pub fn save(&self, w: &mut Writer) -> io::Result<()> {
        w.length(self.slots.len())?;
        for c in &self.slots {
            match &c.0 {
                Repr::Empty => w.put(EMPTY)?,
                Repr::One(member) => {
                    w.put(ONE)?;
                    member.save(w)?;
                }
                Repr::Many(m) => {
                    w.put(MANY)?;
                    w.length(m.members.len())?;
                    for member in &m.members {
                        member.save(w)?;
                    }
                    w.slice(
                        &m.per_source
                            .iter()
                            .map(|&(s, n)| [s, n])
                            .collect::<Vec<_>>(),
                    )?;
                    w.put(m.earliest)?;
                }
            }
        }
        Ok(())
    }

    pub fn load(r: &mut Reader) -> SnapResult<Clusters> {
        let n = r.length(1)?;
        let mut slots = Vec::with_capacity(n);
        let mut live = 0;
        for _ in 0..n {
            let repr = match r.get::<u8>()? {
                EMPTY => Repr::Empty,
                ONE => Repr::One(Member::load(r)?),
                MANY => {
                    let k = r.length(24)?;
                    let mut members = Vec::with_capacity(k);
                    for _ in 0..k {
                        members.push(Member::load(r)?);
                    }
                    if members.is_empty() || !members.is_sorted_by_key(|m| m.doc) {
                        return Err(SnapshotError::invalid("cluster members out of order"));
                    }
                    let per_source = r
                        .vec::<[u32; 2]>()?
                        .into_iter()
                        .map(|[s, n]| (s, n))
                        .collect();
                    let earliest: u32 = r.get()?;
                    if earliest as usize >= members.len() {
                        return Err(SnapshotError::invalid("cluster earliest past its members"));
                    }
                    Repr::Many(Box::new(Many {
                        members,
                        per_source,
                        earliest,
                    }))
                }
                t => return Err(SnapshotError::invalid(format!("cluster tag {t}"))),
            };
            live += usize::from(!matches!(repr, Repr::Empty));
            slots.push(Cluster(repr));
        }
        Ok(Clusters { slots, live })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(doc: DocIdx, source: SourceIdx, t: Micros) -> Member {
        Member {
            doc,
            source,
            published_at: t,
            seq: doc as u64,
        }
    }

    #[test]
    fn counts_documents_not_segments() {
        let mut cs = Clusters::default();
        let id = cs.create();
        cs.add(id, m(1, 1, 10));
        cs.add(id, m(1, 1, 10)); // another segment of document 1
        cs.add(id, m(2, 1, 5));
        cs.add(id, m(3, 2, 20));
        let c = cs.get(id).unwrap();
        assert_eq!(
            (c.documents(), c.sources(), c.source_documents(1)),
            (3, 2, 2)
        );
        assert_eq!(c.earliest().unwrap().doc, 2);
        cs.remove(id, 2); // the earliest leaves: the next earliest takes over
        let c = cs.get(id).unwrap();
        assert_eq!(
            (c.documents(), c.sources(), c.earliest().unwrap().doc),
            (2, 2, 1)
        );
        cs.remove(id, 1);
        cs.remove(id, 1); // its other segment: nothing left to take
        let c = cs.get(id).unwrap();
        assert_eq!(
            (c.documents(), c.sources(), c.earliest().unwrap().doc),
            (1, 1, 3)
        );
        cs.remove(id, 3);
        assert_eq!(cs.live(), 0);
    }

    #[test]
    fn a_single_document_is_stored_inline_until_a_second_joins() {
        assert!(std::mem::size_of::<Cluster>() <= 32);
        let mut cs = Clusters::default();
        let id = cs.create();
        cs.add(id, m(1, 1, 10));
        cs.add(id, m(1, 1, 10));
        let c = cs.get(id).unwrap();
        assert!(matches!(c.0, Repr::One(_)));
        cs.add(id, m(2, 2, 5));
        let c = cs.get(id).unwrap();
        assert!(matches!(c.0, Repr::Many(_)));
        assert_eq!((c.documents(), c.sources()), (2, 2));
        assert_eq!(c.earliest().unwrap().doc, 2);
        // The first member stands for the cluster, whoever came earlier.
        assert_eq!(c.members().next().unwrap().doc, 1);
        cs.remove(id, 1);
        assert_eq!(cs.get(id).unwrap().members().next().unwrap().doc, 2);
        cs.remove(id, 2);
        assert!(cs.get(id).unwrap().is_empty());
        assert_eq!(cs.live(), 0);
    }

    #[test]
    fn members_stay_sorted_by_document_whatever_the_order() {
        let mut cs = Clusters::default();
        let id = cs.create();
        for doc in [5, 2, 9, 7, 2, 1] {
            cs.add(id, m(doc, doc, 10));
        }
        let c = cs.get(id).unwrap();
        let docs: Vec<DocIdx> = c.members().map(|m| m.doc).collect();
        assert_eq!(docs, vec![1, 2, 5, 7, 9]);
        assert!(c.contains(7) && !c.contains(3));
        cs.remove(id, 2);
        let docs: Vec<DocIdx> = cs.get(id).unwrap().members().map(|m| m.doc).collect();
        assert_eq!(docs, vec![1, 5, 7, 9]);
    }

    proptest::proptest! {
        /// The earliest member (by precedence, then document) is the one a
        /// scan of the members finds, whatever the order of joins and
        /// departures.
        #[test]
        fn the_earliest_is_the_least_precedence_of_the_members(
            ops in proptest::collection::vec((0u32..12, 0i64..5, proptest::bool::ANY), 1..60)
        ) {
            let mut cs = Clusters::default();
            let id = cs.create();
            for (doc, t, join) in ops {
                if join {
                    cs.add(id, m(doc, doc % 3, t));
                } else {
                    cs.remove(id, doc);
                }
                let c = cs.get(id).unwrap();
                let scan = c.members().copied().min_by_key(|m| m.precedence());
                proptest::prop_assert_eq!(
                    c.earliest().map(|e| e.precedence()),
                    scan.map(|e| e.precedence())
                );
                let sources: std::collections::BTreeSet<_> = c.members().map(|m| m.source).collect();
                proptest::prop_assert_eq!(c.sources() as usize, sources.len());
            }
        }
    }

    #[test]
    fn view_counts_a_dry_run_document_once() {
        let mut cs = Clusters::default();
        let id = cs.create();
        cs.add(id, m(1, 1, 10));
        let outsider = m(9, 2, 5);
        let v = cs.get(id).unwrap().view(id, &outsider);
        assert_eq!((v.documents, v.sources, v.source_documents), (2, 2, 1));
        assert_eq!(v.earliest.doc, 9);
        let v = cs.get(id).unwrap().view(id, &m(1, 1, 10));
        assert_eq!((v.documents, v.sources, v.source_documents), (1, 1, 1));
    }
}
