//! The common header that starts every leann file (SPEC.md, "Common header").
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic (per file kind) |
//! | 8 | 2 | major version |
//! | 10 | 2 | minor version |
//! | 12 | 4 | flags |
//! | 16 | 4 | meta_len: bytes of kind-specific metadata that follow at offset 32 |
//! | 20 | 4 | CRC-32 of the metadata |
//! | 24 | 4 | reserved, zero |
//! | 28 | 4 | CRC-32 of bytes 0..28 |

use super::{put_u16, put_u32, Cursor};
use crate::error::{Error, Result};
use std::path::Path;

// Header flags of each file kind, here so that the kinds' tables below and
// the codecs (which re-export them) agree.

/// Header flag of `seg-S.graph`: each node record starts with its full-precision vector.
pub const GRAPH_FLAG_FULL_VECTORS: u32 = 1;
/// Header flag of `seg-S.chunks`: the file ends with a text section.
pub const CHUNKS_FLAG_TEXT: u32 = 1;
/// Header flag of `seg-S.chunks` (since 1.8): the path index, node list and
/// symbol index follow the records, and every section is in 4 KiB blocks.
pub const CHUNKS_FLAG_INDEX: u32 = 2;
/// Header flag of `seg-S.pq` (since 1.6): anchors and codebooks are stored
/// as IEEE binary16, each value exact (builds round them when trained).
pub const PQ_FLAG_F16: u32 = 1;
/// `seg-S.lex` flag (format 1.7): each file-table entry is followed by the
/// CRC-32 of every `LEX_BLOCK_BYTES` block of its file, so that readers
/// verify only the blocks they read.
pub const LEX_FLAG_BLOCK_CRCS: u32 = 1;
/// `seg-S.codes` flag (format 1.7): the body is stored in blocks of
/// `SMALL_BLOCK_DATA_BYTES` (4 KiB), so that a search reading a few
/// thousand random records verifies (and pages in) little of the file.
pub const CODES_FLAG_SMALL_BLOCKS: u32 = 1;

/// Bytes of the common header.
pub const HEADER_BYTES: usize = 32;
/// Major version this build writes and reads.
pub const FORMAT_MAJOR: u16 = 1;
/// Minor version this build writes. It records which build wrote a file;
/// compatibility is decided by the manifest's feature bits (SPEC.md F-3) and
/// each file's header flags (F-4), not by the minor version.
pub const FORMAT_MINOR: u16 = 9;
/// Upper bound on metadata size, so a corrupt length cannot ask for gigabytes.
pub const MAX_META_BYTES: u32 = 16 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileKind {
    pub magic: [u8; 8],
    pub name: &'static str,
    /// Flags this build understands; any other bit set is refused.
    pub known_flags: u32,
}

pub const GRAPH: FileKind = FileKind {
    magic: *b"LEANNGRF",
    name: "graph segment",
    known_flags: GRAPH_FLAG_FULL_VECTORS,
};
pub const PQ: FileKind = FileKind {
    magic: *b"LEANNPQB",
    name: "anchors + PQ codebook",
    known_flags: PQ_FLAG_F16,
};
pub const CODES: FileKind = FileKind {
    magic: *b"LEANNCOD",
    name: "PQ codes",
    known_flags: CODES_FLAG_SMALL_BLOCKS,
};
pub const IDMAP: FileKind = FileKind {
    magic: *b"LEANNIDM",
    name: "id map",
    known_flags: 0,
};
pub const CHUNKS: FileKind = FileKind {
    magic: *b"LEANNCHK",
    name: "chunk metadata",
    known_flags: CHUNKS_FLAG_TEXT | CHUNKS_FLAG_INDEX,
};
pub const WAL: FileKind = FileKind {
    magic: *b"LEANNWAL",
    name: "write-ahead log",
    known_flags: 0,
};
pub const STAMPS: FileKind = FileKind {
    magic: *b"LEANNFST",
    name: "file stamps",
    known_flags: 0,
};
pub const LEX: FileKind = FileKind {
    magic: *b"LEANNLEX",
    name: "lexical index",
    known_flags: LEX_FLAG_BLOCK_CRCS,
};
/// A resumable create's plan (scratch, not part of an index).
pub const CREATE_PLAN: FileKind = FileKind {
    magic: *b"LEANNCPL",
    name: "create plan",
    known_flags: 0,
};
/// A resumable create's checkpoint (scratch, not part of an index).
pub const CREATE_CHECKPOINT: FileKind = FileKind {
    magic: *b"LEANNCCP",
    name: "create checkpoint",
    known_flags: 0,
};
pub const MANIFEST: FileKind = FileKind {
    magic: *b"LEANNMAN",
    name: "manifest",
    known_flags: 0,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub major: u16,
    pub minor: u16,
    pub flags: u32,
}

