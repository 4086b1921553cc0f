//! Material profiles for FDM printing: temperatures, filament, extrusion and speeds.
//!
//! Profiles are JSON files (every field below; see `crates/slice/profiles/*.json`). Three are
//! built in: `peek` (PEEK for implants and guides, needing a 400 °C nozzle and a heated
//! chamber), `pla` and `petg` (test prints).

use serde::{Deserialize, Serialize};

use crate::SliceError;

/// A material profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(deny_unknown_fields)]
pub struct MaterialProfile {
    /// Human-readable name.
    pub name: String,
    /// Material family (PEEK, PLA, PETG…).
    pub material: String,
    /// Nozzle temperature, °C.
    pub nozzle_temp_c: f64,
    /// Nozzle temperature of the first layer, °C.
    pub first_layer_nozzle_temp_c: f64,
    /// Bed temperature, °C.
    pub bed_temp_c: f64,
    /// Bed temperature of the first layer, °C.
    pub first_layer_bed_temp_c: f64,
    /// Heated chamber temperature, °C (`None`: no chamber command).
    pub chamber_temp_c: Option<f64>,
    /// Part cooling fan, % (after the first layer).
    pub fan_percent: f64,
    /// Part cooling fan on the first layer, %.
    pub first_layer_fan_percent: f64,
    /// Filament diameter, mm.
    pub filament_diameter_mm: f64,
    /// Density, g/cm³.
    pub density_g_cm3: f64,
    /// Flow multiplier.
    pub extrusion_multiplier: f64,
    /// Extrusion width, mm.
    pub extrusion_width_mm: f64,
    /// Number of perimeters.
    pub perimeters: u32,
    /// Sparse infill density, 0..=1.
    pub infill_density: f64,
    /// Infill direction, degrees from +x (alternates sign every layer).
    pub infill_angle_deg: f64,
    /// Solid layers under every top surface.
    pub top_layers: u32,
    /// Solid layers over every bottom surface.
    pub bottom_layers: u32,
    /// Perimeter speed, mm/s.
    pub perimeter_speed_mm_s: f64,
    /// Infill speed, mm/s.
    pub infill_speed_mm_s: f64,
    /// Speed of every move on the first layer, mm/s.
    pub first_layer_speed_mm_s: f64,
    /// Travel speed, mm/s.
    pub travel_speed_mm_s: f64,
    /// Retraction length, mm of filament.
    pub retract_length_mm: f64,
    /// Retraction speed, mm/s.
    pub retract_speed_mm_s: f64,
    /// Travels shorter than this do not retract, mm.
    pub retract_min_travel_mm: f64,
}

const BUILTIN: [(&str, &str); 3] = [
    ("peek", include_str!("../profiles/peek.json")),
    ("pla", include_str!("../profiles/pla.json")),
    ("petg", include_str!("../profiles/petg.json")),
];

impl Default for MaterialProfile {
    fn default() -> Self {
        MaterialProfile::builtin("pla").expect("the built-in PLA profile parses")
    }
}

impl MaterialProfile {
    /// Names of the built-in profiles.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in profile by name (`peek`, `pla`, `petg`, case-insensitive).
    pub fn builtin(name: &str) -> Result<MaterialProfile, SliceError> {
        let text = BUILTIN
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                SliceError::Profile(format!(
                    "no built-in profile '{name}' (built in: {})",
                    Self::builtin_names().join(", ")
                ))
            })?;
        Self::from_json(text)
    }

    /// Parses and checks a JSON profile.
    pub fn from_json(text: &str) -> Result<MaterialProfile, SliceError> {
        let p: MaterialProfile =
            serde_json::from_str(text).map_err(|e| SliceError::Profile(e.to_string()))?;
        p.check()?;
        Ok(p)
    }

    /// Checks that every value is in range.
    pub fn check(&self) -> Result<(), SliceError> {
        let bad =
            |what: &str, v: f64| Err(SliceError::Profile(format!("{what} out of range: {v}")));
        for (what, v) in [
            ("filament_diameter_mm", self.filament_diameter_mm),
            ("density_g_cm3", self.density_g_cm3),
            ("extrusion_multiplier", self.extrusion_multiplier),
            ("extrusion_width_mm", self.extrusion_width_mm),
            ("perimeter_speed_mm_s", self.perimeter_speed_mm_s),
            ("infill_speed_mm_s", self.infill_speed_mm_s),
            ("first_layer_speed_mm_s", self.first_layer_speed_mm_s),
            ("travel_speed_mm_s", self.travel_speed_mm_s),
            ("retract_speed_mm_s", self.retract_speed_mm_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(what, v);
            }
        }
        if !(0.0..=1.0).contains(&self.infill_density) {
            return bad("infill_density", self.infill_density);
        }
        for (what, v) in [
            ("nozzle_temp_c", self.nozzle_temp_c),
            ("first_layer_nozzle_temp_c", self.first_layer_nozzle_temp_c),
            ("bed_temp_c", self.bed_temp_c),
            ("first_layer_bed_temp_c", self.first_layer_bed_temp_c),
            ("retract_length_mm", self.retract_length_mm),
            ("retract_min_travel_mm", self.retract_min_travel_mm),
        ] {
            if !(v.is_finite() && (0.0..=500.0).contains(&v)) {
                return bad(what, v);
            }
        }
        for (what, v) in [
            ("fan_percent", self.fan_percent),
            ("first_layer_fan_percent", self.first_layer_fan_percent),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return bad(what, v);
            }
        }
        Ok(())
    }
}
