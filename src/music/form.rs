//! Form above the phrase: sections of 5–15 minutes, each with its own plan of density,
//! brightness, register and texture, and the arc every phrase draws inside its section.
//!
//! A section rises from thin to full and falls back (a slow sine over its length), so an hour
//! has several swells and ebbs rather than one flat wall. Each phrase gets a [`PhraseShape`]
//! from where it falls in its section: how full it is, which voices play, how deep its own
//! thin → swell → thin arc is. The shape also drives a slow fader in the post stage
//! ([`PhraseShape::swell_db`]), the conductor's hand that lets the music breathe.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Shortest and longest section, seconds.
const SECTION_MIN_SEC: f64 = 300.0;
const SECTION_MAX_SEC: f64 = 720.0;

/// The plan of one section, drawn when it begins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    /// Length, seconds.
    pub length_sec: f64,
    /// How full its fullest phrase is, 0.45..=1.
    pub density: f32,
    /// Added to the intensity for filter corners and FM brightness, -0.2..=0.2.
    pub brightness: f32,
    /// Melody register shift, in scale steps (-2..=2).
    pub register: i32,
    /// Chance that a phrase has the bass, the lead, the shimmer.
    pub bass: f32,
    /// See `bass`.
    pub lead: f32,
    /// See `bass`.
    pub shimmer: f32,
    /// Depth of each phrase's swell, dB.
    pub depth_db: f32,
}

impl Default for Section {
    fn default() -> Self {
        Section {
            length_sec: SECTION_MIN_SEC,
            density: 0.8,
            brightness: 0.0,
            register: 0,
            bass: 0.8,
            lead: 0.85,
            shimmer: 0.5,
            depth_db: 5.0,
        }
    }
}

impl Section {
    fn draw(rng: &mut ChaCha8Rng) -> Self {
        Section {
            length_sec: rng.random_range(SECTION_MIN_SEC..SECTION_MAX_SEC),
            density: rng.random_range(0.55..1.0),
            brightness: rng.random_range(-0.15..0.15),
            register: rng.random_range(-2..=2),
            bass: rng.random_range(0.55..0.95),
            lead: rng.random_range(0.65..0.95),
            shimmer: rng.random_range(0.3..0.9),
            depth_db: rng.random_range(3.0..5.5),
        }
    }
}

/// How one phrase is to be played: fullness, texture and its arc.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhraseShape {
    /// How full the phrase is, 0..=1 (the section's arc times its density).
    pub energy: f32,
    /// Brightness offset on the intensity (the section's).
    pub brightness: f32,
    /// Melody register shift, scale steps.
    pub register: i32,
    /// Whether the bass plays.
    pub bass: bool,
    /// Whether the lead plays (a phrase without it is a rest for the melody).
    pub lead: bool,
    /// Whether the high shimmer layer plays.
    pub shimmer: bool,
    /// First phrase of a section.
    pub opening: bool,
    /// Last phrase of a section: it closes with a full cadence and ebbs away.
    pub ending: bool,
    /// Depth of the phrase's swell, dB.
    pub depth_db: f32,
    /// The phrase's level within the section, dB (thin phrases are quieter).
    pub level_db: f32,
    /// Where in the phrase the swell peaks, 0.4..=0.7 of the way.
    pub peak: f32,
}

impl Default for PhraseShape {
    fn default() -> Self {
        PhraseShape {
            energy: 0.7,
            brightness: 0.0,
            register: 0,
            bass: true,
            lead: true,
            shimmer: true,
            opening: false,
            ending: false,
            depth_db: 5.0,
            level_db: 0.0,
            peak: 0.55,
        }
    }
}

impl PhraseShape {
    /// The phrase's arc at `x` (0 = first downbeat, 1 = end): 0 at the edges, 1 at the
    /// swell (`peak`, around the middle, a little later or earlier from phrase to phrase, so
    /// the breathing is not a metronome).
    pub fn arc(&self, x: f64) -> f32 {
        let x = x.clamp(0.0, 1.0);
        let peak = f64::from(self.peak).clamp(0.2, 0.8);
        // Skewed sine: the peak at x = `peak`.
        let warped = if x < peak {
            x / peak * 0.5
        } else {
            0.5 + (x - peak) / (1.0 - peak) * 0.5
        };
        (std::f64::consts::PI * warped).sin().powf(1.3) as f32
    }

