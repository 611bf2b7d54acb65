//! `Searcher`: exact scores of final candidates: their text read back from the tree (hash-checked) or stored, re-embedded.

use super::*;
use crate::chunk::split::content_hash;
use crate::engine::chunkstore::ChunkInfo;
use crate::engine::index::{Candidates, ExactSource, Index};
use crate::engine::segment::Segment;
use crate::error::{Error, Result};
use crate::io::Storage;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// Exact vectors of final candidates, recomputed from their text; the texts
/// are kept for the results' previews.
pub(super) struct TreeExact<'a> {
    pub(super) searcher: &'a Searcher,
    pub(super) texts: Mutex<HashMap<(usize, u32), ChunkText>>,
}

impl ExactSource for TreeExact<'_> {
    fn vectors(&self, c: &Candidates<'_>, out: &mut Vec<f32>) -> Result<()> {
        let (si, seg, nodes) = (c.segment, c.seg, c.nodes);
        if seg.has_full_vectors() {
            // Built with graph.storeFullVectors: the stored vectors are the
            // exact ones (of the text as indexed); no re-embedding. The texts
            // are read for the results only.
            return seg.stored_vectors(
                nodes,
                &mut crate::engine::segment::SegScratch::default(),
                &mut crate::ann::vamana::SearchStats::default(),
                out,
            );
        }
        let mut files = HashMap::new();
        let tree = self.searcher.tree();
        let mut got = Vec::with_capacity(nodes.len());
        for &n in nodes {
            got.push(segment_text(seg, n, &tree, &mut files)?);
        }
        let store = seg
            .chunks
            .as_ref()
            .ok_or_else(|| Error::internal("segment without chunk metadata"))?;
        let owned: Vec<String> = nodes
            .iter()
            .zip(&got)
            .map(|(&n, t)| {
                let info = store.info(n)?;
                Ok(crate::embed::embed_input(
                    &info.path,
                    info.symbol.as_deref(),
                    &t.text,
                ))
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&str> = owned.iter().map(|s| s.as_str()).collect();
        out.extend_from_slice(&self.searcher.embedder.embed(&refs)?);
        let mut texts = self
            .texts
            .lock()
            .map_err(|_| Error::internal("text cache poisoned"))?;
        for (&n, t) in nodes.iter().zip(got) {
            texts.insert((si, n), t);
        }
        Ok(())
    }

    /// Reused delta vectors: recomputed from the chunk's text in the tree,
    /// like a segment node's.
    fn delta_vectors(
        &self,
        entries: &[&crate::engine::delta::DeltaEntry],
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let tree = self.searcher.tree();
        let mut files = HashMap::new();
        let mut inputs = Vec::with_capacity(entries.len());
        for e in entries {
            let c = e
                .chunk
                .as_ref()
                .ok_or_else(|| Error::internal("a reused delta upsert without chunk metadata"))?;
            let t = source_text(&tree, &delta_info(c), &mut files);
            inputs.push(crate::embed::embed_input(
                &c.path,
                c.symbol.as_deref(),
                &t.text,
            ));
        }
        let refs: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
        out.extend_from_slice(&self.searcher.embedder.embed(&refs)?);
        Ok(())
    }
}

/// The text of node `node` of `seg`: stored text, or the source file's bytes
/// at the chunk's range, checked against its hash.
pub(super) fn segment_text(
    seg: &Segment,
    node: u32,
    tree: &Tree<'_>,
    files: &mut HashMap<String, Option<Vec<u8>>>,
) -> Result<ChunkText> {
    let store = seg
        .chunks
        .as_ref()
        .ok_or_else(|| Error::internal("segment without chunk metadata"))?;
    let info = store.info(node)?;
    if store.has_text() {
        let text = store.text(node)?;
        return Ok(ChunkText { text, stale: false });
    }
    Ok(source_text(tree, &info, files))
}

/// How text of `index`'s chunks is read from the tree at `root`.
pub(super) fn tree_of<'a>(
    index: &Index,
    root: Option<&'a Path>,
    storage: &'a dyn Storage,
) -> Tree<'a> {
    let f = index.config.filters.as_ref();
    Tree {
        root,
        storage,
        links_out: f.is_some_and(|f| f.follow_external_symlinks),
        max_bytes: f
            .and_then(|f| f.max_file_bytes)
            .unwrap_or(crate::chunk::walk::DEFAULT_MAX_FILE_BYTES),
    }
}

/// The metadata of a delta upsert, as a segment's chunk store gives it.
pub(super) fn delta_info(c: &crate::format::wal::UpsertChunk) -> ChunkInfo<'_> {
    ChunkInfo {
        path: std::borrow::Cow::Borrowed(&c.path),
        language: c.language,
        start_line: c.start_line,
        end_line: c.end_line,
        start_byte: c.start_byte,
        byte_len: c.byte_len,
        symbol: c.symbol.clone(),
        hash: c.hash,
    }
}

/// A chunk's bytes read back from the source tree, hash-checked.
/// A file that cannot be read (gone, not a regular file, outside the tree,
/// too large) makes its chunks stale.
pub(super) fn source_text(
    tree: &Tree<'_>,
    c: &ChunkInfo<'_>,
    files: &mut HashMap<String, Option<Vec<u8>>>,
) -> ChunkText {
    let (path, start_byte, byte_len, hash) = (c.path.as_ref(), c.start_byte, c.byte_len, &c.hash);
    let bytes = files.entry(path.to_string()).or_insert_with(|| {
        let root = tree.root?;
        tree.storage
            .read_beneath(root, path, tree.links_out, tree.max_bytes)
            .ok()
    });
    let Some(bytes) = bytes else {
        return ChunkText {
            text: String::new(),
            stale: true,
        };
    };
    let a = (start_byte as usize).min(bytes.len());
    let b = (start_byte as usize + byte_len as usize).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[a..b]).into_owned();
    let stale = b - a != byte_len as usize || content_hash(&text) != *hash;
    ChunkText { text, stale }
}
