//! `leann bench` end to end on small generated DiskANN-format files: the JSON
//! keys the issue names, --dump files that reproduce the reported recall, and
//! exit code 2 with a message naming the file on bad input.

mod common;

use leann::ann::distance::Metric;
use leann::engine::data::{write_fbin, write_ibin, VectorSource};
use leann::io::{open_storage, Backend};
use std::process::Command;

#[test]
fn bench_json_and_dump() {
    let d = common::tempdir();
    let st = open_storage(Backend::Pread).unwrap();
    let base = common::clustered(3000, 32, 8, 21);
    let qs = common::queries(100, 32, 8, 21);
    let (bp, qp, gp) = (
        d.path().join("b.fbin"),
        d.path().join("q.fbin"),
        d.path().join("g.ibin"),
    );
    write_fbin(st.as_ref(), &bp, base.len(), 32, |i, v| {
        v.extend_from_slice(base.vector(i))
    })
    .unwrap();
    write_fbin(st.as_ref(), &qp, qs.len(), 32, |i, v| {
        v.extend_from_slice(qs.vector(i))
    })
    .unwrap();
    let gt = leann::bench::harness::brute_force(&base, &qs, 10, Metric::Ip);
    write_ibin(st.as_ref(), &gp, 10, &gt).unwrap();
    let dump = d.path().join("dump");
    let out = Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(["bench", "--base"])
        .arg(&bp)
        .arg("--query")
        .arg(&qp)
        .arg("--gt")
        .arg(&gp)
        .args([
            "--L",
            "20,40",
            "--W",
            "2",
            "--json",
            "--threads",
            "2",
            "--dump",
        ])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let mut recalls = Vec::new();
    for (v, l) in lines.iter().zip([20, 40]) {
        for key in [
            "L",
            "W",
            "recall_at_10",
            "p50_ms",
            "p99_ms",
            "qps",
            "reads_per_query",
            "index_bytes_per_vector",
            "build_vectors_per_s",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["L"], l);
        assert_eq!(v["W"], 2);
        // The dump reproduces the reported recall.
        let (n, k, ids) =
            leann::engine::data::read_ibin(st.as_ref(), &dump.join(format!("L{l}_W2.ibin")))
                .unwrap();
        assert_eq!((n, k), (100, 10));
        let mut r = 0.0;
        for q in 0..n {
            let found: Vec<u64> = ids[q * k..(q + 1) * k].iter().map(|&x| x as u64).collect();
            r += leann::bench::harness::recall_at(
                10,
                qs.vector(q),
                &found,
                &gt[q],
                &base,
                Metric::Ip,
            );
        }
        let reported = v["recall_at_10"].as_f64().unwrap();
        assert!(
            (r / n as f64 - reported).abs() < 1e-9,
            "dump recall {} vs reported {reported}",
            r / n as f64
        );
        recalls.push(reported);
    }
    // A longer search list cannot lose recall here, and finds most neighbours.
    assert!(
        recalls[1] >= recalls[0] && recalls[1] > 0.9,
        "recalls {recalls:?}"
    );
}

#[test]
fn bench_bad_input_exits_2_naming_the_file() {
    let d = common::tempdir();
    let bad = d.path().join("short.fbin");
    std::fs::write(&bad, [1u8, 0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(["bench", "--base"])
        .arg(&bad)
        .arg("--query")
        .arg(&bad)
        .arg("--gt")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("short.fbin"), "{err}");
}
