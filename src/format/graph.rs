//! Graph segment file (SPEC.md, "Graph segment file"): 4096-byte sectors; sector 0
//! holds the common header and the graph metadata; sectors 1.. hold fixed-size
//! node records packed `nodes_per_sector` to a sector, each sector ending in the
//! CRC-32 of its first 4092 bytes. Node i lives in sector 1 + i / nodes_per_sector
//! at byte (i % nodes_per_sector) * node_bytes: computed, never looked up.

use super::bitpack;
use super::header::{self, GRAPH};
use super::{put_u32, put_u64};
use crate::error::{Error, Result};
use std::path::Path;

pub const SECTOR_BYTES: usize = 4096;
/// Bytes of a sector available to node records (the last 4 hold the CRC).
pub const SECTOR_PAYLOAD_BYTES: usize = SECTOR_BYTES - 4;
pub use super::header::GRAPH_FLAG_FULL_VECTORS as FLAG_FULL_VECTORS;
/// Largest neighbour count a node record can declare.
pub const MAX_DEGREE_LIMIT: u32 = 1024;
const META_BYTES: usize = 40;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphMeta {
    pub n_nodes: u64,
    pub dim: u32,
    pub max_degree: u32,
    pub id_bits: u32,
    pub node_bytes: u32,
    pub nodes_per_sector: u32,
    pub metric: u32,
    pub medoid: u32,
    pub full_vectors: bool,
}

impl GraphMeta {
    /// Compute the layout for a graph of `n_nodes` nodes.
    pub fn new(
        n_nodes: u64,
        dim: u32,
        max_degree: u32,
        full_vectors: bool,
        metric: u32,
        medoid: u32,
    ) -> Result<Self> {
        if n_nodes == 0 || n_nodes > u32::MAX as u64 {
            return Err(Error::limit(format!(
                "a graph segment holds 1..=2^32-1 nodes, got {n_nodes}"
            )));
        }
        if max_degree == 0 || max_degree > MAX_DEGREE_LIMIT {
            return Err(Error::limit(format!(
                "max degree must be in 1..={MAX_DEGREE_LIMIT}, got {max_degree}"
            )));
        }
        let id_bits = bitpack::bits_for(n_nodes - 1);
        let vec_bytes = if full_vectors { dim as usize * 4 } else { 0 };
        let node_bytes = vec_bytes + 2 + bitpack::packed_len(max_degree as usize, id_bits);
        if node_bytes > SECTOR_PAYLOAD_BYTES {
            return Err(Error::limit(format!(
                "a node record of {node_bytes} bytes (dim {dim}, degree {max_degree}, full vectors {full_vectors}) does not fit a {SECTOR_BYTES}-byte sector"
            )));
        }
        Ok(GraphMeta {
            n_nodes,
            dim,
            max_degree,
            id_bits,
            node_bytes: node_bytes as u32,
            nodes_per_sector: (SECTOR_PAYLOAD_BYTES / node_bytes) as u32,
            metric,
            medoid,
            full_vectors,
        })
    }
    pub fn n_sectors(&self) -> u64 {
        self.n_nodes.div_ceil(self.nodes_per_sector as u64)
    }
    pub fn file_bytes(&self) -> u64 {
        (1 + self.n_sectors()) * SECTOR_BYTES as u64
    }
    /// (sector index counting the header sector as 0, byte offset in sector).
    #[inline]
    pub fn locate(&self, node: u32) -> (u64, usize) {
        let nps = self.nodes_per_sector;
        (
            1 + (node / nps) as u64,
            (node % nps) as usize * self.node_bytes as usize,
        )
    }
    fn vec_bytes(&self) -> usize {
        if self.full_vectors {
            self.dim as usize * 4
        } else {
            0
        }
    }
}

/// The header sector (sector 0), zero-padded to SECTOR_BYTES.
pub fn encode_header_sector(m: &GraphMeta) -> Vec<u8> {
    let mut meta = Vec::with_capacity(META_BYTES);
    put_u64(&mut meta, m.n_nodes);
    put_u32(&mut meta, m.dim);
    put_u32(&mut meta, m.max_degree);
    put_u32(&mut meta, m.id_bits);
    put_u32(&mut meta, m.node_bytes);
    put_u32(&mut meta, m.nodes_per_sector);
    put_u32(&mut meta, m.metric);
    put_u32(&mut meta, m.medoid);
    put_u32(&mut meta, SECTOR_BYTES as u32);
    let flags = if m.full_vectors { FLAG_FULL_VECTORS } else { 0 };
    let mut out = header::encode(GRAPH, flags, &meta);
    out.resize(SECTOR_BYTES, 0);
    out
}

