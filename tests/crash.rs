//! Issue 4, item 5b: a child process (`leann debug-workload`) writes batches
//! and compacts, and is killed with SIGKILL at random points. After every
//! kill the index opens, verifies, holds every acknowledged upsert and none of
//! the acknowledged deletes; a writable open then leaves one segment.
//! LEANN_CRASH_TRIALS sets the number of trials (default 200).

mod common;

use leann::ann::vectors::VecVectors;
use leann::config::Config;
use leann::engine::index::Index;
use leann::io::ReadMode;
use std::process::{Command, Stdio};
use std::time::Duration;

const DIM: usize = 8;
const BASE: u64 = 300;

/// Same as src/cli/debug.rs.
fn vector_of(id: u64) -> Vec<f32> {
    let m = leann::bench::synth::Mixture::new(DIM, 4, 8, 0.6, 0.05, 9);
    let mut v = Vec::new();
    m.point(if id < BASE { 1 } else { 3 }, id, &mut v);
    v
}

/// Whole 8-byte records of the acknowledgement file (a cut one is ignored).
fn read_acked(p: &std::path::Path) -> Vec<u64> {
    std::fs::read(p)
        .unwrap_or_default()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_write() {
    let trials: usize = std::env::var("LEANN_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let d = common::tempdir();
    let dir = d.path().join("idx");
    let acked_path = d.path().join("acked");
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let base = VecVectors {
        data: (0..BASE).flat_map(vector_of).collect(),
        dim: DIM,
    };
    Index::create(st.as_ref(), &dir, &base, None, &Config::default()).unwrap();
    let mut rng = leann::ann::rng::Rng::new(2026);
    let (mut killed, mut finished) = (0, 0);
    for t in 0..trials {
        let acked = read_acked(&acked_path);
        let from = acked.iter().max().map_or(0, |m| m + 1);
        let mut child = Command::new(env!("CARGO_BIN_EXE_leann"))
            .args([
                "debug-workload",
                "--index",
                dir.to_str().unwrap(),
                "--acked",
                acked_path.to_str().unwrap(),
                "--from",
                &from.to_string(),
                "--batches",
                "12",
                "--compact-every",
                "4",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next_u64() % 60_000));
        match child.try_wait().unwrap() {
            Some(status) => {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                assert!(status.success(), "trial {t}: workload failed: {err}");
                finished += 1;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
            }
        }
        let acked = read_acked(&acked_path);
        let idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, None)
            .unwrap_or_else(|e| panic!("trial {t}: does not open: {e}"));
        leann::engine::verify::verify(&idx).unwrap_or_else(|e| panic!("trial {t}: {e}"));
        let live = idx.live_ids();
        for &b in &acked {
            for i in 0..5 {
                let id = 1000 + 10 * b + i;
                assert!(
                    live.contains(&id),
                    "trial {t}: acknowledged upsert {id} lost"
                );
            }
            for i in 0..3 {
                let id = (3 * b + i) % BASE;
                assert!(
                    !live.contains(&id),
                    "trial {t}: acknowledged delete of {id} undone"
                );
            }
        }
    }
    eprintln!("{trials} trials: {killed} killed mid-run, {finished} finished first");
    assert!(
        killed > trials / 4,
        "too few kills ({killed}) to mean anything"
    );
    // A writable open cleans up what interrupted compactions left.
    let mut idx = Index::open(st.as_ref(), &dir, ReadMode::Buffered, None).unwrap();
    idx.enable_writes(st.as_ref()).unwrap();
    let segs: std::collections::BTreeSet<String> = st
        .list_dir(&dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("seg-"))
        .filter_map(|n| n.split('.').next().map(str::to_string))
        .collect();
    assert_eq!(segs.len(), 1, "{segs:?}");
}
