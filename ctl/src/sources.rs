//! Where each parameter's value comes from: the built-in default, the config file, or a
//! change made at run time (which the daemon saves and restores until it is reset).
//!
//! The daemon keeps only the run-time changes ([`ParamChanges`]: the values that differ
//! from the config's), so an edited config is not silently beaten by an old saved value of
//! a parameter nobody changed, and `ambientctl reset` has something exact to undo.

use serde::{Deserialize, Serialize};

use crate::params::{Key, Param, ParamError, SynthesisParameters};

/// Where one value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The built-in default (the config file does not change it).
    #[default]
    Default,
    /// The config file's `[music]`.
    Config,
    /// Changed at run time (`set`, the web page); saved, and kept over the config's value
    /// across restarts until `ambientctl reset`.
    Changed,
}

impl Source {
    /// How `status` names it.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Config => "config",
            Source::Changed => "changed at run time",
        }
    }
}

/// Where each parameter in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct ParamSources {
    pub key: Source,
    pub bpm: Source,
    pub intensity: Source,
    pub seed: Source,
}

impl ParamSources {
    /// The sources of `now`, given the config's values (`config`, built-in defaults where
    /// the file is silent).
    pub fn of(now: &SynthesisParameters, config: &SynthesisParameters) -> ParamSources {
        let builtin = SynthesisParameters::default();
        let source = |param| {
            if now.get_as_string(param) != config.get_as_string(param) {
                Source::Changed
            } else if config.get_as_string(param) != builtin.get_as_string(param) {
                Source::Config
            } else {
                Source::Default
            }
        };
        ParamSources {
            key: source(Param::Key),
            bpm: source(Param::Bpm),
            intensity: source(Param::Intensity),
            seed: source(Param::Seed),
        }
    }

    /// One parameter's source.
    pub fn get(&self, param: Param) -> Source {
        match param {
            Param::Key => self.key,
            Param::Bpm => self.bpm,
            Param::Intensity => self.intensity,
            Param::Seed => self.seed,
        }
    }
}

/// The run-time changes: the values that differ from the config's, the rest absent. This is
/// what the daemon saves (as TOML: `bpm = 80`), and lays over the config at start.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ParamChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpm: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intensity: Option<f32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::exact::deserialize_optional_seed"
    )]
    pub seed: Option<u64>,
}

impl ParamChanges {
    /// The values of `now` that differ from `config`.
    pub fn between(config: &SynthesisParameters, now: &SynthesisParameters) -> ParamChanges {
        ParamChanges {
            key: (now.key() != config.key()).then_some(now.key()),
            bpm: (now.bpm() != config.bpm()).then_some(now.bpm()),
            intensity: (now.intensity() != config.intensity()).then_some(now.intensity()),
            seed: (now.seed() != config.seed()).then_some(now.seed()),
        }
    }

    /// `config` with these changes laid over it; a saved value out of range is an error
    /// naming the parameter and the range.
    pub fn over(&self, config: &SynthesisParameters) -> Result<SynthesisParameters, ParamError> {
        SynthesisParameters::new(
            self.key.unwrap_or(config.key()),
            self.bpm.unwrap_or(config.bpm()),
            self.intensity.unwrap_or(config.intensity()),
            self.seed.unwrap_or(config.seed()),
        )
    }

    /// The parameters changed, in display order.
    pub fn params(&self) -> Vec<Param> {
        let set = [
            self.key.is_some(),
            self.bpm.is_some(),
            self.intensity.is_some(),
            self.seed.is_some(),
        ];
        Param::ALL
            .into_iter()
            .zip(set)
            .filter_map(|(param, set)| set.then_some(param))
            .collect()
    }

    /// Whether nothing differs from the config.
    pub fn is_empty(&self) -> bool {
        self.params().is_empty()
    }
}

/// `params` with `param` (or every parameter, for `None`) put back to `config`'s value.
pub fn reset(
    params: &SynthesisParameters,
    config: &SynthesisParameters,
    param: Option<Param>,
) -> SynthesisParameters {
    let mut next = *params;
    let reset_one = |next: &mut SynthesisParameters, param| match param {
        Param::Key => next.set_key(config.key()),
        // The config's values are valid, so these setters cannot fail.
        Param::Bpm => next.set_bpm(config.bpm()).unwrap_or(()),
        Param::Intensity => next.set_intensity(config.intensity()).unwrap_or(()),
        Param::Seed => next.set_seed(config.seed()),
    };
    match param {
        Some(param) => reset_one(&mut next, param),
        None => Param::ALL.into_iter().for_each(|p| reset_one(&mut next, p)),
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(key: &str, bpm: u16, intensity: f32, seed: u64) -> SynthesisParameters {
        SynthesisParameters::new(key.parse().unwrap(), bpm, intensity, seed).unwrap()
    }

    #[test]
    fn sources_tell_default_config_and_changed_apart() {
        let config = params("A minor", 72, 0.5, 0);
        let now = params("D minor", 72, 0.5, 0);
        let sources = ParamSources::of(&now, &config);
        assert_eq!(sources.key, Source::Changed);
        assert_eq!(sources.bpm, Source::Config);
        assert_eq!(sources.intensity, Source::Default);
        assert_eq!(sources.seed, Source::Default);
    }

    #[test]
    fn changes_keep_only_what_differs_and_lay_back_over_a_new_config() {
        let config = params("A minor", 70, 0.5, 0);
        let now = params("A minor", 80, 0.5, 0);
        let changes = ParamChanges::between(&config, &now);
        assert_eq!(changes.params(), vec![Param::Bpm]);
        assert_eq!(toml::to_string(&changes).unwrap().trim(), "bpm = 80");
        // The operator edits the config's key: the run-time bpm stays, the new key shows.
        let edited = params("E minor", 70, 0.5, 0);
        assert_eq!(
            changes.over(&edited).unwrap(),
            params("E minor", 80, 0.5, 0)
        );
    }

    #[test]
    fn a_saved_value_out_of_range_names_the_parameter() {
        let changes: ParamChanges = toml::from_str("bpm = 400").unwrap();
        let error = changes.over(&SynthesisParameters::default()).unwrap_err();
        assert!(error.to_string().contains("bpm"), "{error}");
    }

    #[test]
    fn reset_puts_back_one_or_all() {
        let config = params("A minor", 70, 0.5, 0);
        let now = params("D minor", 90, 0.2, 7);
        assert_eq!(
            reset(&now, &config, Some(Param::Bpm)),
            params("D minor", 70, 0.2, 7)
        );
        assert_eq!(reset(&now, &config, None), config);
    }
}