/// Decode sector 0 and check the layout it declares against `file_len`.
pub fn decode_header_sector(path: &Path, buf: &[u8], file_len: u64) -> Result<GraphMeta> {
    let header::Opened {
        header: h,
        meta: mut m,
        meta_len,
        ..
    } = header::open(GRAPH, path, buf)?;
    let n_nodes = m.u64("n_nodes")?;
    let dim = m.u32("dim")?;
    let max_degree = m.u32("max_degree")?;
    let id_bits = m.u32("id_bits")?;
    let node_bytes = m.u32("node_bytes")?;
    let nps = m.u32("nodes_per_sector")?;
    let metric = m.u32("metric")?;
    let medoid = m.u32("medoid")?;
    let sector = m.u32("sector_bytes")?;
    let full_vectors = h.flags & FLAG_FULL_VECTORS != 0;
    // The rest of sector 0 is zero padding; anything else is damage.
    let used = header::HEADER_BYTES + meta_len;
    if let Some(p) = buf
        .get(used..SECTOR_BYTES)
        .and_then(|pad| pad.iter().position(|&b| b != 0))
    {
        return Err(Error::corrupt(
            path,
            (used + p) as u64,
            "non-zero byte in header sector padding",
        ));
    }
    if sector as usize != SECTOR_BYTES {
        return Err(m.err_back(4, format!("sector size {sector}, expected {SECTOR_BYTES}")));
    }
    if dim == 0 || dim > 65_536 {
        return Err(Error::corrupt(
            path,
            40,
            format!("dimension {dim} out of range"),
        ));
    }
    let expect = GraphMeta::new(n_nodes, dim, max_degree, full_vectors, metric, medoid)
        .map_err(|e| Error::corrupt(path, 32, format!("inconsistent graph metadata: {e}")))?;
    if expect.id_bits != id_bits
        || expect.node_bytes != node_bytes
        || expect.nodes_per_sector != nps
    {
        return Err(Error::corrupt(
            path,
            32,
            format!("inconsistent layout: id_bits {id_bits}, node_bytes {node_bytes}, nodes_per_sector {nps}"),
        ));
    }
    if medoid as u64 >= n_nodes {
        return Err(Error::corrupt(
            path,
            64,
            format!("medoid {medoid} >= node count {n_nodes}"),
        ));
    }
    if file_len != expect.file_bytes() {
        return Err(Error::corrupt(
            path,
            file_len.min(expect.file_bytes()),
            format!(
                "file is {file_len} bytes, its header declares {} sectors ({} bytes)",
                1 + expect.n_sectors(),
                expect.file_bytes()
            ),
        ));
    }
    Ok(expect)
}

/// Write node `node`'s record into its sector buffer (`sector` is SECTOR_BYTES
/// long and belongs to the node's sector).
pub fn put_node(m: &GraphMeta, sector: &mut [u8], node: u32, vector: Option<&[f32]>, nbrs: &[u32]) {
    let (_, off) = m.locate(node);
    let rec = &mut sector[off..off + m.node_bytes as usize];
    rec.fill(0);
    let vb = m.vec_bytes();
    if let Some(v) = vector {
        for (i, x) in v.iter().enumerate() {
            rec[i * 4..i * 4 + 4].copy_from_slice(&x.to_le_bytes());
        }
    }
    assert!(
        nbrs.len() <= m.max_degree as usize,
        "degree above max_degree"
    );
    rec[vb..vb + 2].copy_from_slice(&(nbrs.len() as u16).to_le_bytes());
    bitpack::pack(
        nbrs.iter().map(|&x| x as u64),
        m.id_bits,
        &mut rec[vb + 2..],
    );
}

/// Set the CRC of a filled sector buffer.
pub fn seal_sector(sector: &mut [u8]) {
    let crc = crc32fast::hash(&sector[..SECTOR_PAYLOAD_BYTES]);
    sector[SECTOR_PAYLOAD_BYTES..SECTOR_BYTES].copy_from_slice(&crc.to_le_bytes());
}

/// Verify a sector read from disk (`index` counts the header sector as 0).
pub fn verify_sector(path: &Path, index: u64, sector: &[u8]) -> Result<()> {
    let off = index * SECTOR_BYTES as u64;
    if sector.len() != SECTOR_BYTES {
        return Err(Error::corrupt(path, off, "short sector"));
    }
    let want = u32::from_le_bytes([sector[4092], sector[4093], sector[4094], sector[4095]]);
    if !super::crc_matches(crc32fast::hash(&sector[..SECTOR_PAYLOAD_BYTES]), want) {
        return Err(Error::corrupt(
            path,
            off,
            format!("sector {index} checksum mismatch"),
        ));
    }
    Ok(())
}

/// Decode node `node` from its (verified) sector: neighbours are appended to
/// `out`; the stored vector bytes, if any, are returned.
pub fn read_node<'a>(
    m: &GraphMeta,
    path: &Path,
    sector: &'a [u8],
    node: u32,
    out: &mut Vec<u32>,
) -> Result<Option<&'a [u8]>> {
    let (idx, off) = m.locate(node);
    let rec = &sector[off..off + m.node_bytes as usize];
    let vb = m.vec_bytes();
    let deg = u16::from_le_bytes([rec[vb], rec[vb + 1]]) as u32;
    let at = idx * SECTOR_BYTES as u64 + off as u64;
    if deg > m.max_degree {
        return Err(Error::corrupt(
            path,
            at + vb as u64,
            format!("node {node} degree {deg} > max {}", m.max_degree),
        ));
    }
    let packed = &rec[vb + 2..];
    for i in 0..deg as usize {
        let id = bitpack::get(packed, i, m.id_bits);
        if id >= m.n_nodes {
            return Err(Error::corrupt(
                path,
                at + vb as u64 + 2,
                format!("node {node} neighbour {id} >= node count {}", m.n_nodes),
            ));
        }
        out.push(id as u32);
    }
    Ok(if vb > 0 { Some(&rec[..vb]) } else { None })
}
