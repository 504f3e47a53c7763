//! A checkpoint of the engine's in-memory state, so that a restart does
//! not have to replay every stored document.
//!
//! Written on graceful close (and, when configured, periodically) to
//! `state.snapshot` in the data directory (temp file, fsync, rename), read
//! on open only when it is provably a state the store went through: its
//! header names the store (a random id kept in the store) and the store's
//! commit generation at the time it was written. A store at that
//! generation is restored from the snapshot alone; a store that has
//! committed since (a crash, no graceful close) from the snapshot plus the
//! documents its journal says were written since, when the journal holds
//! every commit since. Anything else (no file, another format, another
//! store, a journal with gaps, a bad checksum, a short file) makes the
//! engine replay the store instead.
//!
//! Layout: a fixed [`HEADER_LEN`]-byte header, then the body as frames of
//! about [`FRAME`] bytes, each `[len u32][xxh3 u64][bytes]`. Frames are
//! verified before anything in them is decoded, so a damaged file is
//! refused before it can be misread, and loading holds one frame at a time
//! beside the state it builds. All integers are little-endian; a value
//! never spans two frames.
//!
//! The body is in two parts ([`Writer::split`]), each with its own offset,
//! length and checksum in the header, so that two threads can read them at
//! once ([`Reader::second_part`]): most of a large load is the kernel
//! handing out fresh pages, which both cores can do.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use thiserror::Error;
use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

/// File name of the snapshot in the data directory.
pub const FILE_NAME: &str = "state.snapshot";
const MAGIC: &[u8; 8] = b"CHAFFSNP";
/// Bumped whenever the body layout changes: an older snapshot is refused.
pub const FORMAT_VERSION: u32 = 4;
pub const HEADER_LEN: usize = 96;
/// Parts of a body: [`Writer::split`] starts the second.
const PARTS: usize = 2;
/// Body bytes per frame (a frame may exceed it by one value).
const FRAME: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("no snapshot")]
    Missing,
    #[error("snapshot i/o: {0}")]
    Io(#[from] io::Error),
    #[error("not a snapshot file")]
    Magic,
    #[error("snapshot format {found}, this binary reads {FORMAT_VERSION}")]
    Version { found: u32 },
    #[error("snapshot header checksum mismatch")]
    HeaderChecksum,
    #[error("snapshot is of another store")]
    OtherStore,
    #[error("snapshot was written by another release or with other fingerprint parameters")]
    Params,
    #[error("snapshot is of store generation {snapshot}, later than the store's {store}")]
    Stale { snapshot: u64, store: u64 },
    #[error("snapshot is of store generation {snapshot}, the store is at {store} and its journal does not hold every commit since")]
    Journal { snapshot: u64, store: u64 },
    #[error("snapshot holds {snapshot} documents, the store {store}")]
    Documents { snapshot: u64, store: u64 },
    #[error("snapshot frame at byte {offset} fails its checksum")]
    FrameChecksum { offset: u64 },
    #[error("snapshot body checksum or length mismatch")]
    BodyChecksum,
    #[error("snapshot is truncated")]
    Truncated,
    #[error("snapshot is inconsistent: {0}")]
    Invalid(String),
}

impl SnapshotError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        SnapshotError::Invalid(msg.into())
    }
}

pub type Result<T, E = SnapshotError> = std::result::Result<T, E>;

/// Where one part of the body is and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Part {
    /// File offset of the part's first frame.
    pub offset: u64,
    /// Body bytes of the part (frame headers not counted).
    pub body_len: u64,
    /// xxh3 of the part's frame checksums in order: covers every body byte
    /// without hashing the body twice.
    pub xxh3: u64,
}

