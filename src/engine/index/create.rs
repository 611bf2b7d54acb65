//! `Index`: building a new index from vectors (`create`, `build`).

use super::*;
use crate::ann::distance::{normalize, Metric};
use crate::ann::pq::{PqParams, Quantizer};
use crate::ann::vamana::{self, BuildParams};
use crate::ann::vectors::VectorSource;
use crate::config::Config;
use crate::engine::manifest::{self, IndexInfo};
use crate::engine::partition::{self, GraphPlan};
use crate::engine::segment::{self};
use crate::error::{Error, Result};
use crate::format::manifest::{Manifest, SegmentEntry};
use crate::io::Storage;
use std::path::Path;
use std::time::Instant;

impl Index {
    /// Build a new index in `dir` (created if needed; must not hold an index).
    /// `ids` are the external ids of the vectors (default 0..n).
    pub fn create(
        storage: &dyn Storage,
        dir: &Path,
        src: &dyn VectorSource,
        ids: Option<&[u64]>,
        config: &Config,
    ) -> Result<BuildReport> {
        Self::create_with_progress(storage, dir, src, ids, config, &|_| {})
    }

    /// `create`, reporting progress as phases advance.
    pub fn create_with_progress(
        storage: &dyn Storage,
        dir: &Path,
        src: &dyn VectorSource,
        ids: Option<&[u64]>,
        config: &Config,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<BuildReport> {
        Self::build(
            storage,
            dir,
            src,
            BuildInput {
                ids,
                chunks: None,
                info: IndexInfo::default(),
                replace: None,
            },
            config,
            progress,
        )
    }

    /// The general build: vectors plus, optionally, their chunk metadata
    /// (record i describes vector i) and what the index was built from.
    pub fn build(
        storage: &dyn Storage,
        dir: &Path,
        src: &dyn VectorSource,
        input: BuildInput<'_>,
        config: &Config,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<BuildReport> {
        let BuildInput {
            ids,
            chunks,
            mut info,
            replace: input_replace,
        } = input;
        let (seg_id, generation) = input_replace.unwrap_or((1, 1));
        let t0 = Instant::now();
        // What ingestion freed (file texts, token lists) goes back first.
        crate::memory::release_free_heap();
        check_input(src)?;
        let n = src.len();
        let dim = src.dim();
        if let Some(ids) = ids {
            if ids.len() != n {
                return Err(Error::argument(
                    "ids",
                    format!("{} ids for {n} vectors", ids.len()),
                ));
            }
        }
        let r = config.resolve(n, dim)?;
        info.chunks = chunks.is_some();
        if let Some(c) = &chunks {
            if c.len() != n {
                return Err(Error::argument(
                    "chunks",
                    format!("{} chunk records for {n} vectors", c.len()),
                ));
            }
        }
        if input_replace.is_none() && storage.exists(&dir.join(manifest::FILE_NAME)) {
            return Err(Error::argument(
                "dir",
                format!("{} already holds an index (MANIFEST exists)", dir.display()),
            ));
        }
        storage.create_dir_all(dir)?;
        let scratch =
            crate::engine::dir::Scratch::new(storage, dir, crate::engine::dir::SCRATCH_DIR)?;
        // Cosine: index unit vectors. A normalised copy, when one is needed, is
        // streamed to a temporary file and memory-mapped, so build memory does
        // not grow by another full set of vectors.
        let norm_store;
        let _norm_dir;
        let src: &dyn VectorSource = if r.metric == Metric::Cosine && !is_normalised(src) {
            let tmp = crate::io::temp_dir_in(scratch.path(), "normalised")?;
            let path = tmp.path().join("normalised.fbin");
            crate::engine::data::write_fbin(storage, &path, n, dim, |i, out| {
                out.extend_from_slice(src.vector(i));
                normalize(out);
                let block = crate::ann::vectors::PASS_BLOCK_ROWS;
                if (i + 1) % block == 0 || i + 1 == n {
                    // A mapped source gives the block's pages back.
                    src.release(i / block * block..i + 1);
                }
            })?;
            norm_store = crate::engine::data::FbinVectors::open(storage, &path)?;
            _norm_dir = tmp;
            &norm_store
        } else {
            src
        };
        // The quantizer and the graph need only the vectors: train and build
        // them side by side so that each one's serial stretches overlap the other.
        let pq_params = PqParams {
            metric: r.metric,
            anchor_kind: r.anchor_kind,
            n_anchors: r.n_anchors,
            anchor_samples: r.anchor_samples,
            m: r.sub_vectors,
            ksub: r.codebook_size,
            training_samples: r.training_samples,
            kmeans_iters: 10,
            seed: r.seed,
        };
        let build_params = BuildParams {
            metric: r.metric,
            max_degree: r.max_degree,
            build_list: r.build_list,
            alpha: r.alpha,
            seed: r.seed,
        };
        let graph_plan = partition::plan(
            n,
            dim,
            r.max_degree,
            graph_budget_bytes(
                config.memory_budget_bytes()?,
                n,
                r.sub_vectors,
                chunks.is_some(),
            ),
        );
        let (quantized, g) = rayon::join(
            || -> Result<_> {
                let tq = Instant::now();
                progress(&Progress::new("anchors+pq", 0, 1));
                let quant = Quantizer::train(src, &pq_params)?;
                progress(&Progress::new("anchors+pq", 1, 1));
                progress(&Progress::new("encode", 0, n as u64));
                let (codes, entries) = quant.encode_all(src);
                progress(&Progress::new("encode", n as u64, n as u64));
                Ok((quant, codes, entries, tq.elapsed().as_secs_f64()))
            },
            || -> Result<_> {
                let tg = Instant::now();
                let next = std::sync::atomic::AtomicU64::new(0);
                let report = |done: u64, total: u64| {
                    let due = next.load(std::sync::atomic::Ordering::Relaxed);
                    if done >= due || done == total {
                        next.store(
                            done + (total / 10).max(1),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        progress(&Progress::new("graph", done, total));
                    }
                };
                let g = match graph_plan {
                    GraphPlan::InMemory => {
                        progress(&Progress::new("graph", 0, n as u64));
                        BuiltGraph::Memory(vamana::build_with_progress(src, &build_params, &|d| {
                            report(d as u64, n as u64)
                        }))
                    }
                    GraphPlan::Partitioned {
                        partitions,
                        max_vectors,
                        prune,
                    } => BuiltGraph::Partitioned(partition::build(
                        src,
                        &build_params,
                        partitions,
                        max_vectors,
                        prune,
                        scratch.path(),
                        &report,
                    )?),
                };
                Ok((g, tg.elapsed().as_secs_f64()))
            },
        );
        let (quant, codes, entries, quantizer_seconds) = quantized?;
        let (g, graph_seconds) = g?;
        let (adj, medoid): (&dyn vamana::Adjacency, u32) = match &g {
            BuiltGraph::Memory(g) => (&g.adj, g.medoid),
            BuiltGraph::Partitioned(g) => (&g.adj, g.medoid),
        };
        let tw = Instant::now();
        progress(&Progress::new("write", 0, 1));
        let default_ids: Vec<u64>;
        let ids = match ids {
            Some(i) => i,
            None => {
                default_ids = (0..n as u64).collect();
                &default_ids
            }
        };
        let data = segment::SegmentData {
            id: seg_id,
            metric: r.metric,
            quant: &quant,
            codes: &codes,
            entries: &entries,
            ids,
        };
        let laid = segment::write_graph(
            storage,
            dir,
            &data,
            &segment::GraphData {
                adj,
                medoid,
                max_degree: r.max_degree as u32,
                vectors: if r.store_full_vectors {
                    Some(src)
                } else {
                    None
                },
            },
        )?;
        // The graph is on disk: its memory goes before the chunk table and
        // the lexical index are written.
        drop(g);
        crate::memory::release_free_heap();
        let files = segment::write_rest(storage, dir, &data, laid, chunks)?;
        let config_json = serde_json::to_string(config)
            .map_err(|e| Error::internal(format!("config does not serialise: {e}")))?;
        manifest::store(
            storage,
            dir,
            &Manifest {
                generation,
                dim: dim as u32,
                metric: r.metric.code(),
                segments: vec![SegmentEntry {
                    id: seg_id,
                    n_vectors: n as u64,
                }],
                config_json,
                features: Some(info.features()),
                info_json: info.to_json()?,
            },
        )?;
        progress(&Progress::new("write", 1, 1));
        Ok(BuildReport {
            n,
            seconds: t0.elapsed().as_secs_f64(),
            quantizer_seconds,
            graph_seconds,
            write_seconds: tw.elapsed().as_secs_f64(),
            files,
            graph_partitions: match graph_plan {
                GraphPlan::InMemory => 0,
                GraphPlan::Partitioned { partitions, .. } => partitions,
            },
        })
    }
}

/// What a build holds besides the graph's build: the program, the model and
/// the lexical writer's heap.
pub(crate) const BUILD_BASE_BYTES: u64 = 384 << 20;
/// Per vector besides the graph: its PQ code (`m` bytes, counted apart),
/// anchor, id, layout order and position, and the quantizer's encode pass.
const BUILD_VECTOR_BYTES: u64 = 32;
/// Per chunk of a tree: its record, symbol and path share in the chunk
/// table while the index is built.
const BUILD_CHUNK_BYTES: u64 = 96;

/// The share of a build's memory budget its graph may take: the budget
/// less what the rest of the build holds for `n` vectors with `m`-byte
/// codes (and chunk metadata when `chunks`).
fn graph_budget_bytes(budget: u64, n: usize, m: usize, chunks: bool) -> u64 {
    let per = BUILD_VECTOR_BYTES + m as u64 + if chunks { BUILD_CHUNK_BYTES } else { 0 };
    budget.saturating_sub(BUILD_BASE_BYTES + per * n as u64)
}

/// The graph of a build: made in memory, or out of core.
enum BuiltGraph {
    Memory(vamana::Graph),
    Partitioned(partition::PartitionedGraph),
}
