//! `leann debug-workload`: a write workload for the process-crash test
//! (tests/crash.rs kills it with SIGKILL at random points). Hidden from help.

use leann::engine::index::Index;
use leann::format::wal::Record;
use leann::io::ReadMode;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct WorkloadCmd {
    #[arg(long)]
    index: PathBuf,
    /// Acknowledged batch numbers are appended here as 8-byte little-endian
    /// records (one write each, so a kill cannot leave half a number that
    /// the next run extends), each fsynced before the next batch starts.
    #[arg(long)]
    acked: PathBuf,
    /// First batch number.
    #[arg(long)]
    from: u64,
    /// Batches to run.
    #[arg(long, default_value_t = 20)]
    batches: u64,
    /// Compact after every Nth batch.
    #[arg(long, default_value_t = 4)]
    compact_every: u64,
}

/// Dimension and base size of the workload's index.
pub const DIM: usize = 8;
pub const BASE: u64 = 300;

/// Vector of id `id`: base ids 0..BASE, upserts 1000 + 10 b + i.
pub fn vector_of(id: u64) -> Vec<f32> {
    let m = leann::bench::synth::Mixture::new(DIM, 4, 8, 0.6, 0.05, 9);
    let mut v = Vec::new();
    m.point(if id < BASE { 1 } else { 3 }, id, &mut v);
    v
}

/// Batch `b`: upserts 1000 + 10 b + (0..5), deletes of base ids 3 b + (0..3).
pub fn batch(b: u64) -> Vec<Record> {
    let mut r: Vec<Record> = (0..5)
        .map(|i| {
            let id = 1000 + 10 * b + i;
            Record::Upsert {
                id,
                vector: vector_of(id),
                chunk: None,
            }
        })
        .collect();
    r.extend((0..3).map(|i| Record::DeleteId {
        id: (3 * b + i) % BASE,
    }));
    r
}

pub fn run(c: WorkloadCmd) -> leann::Result<i32> {
    let st = super::storage("pread")?;
    let mut idx = Index::open(st.as_ref(), &c.index, ReadMode::Buffered, None)?;
    idx.enable_writes(st.as_ref())?;
    let mut acked = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&c.acked)
        .map_err(|e| leann::Error::io("open", &c.acked, e))?;
    // A record cut by an earlier kill is dropped (its batch was durable
    // anyway; the checker only relies on whole records).
    let len = acked
        .metadata()
        .map_err(|e| leann::Error::io("stat", &c.acked, e))?
        .len();
    acked
        .set_len(len - len % 8)
        .map_err(|e| leann::Error::io("truncate", &c.acked, e))?;
    for b in c.from..c.from + c.batches {
        idx.write(&batch(b))?;
        acked
            .write_all(&b.to_le_bytes())
            .map_err(|e| leann::Error::io("write", &c.acked, e))?;
        acked
            .sync_data()
            .map_err(|e| leann::Error::io("fsync", &c.acked, e))?;
        if c.compact_every > 0 && (b + 1) % c.compact_every == 0 {
            // Alternate the policy's method (a merge, for this small delta)
            // with a rebuild, so that kills land in both.
            let method = if ((b + 1) / c.compact_every) % 2 == 0 {
                leann::engine::compact::Method::Rebuild
            } else {
                leann::engine::compact::method_for(&leann::engine::compact::stats(&idx))
            };
            leann::engine::compact::compact(
                &mut idx,
                st.as_ref(),
                method,
                &|_, _, _, ids, out| {
                    for &id in ids {
                        out.extend_from_slice(&vector_of(id));
                    }
                    Ok(())
                },
                None,
                &|_| {},
            )?;
        }
    }
    Ok(0)
}