/// What the header promises about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the state was computed with that is fixed at build time
    /// (fingerprint parameters); the caller defines it.
    pub params: u32,
    /// The store's random id (kept in the store's meta table).
    pub store_id: u64,
    /// The store's commit generation the state reflects.
    pub generation: u64,
    /// Live documents, a cheap second check against the store.
    pub documents: u64,
    pub parts: [Part; PARTS],
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&self.params.to_le_bytes());
        h[16..24].copy_from_slice(&self.store_id.to_le_bytes());
        h[24..32].copy_from_slice(&self.generation.to_le_bytes());
        h[32..40].copy_from_slice(&self.documents.to_le_bytes());
        for (i, p) in self.parts.iter().enumerate() {
            let at = 40 + 24 * i;
            h[at..at + 8].copy_from_slice(&p.offset.to_le_bytes());
            h[at + 8..at + 16].copy_from_slice(&p.body_len.to_le_bytes());
            h[at + 16..at + 24].copy_from_slice(&p.xxh3.to_le_bytes());
        }
        let sum = xxh3_64(&h[..HEADER_LEN - 8]);
        h[HEADER_LEN - 8..].copy_from_slice(&sum.to_le_bytes());
        h
    }

    fn decode(h: &[u8; HEADER_LEN]) -> Result<Header> {
        if &h[..8] != MAGIC {
            return Err(SnapshotError::Magic);
        }
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        let version = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version { found: version });
        }
        if xxh3_64(&h[..HEADER_LEN - 8]) != u64_at(HEADER_LEN - 8) {
            return Err(SnapshotError::HeaderChecksum);
        }
        let part = |i: usize| Part {
            offset: u64_at(40 + 24 * i),
            body_len: u64_at(48 + 24 * i),
            xxh3: u64_at(56 + 24 * i),
        };
        let header = Header {
            params: u32::from_le_bytes(h[12..16].try_into().expect("4 bytes")),
            store_id: u64_at(16),
            generation: u64_at(24),
            documents: u64_at(32),
            parts: [part(0), part(1)],
        };
        // The first part starts after the header, the second after the
        // first's frames (at least its body bytes further on).
        let [first, second] = header.parts;
        if first.offset != HEADER_LEN as u64
            || second.offset < first.offset.saturating_add(first.body_len)
        {
            return Err(SnapshotError::invalid("body parts overlap"));
        }
        Ok(header)
    }
}

/// A value of fixed size, encoded little-endian.
pub trait Fixed: Sized {
    const SIZE: usize;
    fn put(&self, out: &mut Vec<u8>);
    /// Decodes from exactly `SIZE` bytes.
    fn get(b: &[u8]) -> Self;
}

macro_rules! fixed_int {
    ($($t:ty),*) => {$(
        impl Fixed for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn put(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().expect("sized by caller"))
            }
        }
    )*};
}
fixed_int!(u8, u16, u32, u64, i16, i64);

impl<T: Fixed + Copy + Default, const N: usize> Fixed for [T; N] {
    const SIZE: usize = T::SIZE * N;
    fn put(&self, out: &mut Vec<u8>) {
        for x in self {
            x.put(out);
        }
    }
    fn get(b: &[u8]) -> Self {
        let mut a = [T::default(); N];
        for (x, c) in a.iter_mut().zip(b.chunks_exact(T::SIZE)) {
            *x = T::get(c);
        }
        a
    }
}

/// Writes a snapshot body in checksummed frames.
pub struct Writer {
    file: io::BufWriter<File>,
    buf: Vec<u8>,
    /// Parts written whole.
    done: Vec<Part>,
    /// The current part: where it starts, its digest and length so far.
    part: Part,
    body: Xxh3Default,
    /// File bytes written (header and frame headers included).
    offset: u64,
}

impl Writer {
    fn new(file: File) -> Writer {
        let offset = HEADER_LEN as u64;
        Writer {
            file: io::BufWriter::with_capacity(FRAME, file),
            buf: Vec::with_capacity(FRAME + 1024),
            done: Vec::new(),
            part: Part {
                offset,
                ..Part::default()
            },
            body: Xxh3Default::new(),
            offset,
        }
    }

