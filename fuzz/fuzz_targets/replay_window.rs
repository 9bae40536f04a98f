#![no_main]
//! The ESP anti-replay window against a model that remembers every accepted sequence
//! number, over arbitrary sequences of check / commit / ESN-inference events.

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use shardvpn::proto::esp::{ReplayError, ReplayWindow};

type Window = ReplayWindow<3>;

fuzz_target!(|data: &[u8]| {
    let mut window = Window::new();
    let mut seen = BTreeSet::new();
    let mut top = 0u64;
    for chunk in data.chunks_exact(5) {
        let op = chunk[0];
        let delta = u64::from(u32::from_be_bytes([chunk[1], chunk[2], chunk[3], chunk[4]]));
        // Mostly near the top of the window, sometimes anywhere.
        let seq = match op % 4 {
            0 => top.saturating_add(delta % 64),
            1 => top.saturating_sub(delta % 256),
            2 => delta,
            _ => {
                let low = delta as u32;
                match window.infer_esn(low) {
                    Some(full) => {
                        assert_eq!(full as u32, low);
                        full
                    }
                    None => continue,
                }
            }
        };
        let expected = if seq == 0 {
            Err(ReplayError::Zero)
        } else if seq > top {
            Ok(())
        } else if top - seq >= Window::SIZE {
            Err(ReplayError::TooOld)
        } else if seen.contains(&seq) {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        };
        assert_eq!(window.check(seq), expected);
        if op & 0x80 != 0 {
            assert_eq!(window.commit(seq), expected);
            if expected.is_ok() {
                seen.insert(seq);
                top = top.max(seq);
            }
        }
        assert_eq!(window.highest(), top);
    }
});
