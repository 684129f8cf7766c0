//! Shared memory between the plugin and its helper process: a sealed, sparse memfd mapped
//! by both sides. Frames (RGB8) and results (low-resolution logits) are written into it and
//! the socket message only says what is there. Frames and results have disjoint areas (the
//! layout is in [`crate::protocol`]): the plugin may write a frame the helper asked for
//! ahead while the helper writes a result, and each area has one writer whose reader reads
//! only after the message that announces it.
//!
//! The memfd is sealed against shrinking and growing before it is shared, and a received
//! one is refused unless it carries those seals: a misbehaving peer can then never make
//! our mapping fault (SIGBUS) by truncating the file under it.
use crate::error::{Error, Result};
use memmap2::{MmapMut, MmapOptions};
use rustix::fs::{MemfdFlags, SealFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Size of each connection's shared region (result area, then frame area: see
/// [`crate::protocol`]). Sparse: only the pages written use memory (an 8-bit RGB 4K frame
/// touches 25 MB).
pub const SHM_BYTES: usize = crate::protocol::REGION_BYTES;

/// A mapped shared region.
pub struct Shm {
    map: MmapMut,
    fd: OwnedFd,
}

fn os(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Protocol(format!("shared memory: {what}: {e}"))
}

impl Shm {
    /// A new sealed region of `len` bytes.
    pub fn create(len: usize) -> Result<Self> {
        let fd =
            rustix::fs::memfd_create("samurai-roto", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).map_err(|e| os("memfd_create", e))?;
        rustix::fs::ftruncate(&fd, len as u64).map_err(|e| os("ftruncate", e))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL).map_err(|e| os("seal", e))?;
        Self::map(fd, len)
    }

    /// Maps a region received from the peer, after checking its seals and size.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        let seals = rustix::fs::fcntl_get_seals(&fd).map_err(|e| os("not a sealed memfd", e))?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
            return Err(Error::Protocol("shared memory: the region is not sealed against resizing".into()));
        }
        let len = rustix::fs::fstat(&fd).map_err(|e| os("fstat", e))?.st_size;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l > 0 && *l <= SHM_BYTES)
            .ok_or_else(|| Error::Protocol(format!("shared memory: region of {len} bytes (at most {SHM_BYTES})")))?;
        Self::map(fd, len)
    }

    fn map(fd: OwnedFd, len: usize) -> Result<Self> {
        // SAFETY: the memfd is sealed against shrinking (checked or set above), so the
        // mapping stays backed for its whole length; each area of the region has one writer
        // and its reader reads only after the message announcing what was written (the
        // protocol's layout), and all access goes through bounds-checked slices of `map`.
        let map = unsafe { MmapOptions::new().len(len).map_mut(&fd) }.map_err(|e| os("mmap", e))?;
        Ok(Shm { map, fd })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// `len` bytes at `offset`, checked against the region.
    pub fn get(&self, offset: usize, len: usize) -> Result<&[u8]> {
        let end = offset.checked_add(len).filter(|e| *e <= self.map.len()).ok_or_else(|| self.out_of_range(offset, len))?;
        Ok(&self.map[offset..end])
    }

    /// Writable `len` bytes at `offset`, checked against the region.
    pub fn get_mut(&mut self, offset: usize, len: usize) -> Result<&mut [u8]> {
        let end = offset.checked_add(len).filter(|e| *e <= self.map.len()).ok_or_else(|| self.out_of_range(offset, len))?;
        Ok(&mut self.map[offset..end])
    }

    fn out_of_range(&self, offset: usize, len: usize) -> Error {
        Error::Protocol(format!("shared memory: {len} bytes at {offset} do not fit the {}-byte region", self.map.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_shared_sealed_and_bounds_checked() {
        let mut a = Shm::create(1 << 20).unwrap();
        let dup = a.fd().try_clone_to_owned().unwrap();
        let b = Shm::from_fd(dup).unwrap();
        a.get_mut(100, 3).unwrap().copy_from_slice(&[1, 2, 3]);
        assert_eq!(b.get(100, 3).unwrap(), &[1, 2, 3]);
        assert!(b.get(1 << 20, 1).is_err());
        assert!(b.get(usize::MAX, 2).is_err());
        assert!(rustix::fs::ftruncate(a.fd(), 10).is_err(), "sealed against shrinking");
        // An unsealed memfd is refused.
        let plain = rustix::fs::memfd_create("x", MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&plain, 4096).unwrap();
        assert!(Shm::from_fd(plain).err().expect("refused").to_string().contains("sealed"));
    }
}