    fn frame(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let len = u32::try_from(self.buf.len()).expect("frames are small");
        let sum = xxh3_64(&self.buf).to_le_bytes();
        self.file.write_all(&len.to_le_bytes())?;
        self.file.write_all(&sum)?;
        self.file.write_all(&self.buf)?;
        self.body.update(&sum);
        self.part.body_len += self.buf.len() as u64;
        self.offset += 12 + self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Ends the first part of the body: what follows is the second, which
    /// [`Reader::second_part`] reads on its own. Once per body at most.
    pub fn split(&mut self) -> io::Result<()> {
        if self.done.len() + 1 >= PARTS {
            return Err(io::Error::other("a snapshot body has two parts"));
        }
        self.end_part()
    }

    fn end_part(&mut self) -> io::Result<()> {
        self.frame()?;
        self.part.xxh3 = self.body.digest();
        self.done.push(self.part);
        self.part = Part {
            offset: self.offset,
            ..Part::default()
        };
        self.body = Xxh3Default::new();
        Ok(())
    }

    /// The parts of the finished body; an unsplit body has an empty
    /// second part at its end.
    fn finish(&mut self) -> io::Result<[Part; PARTS]> {
        while self.done.len() < PARTS {
            self.end_part()?;
        }
        Ok([self.done[0], self.done[1]])
    }

    fn maybe_frame(&mut self) -> io::Result<()> {
        if self.buf.len() >= FRAME {
            self.frame()?;
        }
        Ok(())
    }

    pub fn put<T: Fixed>(&mut self, v: T) -> io::Result<()> {
        v.put(&mut self.buf);
        self.maybe_frame()
    }

    /// A length (as u64).
    pub fn length(&mut self, n: usize) -> io::Result<()> {
        self.put(n as u64)
    }

    pub fn str(&mut self, s: &str) -> io::Result<()> {
        self.length(s.len())?;
        // Strings are short; a long one makes one large frame, still fine.
        self.buf.extend_from_slice(s.as_bytes());
        self.maybe_frame()
    }

    /// A length-prefixed array.
    pub fn slice<T: Fixed + Copy>(&mut self, v: &[T]) -> io::Result<()> {
        self.length(v.len())?;
        for chunk in v.chunks(FRAME / T::SIZE.max(1)) {
            for x in chunk {
                x.put(&mut self.buf);
            }
            self.maybe_frame()?;
        }
        Ok(())
    }
}

/// Reads a snapshot body, verifying each frame before decoding from it.
pub struct Reader {
    file: io::BufReader<File>,
    frame: Vec<u8>,
    pos: usize,
    body: Xxh3Default,
    body_len: u64,
    header: Header,
    /// Which part of the body this reader reads.
    part: Part,
    /// Where it ends in the file: the next part, or the end of the file.
    end: Option<u64>,
    offset: u64,
}

impl Reader {
    /// The snapshot's header: which generation of the store it is of.
    pub fn header(&self) -> Header {
        self.header
    }

    /// A reader of the body's second part, beside this one (which reads
    /// the first). Opens the file again.
    pub fn second_part(&self, dir: &Path) -> Result<Reader> {
        let [first, second] = self.header.parts;
        if self.part != first {
            return Err(SnapshotError::invalid(
                "second part asked of the second part",
            ));
        }
        let mut file = File::open(path(dir))?;
        file.seek(SeekFrom::Start(second.offset))?;
        Ok(Reader::new(file, self.header, second, None))
    }

    fn new(file: File, header: Header, part: Part, end: Option<u64>) -> Reader {
        Reader {
            file: io::BufReader::with_capacity(FRAME, file),
            frame: Vec::with_capacity(FRAME + 1024),
            pos: 0,
            body: Xxh3Default::new(),
            body_len: 0,
            header,
            part,
            end,
            offset: part.offset,
        }
    }