    /// The post stage's fader at `x` through the phrase, dB: the arc's depth below the
    /// swell, plus the phrase's level in its section. An ending phrase ebbs further at its
    /// close. Centred so that a typical phrase averages about 0 dB in power.
    pub fn swell_db(&self, x: f64) -> f32 {
        let mut depth = self.depth_db;
        if self.ending && x > f64::from(self.peak) {
            depth += 3.0;
        }
        self.level_db + depth * (self.arc(x) - 1.0) + 0.45 * self.depth_db
    }
}

/// The section planner: where the music is in its section, and the section's plan.
#[derive(Debug, Clone)]
pub struct Form {
    section: Section,
    /// Seconds of the section already composed.
    elapsed_sec: f64,
    /// Sections begun (0 until the first phrase).
    sections: u64,
}

impl Default for Form {
    fn default() -> Self {
        Form {
            section: Section::default(),
            elapsed_sec: 0.0,
            sections: 0,
        }
    }
}

impl Form {
    /// The section playing now.
    pub fn section(&self) -> &Section {
        &self.section
    }

    /// Sections begun so far.
    pub fn sections(&self) -> u64 {
        self.sections
    }

    /// The shape of the next phrase, `phrase_sec` long, `intensity` as asked; advances the
    /// plan by the phrase.
    pub fn next(&mut self, phrase_sec: f64, intensity: f32, rng: &mut ChaCha8Rng) -> PhraseShape {
        if self.sections == 0 || self.elapsed_sec + 0.5 * phrase_sec >= self.section.length_sec {
            self.section = Section::draw(rng);
            self.elapsed_sec = 0.0;
            self.sections += 1;
        }
        let section = self.section;
        let opening = self.elapsed_sec == 0.0;
        let ending = self.elapsed_sec + 1.5 * phrase_sec >= section.length_sec;
        let position = ((self.elapsed_sec + 0.5 * phrase_sec) / section.length_sec).min(1.0);
        let arc = (std::f64::consts::PI * position).sin().powf(0.8) as f32;
        let energy = (section.density * (0.3 + 0.7 * arc)).clamp(0.0, 1.0);
        // Voices join as the section fills: the bass and lead need some energy, and the
        // lead rests more often when the section is thin. Intensity raises the chances.
        let lift = 0.15 * intensity;
        let mut chance = |p: f32| rng.random::<f32>() < p;
        let bass = !opening && energy > 0.3 && chance(section.bass + lift);
        let lead = !opening && chance(section.lead * (0.55 + 0.6 * energy) + lift);
        let shimmer = chance(section.shimmer * (0.4 + energy) + lift);
        let peak = rng.random_range(0.4..0.7);
        self.elapsed_sec += phrase_sec;
        PhraseShape {
            energy,
            brightness: section.brightness,
            register: section.register,
            bass,
            lead,
            shimmer,
            opening,
            ending,
            depth_db: section.depth_db,
            level_db: -4.0 * (1.0 - energy),
            peak,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_arc_rises_and_falls() {
        let shape = PhraseShape::default();
        assert!(shape.arc(0.0) < 1e-6 && shape.arc(1.0) < 1e-6);
        assert!((shape.arc(0.55) - 1.0).abs() < 1e-6);
        assert!(shape.arc(0.3) > shape.arc(0.1));
    }

    #[test]
    fn sections_last_five_to_twelve_minutes_and_phrases_follow_their_arc() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut form = Form::default();
        let mut energies = Vec::new();
        let mut lengths = Vec::new();
        let mut last = 0;
        for _ in 0..2000 {
            let shape = form.next(27.4, 0.5, &mut rng);
            if form.sections() != last {
                lengths.push(form.section().length_sec);
                last = form.sections();
            }
            energies.push(shape.energy);
        }
        assert!(lengths.len() > 5);
        assert!(lengths.iter().all(|&l| (300.0..=720.0).contains(&l)));
        let low = energies.iter().cloned().fold(1.0, f32::min);
        let high = energies.iter().cloned().fold(0.0, f32::max);
        assert!(high - low > 0.4, "energy from {low} to {high}");
    }
}
