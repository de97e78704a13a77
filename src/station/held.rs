//! Parameter changes held back from listeners until they are saved: a listener's `params`
//! is the answer to a WebSocket `set`, and an answer promises the change is on disk (or the
//! setter is told that saving failed), as the control socket's reply does.

use std::collections::VecDeque;
use std::sync::Mutex;

use ambientctl::SynthesisParameters;

/// Changes waiting for the saving thread, in the order they were queued. Bounded: with
/// changes coming faster than the disk, dropping the oldest only delays a release to the
/// next save, which covers them (the saving thread writes the latest values).
const HELD_MAX: usize = 256;

/// Accepted changes not yet saved, each with the number the saving thread gave it.
#[derive(Debug, Default)]
pub struct Held {
    queue: Mutex<VecDeque<(u64, SynthesisParameters)>>,
}

impl Held {
    /// Holds `params`, change number `number`, until the saving thread has handled it.
    pub fn hold(&self, number: u64, params: SynthesisParameters) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() == HELD_MAX {
            queue.pop_front();
        }
        queue.push_back((number, params));
    }

    /// The latest change the saving thread has handled (`through`: its last number), which
    /// listeners may now hear of; earlier ones are forgotten (the latest is in force).
    pub fn release(&self, through: u64) -> Option<SynthesisParameters> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut released = None;
        while let Some(&(number, params)) = queue.front() {
            if number > through {
                break;
            }
            released = Some(params);
            queue.pop_front();
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(bpm: u16) -> SynthesisParameters {
        SynthesisParameters::new(Default::default(), bpm, 0.5, 0).unwrap()
    }

    #[test]
    fn only_saved_changes_are_released_and_the_latest_wins() {
        let held = Held::default();
        assert_eq!(held.release(10), None);
        held.hold(1, at(61));
        held.hold(2, at(62));
        held.hold(3, at(63));
        assert_eq!(held.release(0), None, "nothing saved yet");
        assert_eq!(held.release(2), Some(at(62)), "the latest saved one");
        assert_eq!(held.release(2), None, "each release once");
        assert_eq!(held.release(3), Some(at(63)));
        for number in 0..1000 {
            held.hold(10 + number, at(70));
        }
        assert_eq!(held.release(2000), Some(at(70)), "bounded, the latest kept");
    }
}