    /// Loads the next frame; false at the end of the part.
    fn next_frame(&mut self) -> Result<bool> {
        if self.body_len == self.part.body_len {
            // The part's bytes are all read: it ends here, exactly.
            let ends = match self.end {
                Some(end) => self.offset == end,
                None => self.file.read(&mut [0u8; 1])? == 0,
            };
            if !ends {
                return Err(SnapshotError::invalid("bytes after the end of a part"));
            }
            return Ok(false);
        }
        let mut head = [0u8; 12];
        match self.file.read_exact(&mut head[..1]) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.file.read_exact(&mut head[1..]).map_err(eof)?;
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let sum = u64::from_le_bytes(head[4..].try_into().expect("8 bytes"));
        if len > 2 * FRAME + (1 << 30) || self.body_len + len as u64 > self.part.body_len {
            return Err(SnapshotError::FrameChecksum {
                offset: self.offset,
            });
        }
        self.frame.resize(len, 0);
        self.file.read_exact(&mut self.frame).map_err(eof)?;
        if xxh3_64(&self.frame) != sum {
            return Err(SnapshotError::FrameChecksum {
                offset: self.offset,
            });
        }
        self.offset += 12 + len as u64;
        self.body.update(&head[4..]);
        self.body_len += len as u64;
        self.pos = 0;
        Ok(true)
    }

    /// The next `n` bytes of the current frame (loading the next one if
    /// this one is used up).
    #[inline]
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.frame.len() - self.pos < n {
            self.refill(n)?;
        }
        let b = &self.frame[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    /// Moves to the next frame, which must hold `n` more bytes.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, n: usize) -> Result<()> {
        if self.pos != self.frame.len() {
            return Err(SnapshotError::invalid("value spans frames"));
        }
        if !self.next_frame()? {
            return Err(SnapshotError::Truncated);
        }
        if self.frame.len() < n {
            return Err(SnapshotError::invalid("value spans frames"));
        }
        Ok(())
    }

    #[inline]
    pub fn get<T: Fixed>(&mut self) -> Result<T> {
        self.take(T::SIZE).map(T::get)
    }

    /// A length written by [`Writer::length`], checked against what is left
    /// of the body for items of at least `min_size` bytes (a wrong length
    /// must not allocate the machine away).
    pub fn length(&mut self, min_size: usize) -> Result<usize> {
        let n: u64 = self.get()?;
        let left = self.part.body_len - self.body_len + (self.frame.len() - self.pos) as u64;
        if n.saturating_mul(min_size as u64) > left {
            return Err(SnapshotError::invalid(format!(
                "length {n} beyond the end of the body"
            )));
        }
        Ok(n as usize)
    }

    pub fn string(&mut self) -> Result<String> {
        let n = self.length(1)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| SnapshotError::invalid("string is not utf-8"))
    }

    /// As [`Reader::string`], boxed without spare capacity.
    pub fn boxed_str(&mut self) -> Result<Box<str>> {
        let n = self.length(1)?;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(Box::from)
            .map_err(|_| SnapshotError::invalid("string is not utf-8"))
    }

    /// A length-prefixed array written by [`Writer::slice`].
    pub fn vec<T: Fixed>(&mut self) -> Result<Vec<T>> {
        let n = self.length(T::SIZE)?;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.pos == self.frame.len() && !self.next_frame()? {
                return Err(SnapshotError::Truncated);
            }
            let avail = (self.frame.len() - self.pos) / T::SIZE.max(1);
            let k = avail.min(n - out.len());
            if k == 0 {
                return Err(SnapshotError::invalid("value spans frames"));
            }
            let bytes = &self.frame[self.pos..self.pos + k * T::SIZE];
            out.extend(bytes.chunks_exact(T::SIZE).map(T::get));
            self.pos += k * T::SIZE;
        }
        Ok(out)
    }

    /// Checks that the part was read to its end and matches the header.
    pub fn finish(mut self) -> Result<()> {
        if self.pos != self.frame.len() || self.next_frame()? {
            return Err(SnapshotError::invalid("bytes left after the state"));
        }
        if self.body_len != self.part.body_len || self.body.digest() != self.part.xxh3 {
            return Err(SnapshotError::BodyChecksum);
        }
        Ok(())
    }
}

