//! leann-dump: print the header and metadata of any leann file, and for an
//! index directory the manifest and per-file summaries. Offline tool; uses the
//! library's decoders, so it reports corruption exactly as `leann` does.
//!
//! Usage: leann-dump PATH [--node N]

use leann::format;
use leann::io::{open_storage, Backend, ReadMode};
use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: leann-dump PATH [--node N]");
        std::process::exit(2);
    }
    let node = args
        .iter()
        .position(|a| a == "--node")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<u32>().ok());
    if let Err(e) = run(Path::new(&args[1]), node) {
        eprintln!("leann-dump: error: {e}");
        std::process::exit(2);
    }
}

fn run(path: &Path, node: Option<u32>) -> leann::Result<()> {
    let st = open_storage(Backend::Pread)?;
    if st.list_dir(path).is_ok() {
        let m = leann::engine::manifest::load(st.as_ref(), path)?;
        println!(
            "manifest: generation {}, dim {}, metric {}, {} segment(s)",
            m.generation,
            m.dim,
            m.metric,
            m.segments.len()
        );
        for s in &m.segments {
            println!("  segment {} ({} vectors)", s.id, s.n_vectors);
        }
        println!("  config {}", m.config_json);
        for name in st.list_dir(path)? {
            if name != leann::engine::manifest::FILE_NAME {
                dump_file(&path.join(name), None)?;
            }
        }
        return Ok(());
    }
    dump_file(path, node)
}

fn dump_file(p: &Path, node: Option<u32>) -> leann::Result<()> {
    let st = open_storage(Backend::Pread)?;
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let b = st.read_all(p)?;
    let pb = PathBuf::from(p);
    if name.ends_with(".graph") {
        let m = format::graph::decode_header_sector(&pb, &b[..b.len().min(4096)], b.len() as u64)?;
        println!("{name}: graph, {m:?}");
        if let Some(n) = node {
            if n as u64 >= m.n_nodes {
                return Err(leann::Error::argument(
                    "--node",
                    format!("node {n} >= {}", m.n_nodes),
                ));
            }
            let f = st.open_read(p, ReadMode::Buffered)?;
            let (s, _) = m.locate(n);
            let mut sec = vec![0u8; 4096];
            f.read_batch(&mut [leann::io::ReadReq {
                offset: s * 4096,
                buf: &mut sec,
            }])?;
            format::graph::verify_sector(&pb, s, &sec)?;
            let mut nb = Vec::new();
            format::graph::read_node(&m, &pb, &sec, n, &mut nb)?;
            println!("  node {n} (sector {s}): {} neighbours {nb:?}", nb.len());
        }
    } else if name.ends_with(".pq") {
        let f = format::pq::decode(&pb, &b)?;
        println!(
            "{name}: anchors + PQ, metric {}, dim {}, {} anchors, m {}, ksub {}",
            f.metric,
            f.dim,
            f.n_anchors(),
            f.m,
            f.ksub
        );
    } else if name.ends_with(".codes") {
        let f = format::codes::decode(&pb, &b)?;
        println!(
            "{name}: PQ codes, {} records of {} codes, norms {}",
            f.len(),
            f.m,
            f.norms.is_some()
        );
    } else if name.ends_with(".ids") {
        let f = format::idmap::decode(&pb, &b)?;
        println!(
            "{name}: id map, {} ids, first {:?}",
            f.len(),
            &f[..f.len().min(5)]
        );
    } else if name.ends_with(".chunks") {
        let h = format::chunks::decode_head(&pb, &b)?;
        println!(
            "{name}: chunk metadata, {} records, {} paths, {} symbol bytes, stored text {} ({} bytes)",
            h.records.len(),
            h.paths.len(),
            h.symbols.len(),
            h.has_text,
            h.text_bytes
        );
    } else if leann::engine::wal::parse_name(&name).is_some() {
        match leann::engine::wal::read_log(&pb, &b)? {
            None => println!("{name}: write-ahead log, empty (shorter than its header)"),
            Some((meta, rec)) => {
                use leann::format::wal::Record;
                let mut kinds = [0usize; 4];
                for r in rec.batches.iter().flatten() {
                    match r {
                        Record::Upsert { .. } => kinds[0] += 1,
                        Record::UpsertReused { .. } => kinds[1] += 1,
                        Record::DeleteId { .. } => kinds[2] += 1,
                        Record::DeletePath { .. } => kinds[3] += 1,
                        Record::Begin { .. } | Record::Commit { .. } => {}
                    }
                }
                println!(
                    "{name}: write-ahead log, {meta:?}; {} committed batches: {} upserts, {} reused upserts, {} deletes by id, {} deletes by path; torn tail {} bytes",
                    rec.batches.len(),
                    kinds[0],
                    kinds[1],
                    kinds[2],
                    kinds[3],
                    rec.torn_bytes
                )
            }
        }
    } else if name == format::stamps::FILE_NAME {
        let f = format::stamps::decode(&pb, &b)?;
        println!(
            "{name}: file stamps of {}, {} files, taken at {} ns",
            f.root,
            f.entries.len(),
            f.taken_ns
        );
    } else if name == leann::engine::manifest::FILE_NAME {
        let m = format::manifest::decode(&pb, &b)?;
        println!("{name}: {m:?}");
    } else {
        println!("{name}: not a leann file name");
    }
    Ok(())
}
