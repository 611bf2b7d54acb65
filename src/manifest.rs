//! The manifest of an index directory (file `MANIFEST`): which segments are live.
//! Replaced atomically: written as MANIFEST.tmp, fsynced, renamed, directory
//! fsynced (the storage layer's write_atomic).

use crate::error::Result;
use crate::format::manifest::{self, Manifest};
use crate::io::Storage;
use std::path::Path;

pub const FILE_NAME: &str = "MANIFEST";

pub fn load(storage: &dyn Storage, dir: &Path) -> Result<Manifest> {
    let p = dir.join(FILE_NAME);
    manifest::decode(&p, &storage.read_all(&p)?)
}

pub fn store(storage: &dyn Storage, dir: &Path, m: &Manifest) -> Result<()> {
    storage.write_atomic(&dir.join(FILE_NAME), &manifest::encode(m))
}