fn eof(e: io::Error) -> SnapshotError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        SnapshotError::Truncated
    } else {
        SnapshotError::Io(e)
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Writes a snapshot atomically: `body` fills it, then the header is put
/// in front, the file is synced and renamed over the previous snapshot.
/// Returns the file's size.
pub fn save(
    dir: &Path,
    expect: Expect,
    body: impl FnOnce(&mut Writer) -> io::Result<()>,
) -> io::Result<u64> {
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(&[0u8; HEADER_LEN])?;
        let mut w = Writer::new(file);
        body(&mut w)?;
        let header = Header {
            params: expect.params,
            store_id: expect.store_id,
            generation: expect.generation,
            documents: expect.documents,
            parts: w.finish()?,
        };
        let mut file = w.file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header.encode())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        drop(file);
        std::fs::rename(&tmp, path(dir))?;
        // The rename is durable once the directory is.
        File::open(dir)?.sync_all()?;
        Ok(size)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What a snapshot must have been written for to be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub params: u32,
    pub store_id: u64,
    pub generation: u64,
    pub documents: u64,
}

/// Opens the snapshot in `dir` if its header matches `expect`, or is of
/// an earlier generation of the same store (the caller then checks the
/// journal: [`Reader::header`]).
pub fn open(dir: &Path, expect: Expect) -> Result<Reader> {
    let Expect {
        params,
        store_id,
        generation,
        documents,
    } = expect;
    let file = match File::open(path(dir)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(SnapshotError::Missing),
        Err(e) => return Err(e.into()),
    };
    let mut file = file;
    let mut h = [0u8; HEADER_LEN];
    file.read_exact(&mut h).map_err(eof)?;
    let header = Header::decode(&h)?;
    if header.params != params {
        return Err(SnapshotError::Params);
    }
    if header.store_id != store_id {
        return Err(SnapshotError::OtherStore);
    }
    if header.generation > generation {
        return Err(SnapshotError::Stale {
            snapshot: header.generation,
            store: generation,
        });
    }
    if header.generation == generation && header.documents != documents {
        return Err(SnapshotError::Documents {
            snapshot: header.documents,
            store: documents,
        });
    }
    let [first, second] = header.parts;
    Ok(Reader::new(file, header, first, Some(second.offset)))
}

