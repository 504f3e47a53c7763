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
#[derive(Debug, Clone, Default)]
pub struct Cluster(Repr);

#[derive(Debug, Clone, Default)]
enum Repr {
    #[default]
    Empty,
    One {
        member: Member,
        /// Segments of that document in this cluster.
        segments: u32,
        /// Ordinal of the representative segment.
        representative: u32,
    },
    Many(Box<Many>),
}

#[derive(Debug, Clone)]
struct Many {
    /// (member, segments of that document in this cluster), sorted by
    /// document: documents join in handle order, so adding is a push and
    /// membership a binary search, however large a site's template cluster
    /// grows.
    members: Vec<(Member, u32)>,
    /// Documents per source.
    per_source: Vec<(SourceIdx, u32)>,
    earliest: Option<Member>,
    /// The segment that stands for the cluster: (document, segment ordinal).
    representative: Option<(DocIdx, u32)>,
}

/// What classification sees of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            Repr::One { .. } => 1,
            Repr::Many(m) => m.members.len() as u32,
        }
    }
    pub fn sources(&self) -> u32 {
        match &self.0 {
            Repr::Empty => 0,
            Repr::One { .. } => 1,
            Repr::Many(m) => m.per_source.len() as u32,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.documents() == 0
    }
    pub fn earliest(&self) -> Option<Member> {
        match &self.0 {
            Repr::Empty => None,
            Repr::One { member, .. } => Some(*member),
            Repr::Many(m) => m.earliest,
        }
    }
    /// The segment that stands for the cluster: (document, segment ordinal).
    pub fn representative(&self) -> Option<(DocIdx, u32)> {
        match &self.0 {
            Repr::Empty => None,
            Repr::One {
                member,
                representative,
                ..
            } => Some((member.doc, *representative)),
            Repr::Many(m) => m.representative,
        }
    }
    pub fn source_documents(&self, source: SourceIdx) -> u32 {
        match &self.0 {
            Repr::Empty => 0,
            Repr::One { member, .. } => u32::from(member.source == source),
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
            Repr::One { member, .. } => vec![(member.source, 1)],
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
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        let (one, many) = match &self.0 {
            Repr::Empty => (None, &[][..]),
            Repr::One { member, .. } => (Some(member), &[][..]),
            Repr::Many(m) => (None, &m.members[..]),
        };
        one.into_iter().chain(many.iter().map(|(m, _)| m))
    }
    pub fn contains(&self, doc: DocIdx) -> bool {
        match &self.0 {
            Repr::Empty => false,
            Repr::One { member, .. } => member.doc == doc,
            Repr::Many(m) => m.position(doc).is_ok(),
        }
    }

    /// Adds one segment of `member`'s document.
    pub fn add(&mut self, member: Member, segment: u32) {
        match &mut self.0 {
            Repr::Empty => {
                self.0 = Repr::One {
                    member,
                    segments: 1,
                    representative: segment,
                };
            }
            Repr::One {
                member: m,
                segments,
                ..
            } if m.doc == member.doc => *segments += 1,
            Repr::One {
                member: first,
                segments,
                representative,
            } => {
                let mut many = Many {
                    members: Vec::with_capacity(2),
                    per_source: Vec::with_capacity(2),
                    earliest: Some(*first),
                    representative: Some((first.doc, *representative)),
                };
                many.members.push((*first, *segments));
                many.per_source.push((first.source, 1));
                many.add(member, segment);
                self.0 = Repr::Many(Box::new(many));
            }
            Repr::Many(m) => m.add(member, segment),
        }
    }

    /// Removes one segment of document `doc`. Returns true when the
    /// representative went with it and the caller must pick another.
    pub fn remove(&mut self, doc: DocIdx) -> bool {
        match &mut self.0 {
            Repr::Empty => false,
            Repr::One {
                member, segments, ..
            } => {
                if member.doc == doc {
                    *segments -= 1;
                    if *segments == 0 {
                        self.0 = Repr::Empty;
                    }
                }
                false
            }
            Repr::Many(m) => {
                let needs_rep = m.remove(doc);
                if m.members.is_empty() {
                    self.0 = Repr::Empty;
                }
                needs_rep
            }
        }
    }

    fn set_representative(&mut self, rep: (DocIdx, u32)) {
        match &mut self.0 {
            Repr::Empty => {}
            Repr::One {
                member,
                representative,
                ..
            } => {
                if member.doc == rep.0 {
                    *representative = rep.1;
                }
            }
            Repr::Many(m) => m.representative = Some(rep),
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
            Some((m, _)) if m.doc == doc => Ok(self.members.len() - 1),
            Some((m, _)) if m.doc < doc => Err(self.members.len()),
            _ => self.members.binary_search_by_key(&doc, |(m, _)| m.doc),
        }
    }

    fn add(&mut self, member: Member, segment: u32) {
        match self.position(member.doc) {
            Ok(i) => {
                self.members[i].1 += 1;
                return;
            }
            Err(i) => self.members.insert(i, (member, 1)),
        }
        match self
            .per_source
            .iter_mut()
            .find(|(s, _)| *s == member.source)
        {
            Some((_, n)) => *n += 1,
            None => self.per_source.push((member.source, 1)),
        }
        if self
            .earliest
            .is_none_or(|e| member.precedence() < e.precedence())
        {
            self.earliest = Some(member);
        }
        if self.representative.is_none() {
            self.representative = Some((member.doc, segment));
        }
    }

    fn remove(&mut self, doc: DocIdx) -> bool {
        let Ok(pos) = self.position(doc) else {
            return false;
        };
        self.members[pos].1 -= 1;
        if self.members[pos].1 > 0 {
            return false;
        }
        let (gone, _) = self.members.remove(pos);
        if let Some(p) = self.per_source.iter().position(|(s, _)| *s == gone.source) {
            self.per_source[p].1 -= 1;
            if self.per_source[p].1 == 0 {
                self.per_source.swap_remove(p);
            }
        }
        if self.earliest.is_some_and(|e| e.doc == doc) {
            self.earliest = self
                .members
                .iter()
                .map(|(m, _)| *m)
                .min_by_key(|m| m.precedence());
        }
        if self.representative.is_some_and(|(d, _)| d == doc) {
            self.representative = None;
            return !self.members.is_empty();
        }
        false
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

    pub fn add(&mut self, id: ClusterId, member: Member, segment: u32) {
        let c = &mut self.slots[id as usize - 1];
        if c.is_empty() {
            self.live += 1;
        }
        c.add(member, segment);
    }

    /// See [`Cluster::remove`].
    pub fn remove(&mut self, id: ClusterId, doc: DocIdx) -> bool {
        let Some(c) = id
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i as usize))
        else {
            return false;
        };
        let was_live = !c.is_empty();
        let needs_rep = c.remove(doc);
        if was_live && c.is_empty() {
            self.live -= 1;
        }
        needs_rep
    }

    pub fn set_representative(&mut self, id: ClusterId, rep: (DocIdx, u32)) {
        if let Some(c) = id
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i as usize))
        {
            c.set_representative(rep);
        }
    }

    /// Clusters with at least one document.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Heap bytes: the slots and each larger cluster's member lists.
    pub fn heap_bytes(&self) -> usize {
        let many: usize = self
            .slots
            .iter()
            .map(|c| match &c.0 {
                Repr::Many(m) => {
                    std::mem::size_of::<Many>()
                        + m.members.capacity() * std::mem::size_of::<(Member, u32)>()
                        + m.per_source.capacity() * std::mem::size_of::<(SourceIdx, u32)>()
                }
                _ => 0,
            })
            .sum();
        self.slots.capacity() * std::mem::size_of::<Cluster>() + many
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
    /// Every cluster as it is (members, counts, earliest, representative).
    pub fn save(&self, w: &mut Writer) -> io::Result<()> {
        w.length(self.slots.len())?;
        for c in &self.slots {
            match &c.0 {
                Repr::Empty => w.put(EMPTY)?,
                Repr::One {
                    member,
                    segments,
                    representative,
                } => {
                    w.put(ONE)?;
                    member.save(w)?;
                    w.put(*segments)?;
                    w.put(*representative)?;
                }
                Repr::Many(m) => {
                    w.put(MANY)?;
                    w.length(m.members.len())?;
                    for (member, n) in &m.members {
                        member.save(w)?;
                        w.put(*n)?;
                    }
                    w.slice(
                        &m.per_source
                            .iter()
                            .map(|&(s, n)| [s, n])
                            .collect::<Vec<_>>(),
                    )?;
                    match &m.earliest {
                        Some(e) => {
                            w.put(1u8)?;
                            e.save(w)?;
                        }
                        None => w.put(0u8)?,
                    }
                    match m.representative {
                        Some((d, o)) => {
                            w.put(1u8)?;
                            w.put(d)?;
                            w.put(o)?;
                        }
                        None => w.put(0u8)?,
                    }
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
                ONE => Repr::One {
                    member: Member::load(r)?,
                    segments: r.get()?,
                    representative: r.get()?,
                },
                MANY => {
                    let k = r.length(28)?;
                    let mut members = Vec::with_capacity(k);
                    for _ in 0..k {
                        members.push((Member::load(r)?, r.get()?));
                    }
                    if members.is_empty() || !members.is_sorted_by_key(|(m, _)| m.doc) {
                        return Err(SnapshotError::invalid("cluster members out of order"));
                    }
                    let per_source = r
                        .vec::<[u32; 2]>()?
                        .into_iter()
                        .map(|[s, n]| (s, n))
                        .collect();
                    let earliest = match r.get::<u8>()? {
                        0 => None,
                        _ => Some(Member::load(r)?),
                    };
                    let representative = match r.get::<u8>()? {
                        0 => None,
                        _ => Some((r.get()?, r.get()?)),
                    };
                    Repr::Many(Box::new(Many {
                        members,
                        per_source,
                        earliest,
                        representative,
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
        cs.add(id, m(1, 1, 10), 0);
        cs.add(id, m(1, 1, 10), 3);
        cs.add(id, m(2, 1, 5), 0);
        cs.add(id, m(3, 2, 20), 0);
        let c = cs.get(id).unwrap();
        assert_eq!(
            (c.documents(), c.sources(), c.source_documents(1)),
            (3, 2, 2)
        );
        assert_eq!(c.earliest().unwrap().doc, 2);
        assert!(!cs.remove(id, 1)); // one of doc 1's two segments
        assert_eq!(cs.get(id).unwrap().documents(), 3);
        assert!(cs.remove(id, 1)); // representative leaves, others remain
        assert!(!cs.remove(id, 2));
        let c = cs.get(id).unwrap();
        assert_eq!(
            (c.documents(), c.sources(), c.earliest().unwrap().doc),
            (1, 1, 3)
        );
        assert!(!cs.remove(id, 3));
        assert_eq!(cs.live(), 0);
    }

    #[test]
    fn a_single_document_is_stored_inline_until_a_second_joins() {
        assert!(std::mem::size_of::<Cluster>() <= 40);
        let mut cs = Clusters::default();
        let id = cs.create();
        cs.add(id, m(1, 1, 10), 2);
        cs.add(id, m(1, 1, 10), 5);
        let c = cs.get(id).unwrap();
        assert!(matches!(c.0, Repr::One { segments: 2, .. }));
        assert_eq!(c.representative(), Some((1, 2)));
        cs.add(id, m(2, 2, 5), 0);
        let c = cs.get(id).unwrap();
        assert!(matches!(c.0, Repr::Many(_)));
        assert_eq!((c.documents(), c.sources()), (2, 2));
        assert_eq!(
            (c.earliest().unwrap().doc, c.representative()),
            (2, Some((1, 2)))
        );
        assert!(!cs.remove(id, 1)); // one of doc 1's two segments
        assert!(cs.remove(id, 1)); // the representative's document leaves
        cs.set_representative(id, (2, 0));
        assert_eq!(cs.get(id).unwrap().representative(), Some((2, 0)));
        assert!(!cs.remove(id, 2));
        assert!(cs.get(id).unwrap().is_empty());
        assert_eq!(cs.live(), 0);
    }

    #[test]
    fn members_stay_sorted_by_document_whatever_the_order() {
        let mut cs = Clusters::default();
        let id = cs.create();
        for doc in [5, 2, 9, 7, 2, 1] {
            cs.add(id, m(doc, doc, 10), 0);
        }
        let c = cs.get(id).unwrap();
        let docs: Vec<DocIdx> = c.members().map(|m| m.doc).collect();
        assert_eq!(docs, vec![1, 2, 5, 7, 9]);
        assert!(c.contains(7) && !c.contains(3));
        assert!(!cs.remove(id, 2)); // one of doc 2's two segments
        assert!(!cs.remove(id, 2));
        let docs: Vec<DocIdx> = cs.get(id).unwrap().members().map(|m| m.doc).collect();
        assert_eq!(docs, vec![1, 5, 7, 9]);
    }

    #[test]
    fn view_counts_a_dry_run_document_once() {
        let mut cs = Clusters::default();
        let id = cs.create();
        cs.add(id, m(1, 1, 10), 0);
        let outsider = m(9, 2, 5);
        let v = cs.get(id).unwrap().view(id, &outsider);
        assert_eq!((v.documents, v.sources, v.source_documents), (2, 2, 1));
        assert_eq!(v.earliest.doc, 9);
        let v = cs.get(id).unwrap().view(id, &m(1, 1, 10));
        assert_eq!((v.documents, v.sources, v.source_documents), (1, 1, 1));
    }
}
