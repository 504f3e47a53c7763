//! Blocks: a commit's records packed a few dozen to a row.
//!
//! A redb insert costs about the same for a 300-byte record as for a
//! 16 KiB value (it rebuilds the leaf it lands in), so records are stored
//! in blocks under the `seq` of their first record rather than one row
//! each. A block holds records in increasing `seq`, each as a varint
//! `seq`, then the record length-delimited. Blocks never overlap: every
//! `seq` in a block is below the next block's key, so the block holding a
//! `seq` is the last one keyed at or below it.

use prost::encoding::{decode_varint, encode_varint};

/// Bytes a block holds at most (unless it is a single record): 64 short of
/// 16 KiB, so that the block and the leaf around it fill one of redb's
/// 16 KiB pages. Measured on 1M url-id records (`chaff bench --data-dir`):
/// the file is 653 MB at this budget, 1,099 MB one record a row, 1,102 MB
/// at a 4 KiB budget, 822 MB at 64 KiB and 1,141 MB for blocks of 32
/// records (about 12 KiB, in 16 KiB pages).
pub const BUDGET: usize = (16 << 10) - 64;

/// A block that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The records of a block, in order: `(seq, encoded record)`.
pub fn entries(mut block: &[u8]) -> impl Iterator<Item = Result<(u64, &[u8]), Malformed>> {
    std::iter::from_fn(move || {
        if block.is_empty() {
            return None;
        }
        let mut next = || -> Result<(u64, &[u8]), Malformed> {
            let seq = decode_varint(&mut block).map_err(|_| Malformed)?;
            let len = decode_varint(&mut block).map_err(|_| Malformed)?;
            let len = usize::try_from(len).map_err(|_| Malformed)?;
            let record = block.get(..len).ok_or(Malformed)?;
            block = &block[len..];
            Ok((seq, record))
        };
        let item = next();
        if item.is_err() {
            block = &[];
        }
        Some(item)
    })
}

/// The record of `seq` in `block`.
pub fn find(block: &[u8], seq: u64) -> Result<Option<&[u8]>, Malformed> {
    for entry in entries(block) {
        let (s, record) = entry?;
        if s >= seq {
            return Ok((s == seq).then_some(record));
        }
    }
    Ok(None)
}

/// The highest `seq` in `block`.
pub fn last_seq(block: &[u8]) -> Result<Option<u64>, Malformed> {
    let mut last = None;
    for entry in entries(block) {
        last = Some(entry?.0);
    }
    Ok(last)
}

/// Appends a record (of a `seq` above every other in the block).
pub fn push(block: &mut Vec<u8>, seq: u64, record: &impl prost::Message) {
    encode_varint(seq, block);
    record
        .encode_length_delimited(block)
        .expect("a vec grows as needed");
}

/// Appends an already encoded record (or any bytes under a varint key:
/// the journal's rows are framed the same way).
pub fn push_encoded(block: &mut Vec<u8>, seq: u64, record: &[u8]) {
    encode_varint(seq, block);
    encode_varint(record.len() as u64, block);
    block.extend_from_slice(record);
}

/// `block` without the record of `seq`, or `None` when it has none.
pub fn without(block: &[u8], seq: u64) -> Result<Option<Vec<u8>>, Malformed> {
    let mut out = Vec::with_capacity(block.len());
    let mut found = false;
    for entry in entries(block) {
        let (s, record) = entry?;
        if s == seq {
            found = true;
        } else {
            push_encoded(&mut out, s, record);
        }
    }
    Ok(found.then_some(out))
}

/// `block` with the record of `seq` put in its place (replacing one of the
/// same `seq`); says whether it replaced one.
pub fn with(block: &[u8], seq: u64, record: &[u8]) -> Result<(Vec<u8>, bool), Malformed> {
    let mut out = Vec::with_capacity(block.len() + record.len() + 20);
    let mut placed = false;
    let mut replaced = false;
    for entry in entries(block) {
        let (s, r) = entry?;
        if !placed && s >= seq {
            push_encoded(&mut out, seq, record);
            placed = true;
            if s == seq {
                replaced = true;
                continue;
            }
        }
        push_encoded(&mut out, s, r);
    }
    if !placed {
        push_encoded(&mut out, seq, record);
    }
    Ok((out, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(entries: &[(u64, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (seq, r) in entries {
            push_encoded(&mut b, *seq, r);
        }
        b
    }

    fn list(b: &[u8]) -> Vec<(u64, Vec<u8>)> {
        entries(b)
            .map(|e| e.map(|(s, r)| (s, r.to_vec())).unwrap())
            .collect()
    }

    #[test]
    fn finds_removes_and_places_records() {
        let b = block(&[(3, b"c"), (5, b""), (9, b"nine")]);
        assert_eq!(find(&b, 9).unwrap(), Some(&b"nine"[..]));
        assert_eq!(find(&b, 5).unwrap(), Some(&b""[..]));
        assert_eq!(find(&b, 4).unwrap(), None);
        assert_eq!(find(&b, 10).unwrap(), None);
        assert_eq!(last_seq(&b).unwrap(), Some(9));
        assert_eq!(last_seq(&[]).unwrap(), None);

        assert_eq!(without(&b, 4).unwrap(), None);
        let w = without(&b, 5).unwrap().unwrap();
        assert_eq!(list(&w), [(3, b"c".to_vec()), (9, b"nine".to_vec())]);
        assert!(without(&block(&[(1, b"x")]), 1)
            .unwrap()
            .unwrap()
            .is_empty());

        let (p, replaced) = with(&b, 4, b"four").unwrap();
        assert!(!replaced);
        assert_eq!(
            list(&p).iter().map(|e| e.0).collect::<Vec<_>>(),
            [3, 4, 5, 9]
        );
        let (p, replaced) = with(&b, 9, b"new").unwrap();
        assert!(replaced);
        assert_eq!(list(&p)[2], (9, b"new".to_vec()));
        let (p, _) = with(&b, 12, b"end").unwrap();
        assert_eq!(last_seq(&p).unwrap(), Some(12));
        let (p, _) = with(&b, 1, b"start").unwrap();
        assert_eq!(list(&p)[0].0, 1);
    }

    #[test]
    fn a_cut_block_is_malformed() {
        let b = block(&[(3, b"abc"), (4, b"defg")]);
        assert_eq!(find(&b[..b.len() - 1], 4), Err(Malformed));
        assert_eq!(last_seq(&b[..1]), Err(Malformed));
        // The entries before the cut still read.
        assert_eq!(find(&b[..b.len() - 1], 3).unwrap(), Some(&b"abc"[..]));
    }
}