/// Removes the snapshot (and any unfinished one) from `dir`.
pub fn remove(dir: &Path) {
    for name in [FILE_NAME.to_string(), format!("{FILE_NAME}.tmp")] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(generation: u64) -> Expect {
        Expect {
            params: 1,
            store_id: 7,
            generation,
            documents: 3,
        }
    }

    fn write_sample(dir: &Path, generation: u64) {
        save(dir, expect(generation), |w| {
            w.put(5u32)?;
            w.str("héllo")?;
            w.slice(&(0..300_000u64).collect::<Vec<_>>())?;
            w.slice(&[[1u8; 32], [2u8; 32]])?;
            w.put(-3i64)
        })
        .unwrap();
    }

    /// A body in two parts, read by two threads at once.
    fn write_split(dir: &Path) {
        save(dir, expect(9), |w| {
            w.slice(&(0..400_000u64).collect::<Vec<_>>())?;
            w.split()?;
            w.str("second")?;
            w.slice(&(0..300_000u32).collect::<Vec<_>>())
        })
        .unwrap();
    }

    fn read_split(dir: &Path) -> Result<()> {
        let mut first = open(dir, expect(9))?;
        let mut second = first.second_part(dir)?;
        std::thread::scope(|s| {
            let t = s.spawn(move || -> Result<()> {
                assert_eq!(second.string()?, "second");
                let v: Vec<u32> = second.vec()?;
                assert_eq!(v, (0..300_000u32).collect::<Vec<_>>());
                second.finish()
            });
            let v: Vec<u64> = first.vec()?;
            assert_eq!(v, (0..400_000u64).collect::<Vec<_>>());
            first.finish()?;
            t.join().expect("reader thread")
        })
    }

    #[test]
    fn two_parts_read_at_once_and_each_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path());
        read_split(dir.path()).unwrap();
        let file = path(dir.path());
        let bytes = std::fs::read(&file).unwrap();
        let header = Header::decode(bytes[..HEADER_LEN].try_into().unwrap()).unwrap();
        let second = header.parts[1];
        assert!(second.body_len > 0 && second.offset > header.parts[0].offset);
        // Damage in the second part is found by its reader.
        let mut damaged = bytes.clone();
        damaged[second.offset as usize + 100] ^= 1;
        std::fs::write(&file, &damaged).unwrap();
        assert!(matches!(
            read_split(dir.path()),
            Err(SnapshotError::FrameChecksum { .. })
        ));
        // Bytes after the second part.
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&file, &longer).unwrap();
        assert!(read_split(dir.path()).is_err());
        // A body split twice is refused as it is written.
        assert!(save(dir.path(), expect(9), |w| {
            w.put(1u8)?;
            w.split()?;
            w.split()
        })
        .is_err());
    }

    fn read_sample(dir: &Path, generation: u64) -> Result<()> {
        let mut r = open(dir, expect(generation))?;
        assert_eq!(r.get::<u32>()?, 5);
        assert_eq!(r.string()?, "héllo");
        let v: Vec<u64> = r.vec()?;
        assert_eq!(v, (0..300_000u64).collect::<Vec<_>>());
        let a: Vec<[u8; 32]> = r.vec()?;
        assert_eq!(a, vec![[1u8; 32], [2u8; 32]]);
        assert_eq!(r.get::<i64>()?, -3);
        let second = r.second_part(dir)?;
        r.finish()?;
        second.finish()
    }

    #[test]
    fn round_trip_across_frames() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path(), 9);
        read_sample(dir.path(), 9).unwrap();
    }

    #[test]
    fn stale_damaged_or_short_snapshots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_sample(dir.path(), 9),
            Err(SnapshotError::Missing)
        ));
        write_sample(dir.path(), 9);
        // A store behind its snapshot (restored from an older backup).
        assert!(matches!(
            read_sample(dir.path(), 8),
            Err(SnapshotError::Stale { .. })
        ));
        // A store ahead of it: the caller replays the journal since.
        assert_eq!(open(dir.path(), expect(10)).unwrap().header().generation, 9);
        let other = Expect {
            store_id: 8,
            ..expect(9)
        };
        assert!(matches!(
            open(dir.path(), other),
            Err(SnapshotError::OtherStore)
        ));
        let params = Expect {
            params: 2,
            ..expect(9)
        };
        assert!(matches!(
            open(dir.path(), params),
            Err(SnapshotError::Params)
        ));
        let file = path(dir.path());
        let bytes = std::fs::read(&file).unwrap();
        let mut damaged = bytes.clone();
        damaged[HEADER_LEN + 1000] ^= 1;
        std::fs::write(&file, &damaged).unwrap();
        assert!(matches!(
            read_sample(dir.path(), 9),
            Err(SnapshotError::FrameChecksum { .. })
        ));
        std::fs::write(&file, &bytes[..bytes.len() - 100]).unwrap();
        assert!(matches!(
            read_sample(dir.path(), 9),
            Err(SnapshotError::Truncated)
        ));
        let mut header = bytes.clone();
        header[30] ^= 1;
        std::fs::write(&file, &header).unwrap();
        assert!(matches!(
            read_sample(dir.path(), 9),
            Err(SnapshotError::HeaderChecksum)
        ));
    }
}
