//! `Index`: opening an index (retrying while a compaction replaces its files, R-2).

use super::*;
use crate::ann::distance::Metric;
use crate::config::Config;
use crate::engine::dir::DiskState;
use crate::engine::manifest::{self, IndexInfo};
use crate::engine::segment::{OpenOptions, Segment};
use crate::error::{Error, Result};
use crate::io::{ReadMode, Storage};
use std::path::Path;

impl Index {
    /// Open an index directory. `cache_bytes` overrides the configured node
    /// cache budget; `read_mode` Direct reads the graph with O_DIRECT.
    ///
    /// Readers take no lock: when a compaction by another process
    /// replaces files while they are read (a file gone, or the manifest's
    /// generation changed by the time everything is read), the open starts
    /// over.
    pub fn open(
        storage: &dyn Storage,
        dir: &Path,
        read_mode: ReadMode,
        cache_bytes: Option<usize>,
    ) -> Result<Index> {
        let mut attempt = 1;
        loop {
            let r = Self::open_once(storage, dir, read_mode, cache_bytes);
            let retry = match &r {
                Ok(idx) => manifest::load(storage, dir)
                    .is_ok_and(|m| m.generation != idx.manifest.generation),
                Err(e) => is_not_found(e) && storage.exists(&dir.join(manifest::FILE_NAME)),
            };
            if !retry || attempt >= OPEN_ATTEMPTS {
                return r;
            }
            attempt += 1;
            std::thread::sleep(std::time::Duration::from_millis(5 * attempt as u64));
        }
    }

    pub(super) fn open_once(
        storage: &dyn Storage,
        dir: &Path,
        read_mode: ReadMode,
        cache_bytes: Option<usize>,
    ) -> Result<Index> {
        let manifest = manifest::load(storage, dir)?;
        let mpath = dir.join(manifest::FILE_NAME);
        let features = manifest.features.unwrap_or_default();
        let unknown = features.read & !crate::format::manifest::KNOWN_READ;
        if unknown != 0 {
            return Err(Error::UnsupportedFeatures {
                path: mpath,
                what: "read",
                bits: unknown,
                hint: "; it cannot be opened by this build",
            });
        }
        let metric = Metric::from_code(manifest.metric).ok_or_else(|| {
            Error::corrupt(
                &mpath,
                44,
                format!("unknown metric code {}", manifest.metric),
            )
        })?;
        let config: Config = serde_json::from_str(&manifest.config_json)
            .map_err(|e| Error::corrupt(&mpath, 0, format!("stored config does not parse: {e}")))?;
        let n: u64 = manifest.segments.iter().map(|s| s.n_vectors).sum();
        let resolved = config.resolve(n as usize, manifest.dim as usize)?;
        let info = IndexInfo::from_json(&mpath, &manifest.info_json)?;
        let opts = OpenOptions {
            read_mode,
            cache_bytes: cache_bytes.unwrap_or(resolved.cache_bytes),
            chunks: info.chunks,
            lexical: info.chunks && info.lexical,
        };
        let mut segments = Vec::with_capacity(manifest.segments.len());
        for s in &manifest.segments {
            let seg = Segment::open(storage, dir, s.id, metric, &opts)?;
            if seg.len() as u64 != s.n_vectors || seg.meta.dim != manifest.dim {
                return Err(Error::corrupt(
                    &mpath,
                    0,
                    format!(
                        "segment {} holds {} vectors of dim {}, the manifest says {} of dim {}",
                        s.id,
                        seg.len(),
                        seg.meta.dim,
                        s.n_vectors,
                        manifest.dim
                    ),
                ));
            }
            segments.push(seg);
        }
        // Replay the write-ahead logs (read-only: a torn tail is ignored here
        // and truncated by `enable_writes`).
        let mut delta = crate::engine::delta::Delta::default();
        let mut logs = Vec::new();
        for name in storage.list_dir(dir)? {
            if let Some(seq) = crate::engine::wal::parse_name(&name) {
                if seq >= info.log_start {
                    logs.push(seq);
                }
            }
        }
        logs.sort_unstable();
        let mut seen = DiskState {
            generation: manifest.generation,
            logs: Vec::with_capacity(logs.len()),
        };
        for &seq in &logs {
            let p = dir.join(crate::engine::wal::file_name(seq));
            let buf = storage.read_all(&p)?;
            seen.logs.push((seq, buf.len() as u64));
            if let Some((meta, rec)) = crate::engine::wal::read_log(&p, &buf)? {
                if meta.dim != manifest.dim {
                    return Err(Error::corrupt(
                        &p,
                        48,
                        format!(
                            "log of dimension {}, the index has {}",
                            meta.dim, manifest.dim
                        ),
                    ));
                }
                for b in &rec.batches {
                    for r in b {
                        delta.apply(r, metric);
                    }
                }
            }
        }
        // No graph over the delta here (`set_delta_graph`): a fresh process
        // scans the upserts exactly instead of spending seconds on a graph.
        let mut idx = Index {
            delta,
            visible: None,
            wal: None,
            logs,
            info,
            dir: dir.to_path_buf(),
            dim: manifest.dim as usize,
            manifest,
            config,
            resolved,
            segments,
            metric,
            writer: None,
            seen,
            lock_wait: crate::engine::dir::DEFAULT_LOCK_WAIT,
            delta_graph: false,
            read_mode,
            cache_bytes,
        };
        idx.refresh_visible()?;
        Ok(idx)
    }
}