/// Encode header + metadata (the metadata immediately follows the header).
pub fn encode(kind: FileKind, flags: u32, meta: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + meta.len());
    out.extend_from_slice(&kind.magic);
    put_u16(&mut out, FORMAT_MAJOR);
    put_u16(&mut out, FORMAT_MINOR);
    put_u32(&mut out, flags);
    put_u32(&mut out, meta.len() as u32);
    put_u32(&mut out, crc32fast::hash(meta));
    put_u32(&mut out, 0);
    let crc = crc32fast::hash(&out[..28]);
    put_u32(&mut out, crc);
    out.extend_from_slice(meta);
    out
}

/// A file's header, checked (`decode`), with cursors over its metadata and
/// over the bytes after it: the preamble every decoder starts with.
pub struct Opened<'a> {
    pub header: Header,
    /// The kind-specific metadata, from its first byte (file offset 32).
    pub meta: Cursor<'a>,
    /// Bytes of that metadata.
    pub meta_len: usize,
    /// The rest of the file, after the metadata.
    pub body: Cursor<'a>,
}

/// Check the header of `buf`, a file of `kind` at `path` (magic, checksum,
/// major version, flags, metadata checksum) and return cursors past it.
pub fn open<'a>(kind: FileKind, path: &'a Path, buf: &'a [u8]) -> Result<Opened<'a>> {
    let mut body = Cursor::new(path, buf, 0);
    let (header, meta) = decode(kind, &mut body)?;
    Ok(Opened {
        header,
        meta: Cursor::new(path, meta, HEADER_BYTES as u64),
        meta_len: meta.len(),
        body,
    })
}

/// Decode and verify the header and metadata at the start of `buf`. Returns the
/// header and the metadata bytes; the cursor is left after the metadata.
pub fn decode<'a>(kind: FileKind, c: &mut Cursor<'a>) -> Result<(Header, &'a [u8])> {
    let path: &Path = c.path;
    let head = c.bytes(HEADER_BYTES, "file header")?;
    if head[..8] != kind.magic {
        return Err(Error::corrupt(
            path,
            0,
            format!(
                "not a leann {} file (magic {:?}, expected {:?})",
                kind.name,
                String::from_utf8_lossy(&head[..8]),
                String::from_utf8_lossy(&kind.magic)
            ),
        ));
    }
    let rd16 = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]);
    let rd32 = |o: usize| u32::from_le_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    if !super::crc_matches(crc32fast::hash(&head[..28]), rd32(28)) {
        return Err(Error::corrupt(path, 28, "header checksum mismatch"));
    }
    let h = Header {
        major: rd16(8),
        minor: rd16(10),
        flags: rd32(12),
    };
    if h.major != FORMAT_MAJOR {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found_major: h.major,
            found_minor: h.minor,
            supported_major: FORMAT_MAJOR,
        });
    }
    if h.flags & !kind.known_flags != 0 {
        return Err(Error::corrupt(
            path,
            12,
            format!("unknown flags {:#x} for a {} file", h.flags, kind.name),
        ));
    }
    let meta_len = rd32(16);
    if meta_len > MAX_META_BYTES {
        return Err(Error::corrupt(
            path,
            16,
            format!("metadata length {meta_len} too large"),
        ));
    }
    let meta = c.bytes(meta_len as usize, "file metadata")?;
    if !super::crc_matches(crc32fast::hash(meta), rd32(20)) {
        return Err(Error::corrupt(
            path,
            HEADER_BYTES as u64,
            "metadata checksum mismatch",
        ));
    }
    Ok((h, meta))
}
