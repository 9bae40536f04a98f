//! A provided-buffer ring (io_uring `IORING_REGISTER_PBUF_RING`, Linux 5.19): a pool of
//! fixed-size receive buffers the kernel picks from when a multishot receive completes,
//! so a shard keeps one receive armed per socket and never submits per packet.
//!
//! The ring is an array of `(addr, len, bid)` entries shared with the kernel; we own
//! the tail, the kernel the head. A completion names the buffer it filled by its
//! buffer ID (`bid`); from then on the buffer is ours until we [`BufRing::recycle`]
//! it and [`BufRing::publish`] the new tail. Buffers may come back in any order (a
//! buffer written to TUN returns when the write completes), which the ring allows:
//! an entry is just "this buffer is free now".
//!
//! Each buffer sits in a `slot` of `slot_size` bytes; the kernel is given
//! `slot[headroom..slot_size - tailroom]`, so a packet read from TUN has room in front
//! for the L2TP/ESP headers and behind for the ESP trailer, and is encapsulated in
//! place (`dataplane::tx`).
//!
//! Memory: the entry array is an anonymous page-aligned mapping (the kernel requires
//! page alignment); the buffers are one heap allocation made at startup.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

/// A registered provided-buffer ring and its buffers.
pub struct BufRing {
    entries: *mut BufRingEntry,
    map_len: usize,
    count: u16,
    tail: u16,
    bgid: u16,
    slots: Box<[u8]>,
    slot_size: usize,
    headroom: usize,
    tailroom: usize,
}

// Safety: the mapping is owned by this value and only touched through `&mut self`
// (or by the kernel); moving it to the shard thread that uses it is sound.
unsafe impl Send for BufRing {}

impl BufRing {
    /// `count` buffers (a power of two, at most 32768) of `slot_size` bytes each.
    pub fn new(
        count: u16,
        slot_size: usize,
        headroom: usize,
        tailroom: usize,
        bgid: u16,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer count must be a power of two up to 32768",
            ));
        }
        if slot_size <= headroom + tailroom || slot_size > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer size too small for its headroom and tailroom",
            ));
        }
        let map_len = usize::from(count) * size_of::<BufRingEntry>();
        // Safety: anonymous private mapping, no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Filled with a non-zero byte (not calloc'd zeroes, which the kernel maps
        // lazily) so every page is faulted in at startup, not on the hot path.
        let slots = vec![0x5au8; usize::from(count) * slot_size].into_boxed_slice();
        let mut ring = BufRing {
            entries: ptr.cast(),
            map_len,
            count,
            tail: 0,
            bgid,
            slots,
            slot_size,
            headroom,
            tailroom,
        };
        for bid in 0..count {
            ring.recycle(bid);
        }
        Ok(ring)
    }

    /// Registers the ring with `uring` and makes every buffer available.
    pub fn register(&mut self, uring: &IoUring) -> io::Result<()> {
        // Safety: the mapping holds `count` entries and lives until `self` is dropped,
        // which unregisters it first (or the ring is destroyed before: see Drop).
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                self.entries as u64,
                self.count,
                self.bgid,
                0,
            )?;
        }
        self.publish();
        Ok(())
    }

    /// The buffer group ID receives name to draw from this ring.
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// Bytes the kernel may write into one buffer.
    pub fn buffer_len(&self) -> usize {
        self.slot_size - self.headroom - self.tailroom
    }

    /// Where in its slot the kernel starts writing.
    pub fn headroom(&self) -> usize {
        self.headroom
    }

    /// The whole slot of buffer `bid` (headroom, buffer and tailroom).
    #[inline]
    pub fn slot_mut(&mut self, bid: u16) -> &mut [u8] {
        let start = usize::from(bid & (self.count - 1)) * self.slot_size;
        &mut self.slots[start..start + self.slot_size]
    }

    /// Address of byte `offset` of slot `bid`, for SQEs that reference it until they
    /// complete (the slot is not reused before [`BufRing::recycle`]).
    #[inline]
    pub fn slot_ptr(&mut self, bid: u16, offset: usize) -> *mut u8 {
        let start = usize::from(bid & (self.count - 1)) * self.slot_size;
        debug_assert!(offset <= self.slot_size);
        // Safety: start + offset is within `slots` (offset <= slot_size).
        unsafe { self.slots.as_mut_ptr().add(start + offset) }
    }

    /// Gives buffer `bid` back to the kernel (visible after [`BufRing::publish`]).
    #[inline]
    pub fn recycle(&mut self, bid: u16) {
        let bid = bid & (self.count - 1);
        let addr = self.slot_ptr(bid, self.headroom) as u64;
        let len = self.buffer_len() as u32;
        let index = usize::from(self.tail & (self.count - 1));
        // Safety: `index < count`, within the mapping; the kernel does not read an entry
        // between head and our unpublished tail. Only addr/len/bid are written: the
        // `resv` field of entry 0 is the shared tail.
        unsafe {
            let entry = &mut *self.entries.add(index);
            entry.set_addr(addr);
            entry.set_len(len);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes recycled buffers to the kernel (one release store).
    #[inline]
    pub fn publish(&self) {
        // Safety: the tail field lives in the mapping, is naturally aligned, and the
        // kernel reads it with acquire semantics; AtomicU16 has u16's layout.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast_mut();
            (*tail.cast::<AtomicU16>()).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // The owner drops its IoUring first (see `shard::Shard`'s field order), which
        // releases the kernel's reference; unmapping then is safe either way because
        // an unregistered or destroyed ring no longer touches the memory.
        // Safety: the mapping was created in `new` with this length.
        unsafe {
            libc::munmap(self.entries.cast(), self.map_len);
        }
    }
}
