//! Memory: a few progressions and melodic motifs the composer has played, kept so that it
//! can bring them back, varied, minutes later. Fixed-size, so remembering never allocates.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::PHRASE_BARS;

/// Entries kept; the oldest is forgotten first.
const SLOTS: usize = 4;
/// Grid slots in a motif (a 2-bar cell of half beats).
pub const MOTIF_SLOTS: usize = 16;
/// A memory is brought back only once it is at least this old, seconds.
const MIN_AGE_SEC: f64 = 100.0;

/// A melodic motif: which slots of a cell start a note, and each note's distance in scale
/// steps from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Motif {
    /// Onsets on the cell's grid.
    pub rhythm: [bool; MOTIF_SLOTS],
    /// Scale steps from the first note, one per onset in order.
    pub contour: [i8; MOTIF_SLOTS],
    /// Notes in the motif.
    pub len: u8,
}

/// One remembered phrase: its chords (per bar) and its opening motif.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memento {
    /// Vocabulary index of each bar's chord.
    pub chords: [u8; PHRASE_BARS],
    /// Whether the chords are of the minor vocabulary.
    pub minor: bool,
    /// The melody's first motif.
    pub motif: Motif,
    /// Composer time at which it was played, seconds.
    pub at_sec: f64,
}

/// The composer's memory.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    slots: [Option<Memento>; SLOTS],
    next: usize,
}

impl Memory {
    /// Remembers `memento`, forgetting the oldest entry if full.
    pub fn remember(&mut self, memento: Memento) {
        self.slots[self.next] = Some(memento);
        self.next = (self.next + 1) % SLOTS;
    }

    /// A memory old enough to return at `now_sec`, in `minor` or major, chosen at random; or
    /// `None`.
    pub fn recall(&self, now_sec: f64, minor: bool, rng: &mut ChaCha8Rng) -> Option<Memento> {
        let ripe = |m: &&Memento| m.minor == minor && now_sec - m.at_sec >= MIN_AGE_SEC;
        let count = self.slots.iter().flatten().filter(ripe).count();
        if count == 0 {
            return None;
        }
        let pick = rng.random_range(0..count);
        self.slots.iter().flatten().filter(ripe).nth(pick).copied()
    }
}

impl Motif {
    /// A variation: the same rhythm, its contour turned upside down (inversion) or shifted
    /// by one onset (the motif's tail kept, its head displaced), or left alone.
    pub fn varied(&self, rng: &mut ChaCha8Rng) -> Motif {
        let mut out = *self;
        match rng.random_range(0..3) {
            0 => {
                for step in &mut out.contour[..usize::from(self.len)] {
                    *step = -*step;
                }
            }
            1 => {
                // Rhythmic displacement by one half beat (the last slot wraps to the first).
                out.rhythm.rotate_right(1);
                if out.rhythm[0] && !self.rhythm[0] {
                    // The wrapped onset now comes first: move its step to the front.
                    out.contour[..usize::from(self.len)].rotate_right(1);
                }
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn memento(at_sec: f64, minor: bool) -> Memento {
        Memento {
            chords: [0, 0, 3, 3, 2, 2, 0, 0],
            minor,
            motif: Motif::default(),
            at_sec,
        }
    }

    #[test]
    fn recalls_only_ripe_memories_of_the_mode() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut memory = Memory::default();
        memory.remember(memento(0.0, true));
        assert!(memory.recall(50.0, true, &mut rng).is_none());
        assert!(memory.recall(150.0, false, &mut rng).is_none());
        assert!(memory.recall(150.0, true, &mut rng).is_some());
        for k in 0..10 {
            memory.remember(memento(1_000.0 + f64::from(k), true));
        }
        assert!(
            memory.recall(1_050.0, true, &mut rng).is_none(),
            "old one forgotten"
        );
    }
}
