//! Fit of an implant against a bone: intersection as solids, penetration depth and volume,
//! clearance, per-vertex signed distance, contact fraction and a verdict.
//!
//! In: two meshes in millimetres (implant, bone) and [`FitOptions`]. Out: a [`FitReport`].
//!
//! * **Signed distance** of every implant vertex to the bone: exact distance, sign from the
//!   bone's pseudo-normals ([`crate::SignedIndex`]), negative inside the bone.
//! * **Intersection as solids**: the surfaces cross (exact triangle–triangle tests over two
//!   BVHs), or an implant point lies inside the bone, or a bone point inside the implant — so
//!   an implant entirely inside the bone intersects.
//! * **Maximum penetration**: the largest depth of an implant *surface* point below the bone
//!   surface, found by branch and bound over the implant triangles (see `depth`),
//!   certified to [`FitOptions::depth_tolerance_mm`], with the implant point and the bone
//!   point it is measured to.
//! * **Penetration volume**: the volume of the intersection solid `implant ∩ bone`, exactly
//!   (up to f64 rounding), by the divergence theorem over its boundary: the part of each
//!   implant triangle inside the bone and of each bone triangle inside the implant. On a
//!   plane triangle `x·n` is constant, so `V = ⅓ Σ (n·a) A_in`, and the inside area `A_in`
//!   is a line integral (Green) over the intersection segments and the inside pieces of the
//!   triangle's edges — no re-triangulation. Coplanar touching faces are left out (counted).
//! * **Clearance**: the smallest distance between the two surfaces with both closest points
//!   (exact triangle–triangle distance over a BVH pair walk); zero when they intersect.
//! * **Contact fraction**: of the implant's bone-facing area (triangles whose normal opposes
//!   the bone's normal at the closest points by more than [`FitOptions::facing_angle_deg`]),
//!   the fraction whose signed distance lies in the clearance band, measured on the
//!   piecewise-linear interpolant of the vertex distances (exact where the distance is
//!   linear over a triangle, as over a flat bone face).
//!
//! Meshes that are not closed 2-manifold solids (open, non-manifold, inconsistent winding)
//! get a warning: solid tests are unreliable there, so the report keeps the surface-only
//! numbers (unsigned distances, surface crossing, clearance) and leaves depth and volume out.
//!
//! Speed: one bounding-volume hierarchy per mesh serves every stage (`near`); the bone's
//! covers only the triangles near the implant's box (a query it cannot vouch for goes to a
//! tree over the whole bone, built on first need), so a plate on a long bone does not pay
//! for the whole bone. Work whose answer is already decided is skipped: the depth search
//! sees only triangles with a corner inside or met by the bone surface; on a cut edge the
//! pieces next to a corner take the corner's side; bone triangles away from the implant
//! surface are decided one connected part at a time. Independent stages run side by side:
//! the vertex distances beside the crossing test, containment beside clearance, the depth
//! search beside the volume and the contact fraction.
//!
//! Cost (measured on `plate_pushed.stl` / `plate_gap.stl` against `bone.stl`: 4 940 and
//! 32 592 triangles, one thread, times per stage): the two indexes 7 ms (trees 1.4 ms over the
//! implant and 2.3 ms over the 11 100 bone triangles near it, edge tables 0.4 and 1.4 ms),
//! the 2 472 vertex distances 3.6 ms (38 node visits and 12 triangle tests a query), the
//! crossing test 1.9 ms (40 k node pairs for 4 603 box-overlapping triangle pairs), the depth
//! search 10.6 ms (2 620 starting triangles, 5 910 evaluations, 36 k triangle distances for
//! the bounds; later, on an idle machine, 7.3 ms before and 6.0 ms after the neighbour
//! candidates and the clipping test of [`crate::maximize`], one thread, min of 20), the
//! volume 2.4 ms; without contact (`plate_gap`) the clearance costs 6 ms
//! (58 k node pairs: a plate that follows the bone at a constant gap leaves every facing pair
//! within the bound). Two threads halve the sum. What sets the cost is exactness with
//! reproducible answers: among equally close triangles (a closest point on a shared vertex)
//! the first one met is named, that name seeds the depth search's bounds, so the tree
//! shapes, walk orders, warm-start hints and search order are fixed and only the arithmetic
//! around them is trimmed: trees built without a second copy of the corners (boxes filled in
//! afterwards, one comparator per axis), closest points that hand their feature to the sign
//! instead of finding it again, triangle corners for the depth bounds read from the tree's
//! record (not three vertex lookups), crossing and clearance walks that push only pairs
//! still in reach, clearance searches that share their best distance and skip triangle-pair
//! candidates whose plane distance already exceeds it, edge tables sorted and checked per
//! vertex in parallel (a vertex's own group decides whether its edges are paired), lists
//! sized before they are filled. Together, one thread, same run at load 3–5, min of 30:
//! 22.9 → 21.6 ms (`plate_pushed`), 19.0 → 18.1 ms (`plate_gap`). Tried and dropped: a
//! branch-free choice of the nearer child in the closest-point walk (7 % slower), no
//! transparent huge pages in the allocator (`MIMALLOC_ALLOW_THP=0`: fit on two threads
//! 13.1 → 13.9 ms, page faults ×15).

use std::borrow::Cow;

use osteon_geom::{Cancel, DVec3, NeverCancel, NoProgress, Progress};
use osteon_mesh::Mesh;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geometry::{normal, segment_crosses, triangle_crossing, Crossing, Tri};
use crate::maximize::{candidates, maximize, Field};
use crate::near::Tree;
use crate::signed::{SignedIndex, SolidCheck};
use crate::{check_mesh, FitError};

/// Options of [`fit`]: thresholds of the verdict and measurement settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct FitOptions {
    /// Fail when the maximum penetration depth can exceed this, mm (`None`: not checked):
    /// the check passes only when the depth plus its certified tolerance
    /// ([`FitReport::max_penetration_certified_mm`]) stays within it.
    pub max_penetration_mm: Option<f64>,
    /// The planned gap band `[min, max]`, mm, for the contact fraction.
    pub clearance_mm: [f64; 2],
    /// Fail when the minimum clearance is below the band's minimum.
    pub check_clearance: bool,
    /// Fail when the contact fraction is below this (0..1; `None`: not checked).
    pub min_contact: Option<f64>,
    /// An implant triangle faces the bone when its normal and the bone's normal at the
    /// closest points make more than `180° − facing_angle_deg`, degrees.
    pub facing_angle_deg: f64,
    /// Compute the penetration volume (needs both meshes to be solids).
    pub penetration_volume: bool,
    /// Tolerance of the certified maximum penetration, mm.
    pub depth_tolerance_mm: f64,
    /// Most point evaluations the depth search may spend.
    pub max_depth_evaluations: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            max_penetration_mm: Some(0.0),
            clearance_mm: [0.1, 0.5],
            check_clearance: false,
            min_contact: None,
            facing_angle_deg: 60.0,
            penetration_volume: true,
            // 1 µm: far below print and scan resolution; 50 k evaluations stay well under
            // a second on real plates.
            depth_tolerance_mm: 1e-3,
            max_depth_evaluations: 50_000,
        }
    }
}

impl FitOptions {
    /// Sets [`FitOptions::max_penetration_mm`].
    pub fn with_max_penetration_mm(mut self, mm: Option<f64>) -> Self {
        self.max_penetration_mm = mm;
        self
    }
    /// Sets the band [`FitOptions::clearance_mm`].
    pub fn with_clearance_mm(mut self, min: f64, max: f64) -> Self {
        self.clearance_mm = [min, max];
        self
    }
    /// Sets [`FitOptions::check_clearance`].
    pub fn with_check_clearance(mut self, on: bool) -> Self {
        self.check_clearance = on;
        self
    }
    /// Sets [`FitOptions::min_contact`].
    pub fn with_min_contact(mut self, f: Option<f64>) -> Self {
        self.min_contact = f;
        self
    }
    /// Sets [`FitOptions::facing_angle_deg`].
    pub fn with_facing_angle_deg(mut self, deg: f64) -> Self {
        self.facing_angle_deg = deg;
        self
    }
    /// Sets [`FitOptions::penetration_volume`].
    pub fn with_penetration_volume(mut self, on: bool) -> Self {
        self.penetration_volume = on;
        self
    }
    /// Sets [`FitOptions::depth_tolerance_mm`].
    pub fn with_depth_tolerance_mm(mut self, mm: f64) -> Self {
        self.depth_tolerance_mm = mm;
        self
    }
    /// Sets [`FitOptions::max_depth_evaluations`].
    pub fn with_max_depth_evaluations(mut self, n: usize) -> Self {
        self.max_depth_evaluations = n;
        self
    }

    fn validate(&self) -> Result<(), FitError> {
        let bad = |s: String| Err(FitError::InvalidOption(s));
        let [lo, hi] = self.clearance_mm;
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return bad(format!("clearance band {lo}:{hi}: need finite MIN <= MAX"));
        }
        if let Some(m) = self.max_penetration_mm {
            if !(m.is_finite() && m >= 0.0) {
                return bad(format!("max penetration {m} mm: need a finite value >= 0"));
            }
        }
        if let Some(c) = self.min_contact {
            if !(0.0..=1.0).contains(&c) {
                return bad(format!("min contact {c}: need a fraction in 0..1"));
            }
        }
        if !(self.facing_angle_deg > 0.0 && self.facing_angle_deg <= 90.0) {
            return bad(format!(
                "facing angle {} deg: need 0 < angle <= 90",
                self.facing_angle_deg
            ));
        }
        if !(self.depth_tolerance_mm > 0.0 && self.depth_tolerance_mm.is_finite()) {
            return bad(format!(
                "depth tolerance {} mm: need a positive value",
                self.depth_tolerance_mm
            ));
        }
        Ok(())
    }
}

/// One threshold of the verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FitCheck {
    /// `max_penetration`, `min_clearance` or `min_contact`.
    pub name: String,
    /// The measured value (`None` when it could not be measured).
    pub value: Option<f64>,
    /// The limit.
    pub limit: f64,
    /// Whether the check passed.
    pub pass: bool,
    /// How the value was judged.
    pub note: String,
}

/// What [`fit`] found. Field names are the JSON keys; lengths mm, areas mm², volumes mm³,
/// points `[x, y, z]` mm in the meshes' frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FitReport {
    /// The implant and bone intersect as solids (crossing surfaces or containment).
    pub intersects: bool,
    /// The two surfaces cross.
    pub surfaces_cross: bool,
    /// Every implant vertex lies inside the bone and the surfaces do not cross.
    pub implant_inside_bone: bool,
    /// Some bone point lies inside the implant with the surfaces not crossing.
    pub bone_inside_implant: bool,
    /// Both meshes are closed solids, so the solid tests hold.
    pub solid_tests: bool,
    /// The implant's solid check.
    pub implant: SolidCheck,
    /// The bone's solid check.
    pub bone: SolidCheck,
    /// Largest depth of an implant surface point inside the bone (0 when none is), mm;
    /// `null` when the bone is not a solid.
    pub max_penetration_mm: Option<f64>,
    /// Where: the implant surface point.
    pub max_penetration_at: Option<[f64; 3]>,
    /// The bone surface point closest to it.
    pub max_penetration_bone_point: Option<[f64; 3]>,
    /// The true maximum lies within this above `max_penetration_mm`.
    pub max_penetration_certified_mm: Option<f64>,
    /// Volume of `implant ∩ bone`, mm³; `null` unless both are solids.
    pub penetration_volume_mm3: Option<f64>,
    /// Coplanar triangle pairs (touching faces) left out of the volume integral.
    pub coplanar_pairs: usize,
    /// Smallest distance between the two surfaces when the solids are apart; 0 when they
    /// intersect.
    pub min_clearance_mm: f64,
    /// Smallest distance between the two surfaces, whatever the containment (0 when they
    /// cross).
    pub surface_distance_mm: f64,
    /// The implant point of the smallest surface distance.
    pub clearance_implant_point: [f64; 3],
    /// The bone point of the smallest surface distance.
    pub clearance_bone_point: [f64; 3],
    /// Smallest and largest per-vertex signed distance of the implant, mm.
    pub signed_distance_range_mm: [f64; 2],
    /// The clearance band used, mm.
    pub clearance_band_mm: [f64; 2],
    /// Implant area facing the bone, mm².
    pub facing_area_mm2: f64,
    /// Facing area whose signed distance lies in the band, mm².
    pub contact_area_mm2: f64,
    /// Facing area inside the bone (signed distance below 0), mm².
    pub penetrating_area_mm2: f64,
    /// `contact_area / facing_area`; `null` when nothing faces the bone.
    pub contact_fraction: Option<f64>,
    /// The thresholds and their outcome.
    pub checks: Vec<FitCheck>,
    /// Every check passed.
    pub pass: bool,
    /// What limits the numbers (open meshes, coplanar contacts...).
    pub warnings: Vec<String>,
    /// Signed distance of every implant vertex to the bone, mm (negative inside; unsigned
    /// when the bone is not a solid). Not in the JSON: write it as a map.
    #[serde(skip)]
    pub signed_distance: Vec<f64>,
}

/// [`fit_with`] without progress or cancellation.
pub fn fit(implant: &Mesh, bone: &Mesh, opts: &FitOptions) -> Result<FitReport, FitError> {
    fit_with(implant, bone, opts, &NoProgress, &NeverCancel)
}

/// How far around the implant's box the bone's index reaches, mm: the implant vertices'
/// distances and every later query (implant surface points, bone points near the implant)
/// stay within it in practice; a query it cannot vouch for goes to a tree over the whole
/// bone (see [`SignedIndex::near`]).
fn bone_reach(ibox: &[DVec3; 2]) -> f64 {
    1.0 + 0.1 * (ibox[1] - ibox[0]).length()
}

/// Checks the fit of `implant` against `bone` (see the [module documentation](self)).
///
/// Errors: [`FitError::Empty`] / [`FitError::Mesh`] for an empty or invalid mesh,
/// [`FitError::InvalidOption`], [`FitError::Cancelled`].
pub fn fit_with(
    implant: &Mesh,
    bone: &Mesh,
    opts: &FitOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<FitReport, FitError> {
    opts.validate()?;
    progress.begin("fit", 5);
    check_mesh(implant, "implant")?;
    let vpos: Vec<DVec3> = implant.positions.iter().map(|p| p.as_dvec3()).collect();
    let used = used_vertices(implant);
    let ibox = bounds(&vpos, &used);
    let reach = bone_reach(&ibox);
    // One tree per mesh, shared by every stage; the bone's covers the implant's surroundings.
    let (ii, bi) = rayon::join(
        // The implant was validated above.
        || SignedIndex::near_valid(implant, None).map_err(|e| e.with_which("implant")),
        || {
            if bone.triangles.is_empty() {
                return Err(FitError::Empty { which: "bone" });
            }
            SignedIndex::near(bone, Some([ibox[0] - reach, ibox[1] + reach]))
                .map_err(|e| e.with_which("bone"))
        },
    );
    let (ii, bi) = (ii?, bi?);
    // Work on the outward-wound meshes.
    let implant_m: Cow<Mesh> = if ii.check().flipped {
        Cow::Owned(implant.flipped())
    } else {
        Cow::Borrowed(implant)
    };
    let bone_m: Cow<Mesh> = if bi.check().flipped {
        Cow::Owned(bone.flipped())
    } else {
        Cow::Borrowed(bone)
    };
    let (implant, bone) = (&*implant_m, &*bone_m);
    let bone_solid = bi.solid();
    let implant_solid = ii.solid();
    let mut warnings = Vec::new();
    for (which, idx) in [("implant", &ii), ("bone", &bi)] {
        let c = idx.check();
        if c.flipped {
            warnings.push(format!(
                "the {which} mesh is inside-out (negative volume): taken with reversed winding"
            ));
        }
        if !c.solid {
            warnings.push(format!(
                "the {which} mesh is not a closed solid ({}): solid tests are unreliable; {}",
                c.problem(),
                if which == "bone" {
                    "distances are unsigned, penetration depth and volume are not reported, \
                     intersection means crossing surfaces only"
                } else {
                    "the penetration volume and bone-inside-implant test are left out"
                }
            ));
        }
    }
    progress.advance(1);
    if cancel.is_cancelled() {
        return Err(FitError::Cancelled);
    }

    // 1. Signed distance of every implant vertex, and 2. crossing of the surfaces: triangle
    //    pairs whose boxes overlap (every bone triangle that can meet the implant lies in
    //    the bone tree's region). Independent of each other: side by side.
    let itree = ii.near_tree().0;
    let (btree, region) = bi.near_tree();
    // Corners in the outward winding (the trees keep the input's).
    let ic: Cow<[Tri]> = if ii.check().flipped {
        Cow::Owned(itree.ids.iter().map(|&t| corners_f64(implant, t)).collect())
    } else {
        Cow::Borrowed(&itree.corners)
    };
    let bc: Cow<[Tri]> = if bi.check().flipped {
        Cow::Owned(btree.ids.iter().map(|&t| corners_f64(bone, t)).collect())
    } else {
        Cow::Borrowed(&btree.corners)
    };
    let (vq, (pairs, crossings)) = rayon::join(
        || bi.query_many(&vpos),
        || {
            let pairs = itree.overlapping(btree);
            let crossings: Vec<Crossing> = pairs
                .par_iter()
                .map(|&(s, t)| triangle_crossing(&ic[s as usize], &bc[t as usize]))
                .collect();
            (pairs, crossings)
        },
    );
    let sd: Vec<f64> = vq.iter().map(|q| q.distance).collect();
    let near: Vec<u32> = vq.iter().map(|q| q.triangle).collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut nearest_v: Option<usize> = None;
    for (i, &d) in sd.iter().enumerate() {
        if !used[i] {
            continue;
        }
        lo = lo.min(d);
        hi = hi.max(d);
        if nearest_v.is_none_or(|n| d.abs() < sd[n].abs()) {
            nearest_v = Some(i);
        }
    }
    let nearest_v = nearest_v.unwrap_or(0);
    progress.advance(1);
    let coplanar_pairs = crossings
        .iter()
        .filter(|c| matches!(c, Crossing::Coplanar))
        .count();
    let segments: Vec<(u32, u32, DVec3, DVec3)> = pairs
        .iter()
        .zip(&crossings)
        .filter_map(|(&(s, t), c)| match c {
            Crossing::Segment(p, q) => Some((s, t, *p, *q)),
            _ => None,
        })
        .collect();
    let surfaces_cross = !segments.is_empty();
    progress.advance(1);
    if cancel.is_cancelled() {
        return Err(FitError::Cancelled);
    }

    // 3. Containment and 4. clearance (side by side).
    let any_vertex_inside = bone_solid && used.iter().zip(&sd).any(|(&u, &d)| u && d < 0.0);
    let implant_inside_bone =
        bone_solid && !surfaces_cross && used.iter().zip(&sd).all(|(&u, &d)| !u || d < 0.0);
    let clearance = || {
        if surfaces_cross {
            // A crossing point: the segment of the first (implant, bone) triangle pair by
            // id, whatever the trees' layout.
            let &(_, _, p, q) = segments
                .iter()
                .min_by_key(|c| (itree.ids[c.0 as usize], btree.ids[c.1 as usize]))
                .expect("surfaces cross");
            (0.0, (p + q) * 0.5, (p + q) * 0.5)
        } else {
            // The closest pair of triangles, bounded by the closest vertex.
            let v = &vq[nearest_v];
            let start = (v.distance.abs(), vpos[nearest_v], v.closest);
            // A bone triangle closer than `start` to the implant lies within the region
            // when the region reaches that far around the implant's box.
            let covered = region.is_some_and(|r| {
                (ibox[0] - r[0]).min_element() >= start.0
                    && (r[1] - ibox[1]).min_element() >= start.0
            });
            let other = if covered { btree } else { bi.full_tree() };
            match itree.closest_pair(other, start.0) {
                Some((d, p, q)) if d < start.0 => (d, p, q),
                _ => start,
            }
        }
    };
    let (bone_inside_implant, (surface_distance, cp_i, cp_b)) = rayon::join(
        || implant_solid && !surfaces_cross && bone_inside(bone, &ii, &ibox, coplanar_pairs > 0),
        clearance,
    );
    let intersects = surfaces_cross || any_vertex_inside || bone_inside_implant;
    let min_clearance = if intersects { 0.0 } else { surface_distance };
    progress.advance(1);
    if cancel.is_cancelled() {
        return Err(FitError::Cancelled);
    }

    // 5. Maximum penetration (bone solid), 6. penetration volume and 7. contact fraction:
    //    independent, side by side.
    let depth = || {
        if bone_solid && !intersects {
            // No crossing and no vertex inside: no implant surface point is inside the bone.
            return (
                Some((0.0, vpos[nearest_v], vq[nearest_v].closest, 0.0)),
                None,
            );
        }
        if !bone_solid {
            return (None, None);
        }
        let start_point = if surfaces_cross {
            cp_i
        } else {
            vpos[nearest_v]
        };
        // Only triangles with a corner inside the bone or met by its surface can hold a
        // point below it; the others lie outside (depth <= 0 <= the start value).
        let mut met = vec![false; implant.triangles.len()];
        for (&(s, _), c) in pairs.iter().zip(&crossings) {
            if !matches!(c, Crossing::None) {
                met[itree.ids[s as usize] as usize] = true;
            }
        }
        // The depth is -sd: a corner inside the bone has a positive value.
        let tris = candidates(
            &implant.triangles,
            &vpos,
            |i| -sd[i as usize],
            |i| vq[i as usize].triangle,
            |k, _, v| met[k] || v.iter().any(|&x| x > 0.0),
        );
        let m = maximize(
            &Depth(&bi),
            &tris,
            if intersects { 0.0 } else { f64::NEG_INFINITY },
            start_point,
            opts.depth_tolerance_mm,
            opts.max_depth_evaluations,
        );
        let depth = m.value.max(0.0);
        let at = m.point;
        let bone_point = bi.query(at).closest;
        let warning = (m.gap > opts.depth_tolerance_mm * 1.0001).then(|| {
            format!(
                "the maximum penetration is certified only to {:.4} mm (evaluation budget of {} \
                 reached: {} points evaluated)",
                m.gap, opts.max_depth_evaluations, m.evaluations
            )
        });
        (Some((depth, at, bone_point, m.gap)), warning)
    };
    let volume = || {
        if !(bone_solid && implant_solid && opts.penetration_volume) {
            return None;
        }
        Some(if !intersects {
            0.0
        } else if implant_inside_bone {
            ii.check().volume_mm3
        } else {
            intersection_volume(&Sides {
                implant,
                bone,
                ii: &ii,
                bi: &bi,
                itree,
                btree,
                ic: &ic,
                bc: &bc,
                sd: &sd,
                near: &near,
                segments: &segments,
                pairs: &pairs,
                ibox: &ibox,
            })
        })
    };
    let cos_facing = opts.facing_angle_deg.to_radians().cos();
    let [blo, bhi] = opts.clearance_mm;
    let contact = || {
        implant
            .triangles
            .par_iter()
            .map(|t| {
                let c = t.map(|i| vpos[i as usize]);
                let n = normal(&c);
                let area = 0.5 * n.length();
                if area == 0.0 {
                    return (0.0, 0.0, 0.0);
                }
                let bn: DVec3 = t
                    .iter()
                    .map(|&i| vq[i as usize].normal.normalize_or_zero())
                    .sum::<DVec3>()
                    .normalize_or_zero();
                if n.normalize().dot(bn) > -cos_facing {
                    return (0.0, 0.0, 0.0);
                }
                let s = t.map(|i| sd[i as usize]);
                let band = frac_below(s, bhi) - frac_below_strict(s, blo);
                let pen = if bone_solid {
                    frac_below_strict(s, 0.0)
                } else {
                    0.0
                };
                (area, area * band, area * pen)
            })
            .collect::<Vec<_>>()
            .iter()
            .fold((0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    };
    let ((max_pen, depth_warning), (volume, (facing, contact, penetrating))) =
        rayon::join(depth, || rayon::join(volume, contact));
    warnings.extend(depth_warning);
    if volume.is_some() && coplanar_pairs > 0 {
        warnings.push(format!(
            "{coplanar_pairs} coplanar triangle pair(s) touch: their overlap is left out of the penetration volume"
        ));
    }
    let contact_fraction = (facing > 0.0).then(|| contact / facing);
    progress.advance(1);
    if cancel.is_cancelled() {
        return Err(FitError::Cancelled);
    }

    // 8. Verdict.
    let mut checks = Vec::new();
    if let Some(limit) = opts.max_penetration_mm {
        let (value, pass, note) = match max_pen {
            // The true maximum lies in [d, d + gap]: the check holds only when the whole
            // range is within the limit.
            Some((d, _, _, gap)) => (
                Some(d),
                d + gap <= limit,
                if d <= limit && d + gap > limit {
                    format!(
                        "largest implant depth below the bone surface: certified only within \
                         {gap:.4} mm, a range that reaches past the limit"
                    )
                } else {
                    "largest implant depth below the bone surface".to_string()
                },
            ),
            None => (
                None,
                !surfaces_cross,
                "bone is not a solid: depth unknown, judged by crossing surfaces".to_string(),
            ),
        };
        checks.push(FitCheck {
            name: "max_penetration".into(),
            value,
            limit,
            pass,
            note,
        });
    }
    if opts.check_clearance {
        checks.push(FitCheck {
            name: "min_clearance".into(),
            value: Some(min_clearance),
            limit: blo,
            pass: min_clearance >= blo,
            note: "smallest surface distance (0 when intersecting) against the band minimum".into(),
        });
    }
    if let Some(limit) = opts.min_contact {
        checks.push(FitCheck {
            name: "min_contact".into(),
            value: contact_fraction,
            limit,
            pass: contact_fraction.is_some_and(|c| c >= limit),
            note: format!("fraction of the bone-facing area within {blo}..{bhi} mm"),
        });
    }
    let pass = checks.iter().all(|c| c.pass);
    progress.finish();
    Ok(FitReport {
        intersects,
        surfaces_cross,
        implant_inside_bone,
        bone_inside_implant,
        solid_tests: bone_solid && implant_solid,
        implant: ii.check().clone(),
        bone: bi.check().clone(),
        max_penetration_mm: max_pen.map(|m| m.0),
        max_penetration_at: max_pen.map(|m| m.1.to_array()),
        max_penetration_bone_point: max_pen.map(|m| m.2.to_array()),
        max_penetration_certified_mm: max_pen.map(|m| m.3),
        penetration_volume_mm3: volume,
        coplanar_pairs,
        min_clearance_mm: min_clearance,
        surface_distance_mm: surface_distance,
        clearance_implant_point: cp_i.to_array(),
        clearance_bone_point: cp_b.to_array(),
        signed_distance_range_mm: [lo, hi],
        clearance_band_mm: opts.clearance_mm,
        facing_area_mm2: facing,
        contact_area_mm2: contact,
        penetrating_area_mm2: penetrating,
        contact_fraction,
        checks,
        pass,
        warnings,
        signed_distance: sd,
    })
}

/// Which vertices some triangle uses.
pub(crate) fn used_vertices(m: &Mesh) -> Vec<bool> {
    let mut used = vec![false; m.positions.len()];
    for t in &m.triangles {
        for &i in t {
            used[i as usize] = true;
        }
    }
    used
}

fn bounds(p: &[DVec3], used: &[bool]) -> [DVec3; 2] {
    let mut b = [DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)];
    for (q, &u) in p.iter().zip(used) {
        if u {
            b[0] = b[0].min(*q);
            b[1] = b[1].max(*q);
        }
    }
    b
}

fn in_box(p: DVec3, b: &[DVec3; 2], m: f64) -> bool {
    p.cmpge(b[0] - m).all() && p.cmple(b[1] + m).all()
}

fn tri_box_overlap(t: &Tri, b: &[DVec3; 2], m: f64) -> bool {
    let lo = t[0].min(t[1]).min(t[2]);
    let hi = t[0].max(t[1]).max(t[2]);
    lo.cmple(b[1] + m).all() && hi.cmpge(b[0] - m).all()
}

/// Fraction of a triangle's area where the linear interpolant of `s` is `<= h`.
pub(crate) fn frac_below(s: [f64; 3], h: f64) -> f64 {
    let mut v = s;
    v.sort_by(f64::total_cmp);
    let [a, b, c] = v;
    if h < a {
        0.0
    } else if h >= c {
        1.0
    } else if h <= b {
        if b > a {
            (h - a) * (h - a) / ((b - a) * (c - a))
        } else {
            0.0
        }
    } else {
        1.0 - (c - h) * (c - h) / ((c - a) * (c - b))
    }
}

/// Fraction where the interpolant is `< h` (equal to [`frac_below`] except on flat parts).
fn frac_below_strict(s: [f64; 3], h: f64) -> f64 {
    if s.iter().all(|&x| x == h) {
        0.0
    } else {
        frac_below(s, h)
    }
}

/// Some bone point lies inside the implant, the surfaces not crossing. Without crossing
/// (and without coplanar touching faces, `touching`), a connected part of the bone surface
/// lies wholly inside or wholly outside the implant: one vertex (off the implant's surface)
/// per connected part whose box lies within the implant's box decides. With coplanar faces,
/// every bone vertex in the implant's box is tested.
fn bone_inside(bone: &Mesh, ii: &SignedIndex, ibox: &[DVec3; 2], touching: bool) -> bool {
    let inside_box = |p: DVec3| in_box(p, ibox, 0.0);
    if touching {
        return bone.positions.par_iter().any(|p| {
            let p = p.as_dvec3();
            inside_box(p) && ii.inside(p)
        });
    }
    let nv = bone.positions.len();
    let mut parent: Vec<u32> = (0..nv as u32).collect();
    for t in &bone.triangles {
        for &v in &t[1..] {
            let (a, b) = (find(&mut parent, t[0]), find(&mut parent, v));
            // The smaller index becomes the root: the labelling is order-independent.
            let (r, c) = if a < b { (a, b) } else { (b, a) };
            parent[c as usize] = r;
        }
    }
    let used = used_vertices(bone);
    // Per root: all its vertices within the implant's box.
    let mut boxed = vec![true; nv];
    for (v, (&u, p)) in used.iter().zip(&bone.positions).enumerate() {
        if u && !inside_box(p.as_dvec3()) {
            let r = find(&mut parent, v as u32);
            boxed[r as usize] = false;
        }
    }
    let mut decided = vec![false; nv];
    for (v, (&u, p)) in used.iter().zip(&bone.positions).enumerate() {
        if !u {
            continue;
        }
        let r = find(&mut parent, v as u32) as usize;
        if !boxed[r] || decided[r] {
            continue;
        }
        let d = ii.query(p.as_dvec3()).distance;
        if d < 0.0 {
            return true;
        }
        if d > 0.0 {
            decided[r] = true;
        }
    }
    false
}

/// Root of `v` in a union-find forest (path halving).
fn find(parent: &mut [u32], mut v: u32) -> u32 {
    while parent[v as usize] != v {
        let g = parent[parent[v as usize] as usize];
        parent[v as usize] = g;
        v = g;
    }
    v
}

/// Corners of triangle `t` in f64.
fn corners_f64(m: &Mesh, t: u32) -> Tri {
    m.corners(t as usize).map(|p| p.as_dvec3())
}

/// What [`intersection_volume`] works on: both meshes (outward wound), their indices and
/// trees, corners per tree slot, the implant vertices' distances and nearest bone
/// triangles, the crossing segments and box-overlapping pairs (slots, sorted).
struct Sides<'a> {
    implant: &'a Mesh,
    bone: &'a Mesh,
    ii: &'a SignedIndex,
    bi: &'a SignedIndex,
    itree: &'a Tree,
    btree: &'a Tree,
    ic: &'a [Tri],
    bc: &'a [Tri],
    sd: &'a [f64],
    near: &'a [u32],
    segments: &'a [(u32, u32, DVec3, DVec3)],
    pairs: &'a [(u32, u32)],
    ibox: &'a [DVec3; 2],
}

/// Items grouped by key `0..n` (a counting sort; the order within a group is kept): the
/// start of every group and the items.
fn group<T: Copy + Default>(
    n: usize,
    items: impl Iterator<Item = (u32, T)> + Clone,
) -> (Vec<u32>, Vec<T>) {
    let mut first = vec![0u32; n + 1];
    for (k, _) in items.clone() {
        first[k as usize + 1] += 1;
    }
    for k in 0..n {
        first[k + 1] += first[k];
    }
    let mut fill = first.clone();
    let mut out = vec![T::default(); first[n] as usize];
    for (k, v) in items {
        out[fill[k as usize] as usize] = v;
        fill[k as usize] += 1;
    }
    (first, out)
}

/// Volume of `implant ∩ bone` by the divergence theorem over its boundary.
///
/// Which parts of a triangle are inside the other solid: an uncut triangle is wholly in or
/// out (its corners' signs decide when they agree, else one query); on a cut triangle's
/// edge, the pieces next to a corner take that corner's side (no crossing lies between),
/// and only pieces between two crossings are queried. Bone triangles no implant triangle's
/// box reaches are grouped into connected parts (shared vertices) and one query decides
/// each part.
fn intersection_volume(w: &Sides) -> f64 {
    let origin = (w.ibox[0] + w.ibox[1]) * 0.5;
    let (ni, nb) = (w.itree.len(), w.btree.len());
    // Segments and partners per slot of either side.
    let (seg_i_first, seg_i) = group(ni, w.segments.iter().map(|&(s, _, p, q)| (s, (p, q))));
    let (seg_b_first, seg_b) = group(nb, w.segments.iter().map(|&(_, t, p, q)| (t, (q, p))));
    let (nb_i_first, nb_i) = group(ni, w.pairs.iter().map(|&(s, t)| (s, t)));
    let (nb_b_first, nb_b) = group(nb, w.pairs.iter().map(|&(s, t)| (t, s)));
    let range = |f: &[u32], k: usize| f[k] as usize..f[k + 1] as usize;

    // Implant triangles inside the bone.
    let vol_i: f64 = (0..ni)
        .into_par_iter()
        .map(|s| {
            let t = &w.ic[s];
            let tid = w.itree.ids[s] as usize;
            let segs = &seg_i[range(&seg_i_first, s)];
            let partners = &nb_i[range(&nb_i_first, s)];
            let hint = partners
                .first()
                .map_or(w.near[w.implant.triangles[tid][0] as usize], |&b| {
                    w.btree.ids[b as usize]
                });
            let sv = w.implant.triangles[tid].map(|i| w.sd[i as usize]);
            let area_in = if segs.is_empty() {
                let [a, b, c] = sv;
                if a < 0.0 && b < 0.0 && c < 0.0 {
                    1.0
                } else if a > 0.0 && b > 0.0 && c > 0.0 {
                    0.0
                } else if w.bi.inside_near((t[0] + t[1] + t[2]) / 3.0, hint) {
                    1.0
                } else {
                    0.0
                }
            } else {
                -1.0
            };
            let ends = sv.map(|d| (d != 0.0).then_some(d < 0.0));
            piece_volume(t, area_in, segs, partners, w.bc, ends, w.bi, origin, hint)
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();

    // Bone triangles inside the implant. Partnerless triangles in the implant's box: one
    // query per connected part.
    let bverts = |t: usize| w.bone.triangles[w.btree.ids[t] as usize];
    let lonely =
        |t: usize| range(&nb_b_first, t).is_empty() && tri_box_overlap(&w.bc[t], w.ibox, 0.0);
    let mut part: Vec<u32> = (0..nb as u32).collect();
    {
        let mut owner = vec![u32::MAX; w.bone.positions.len()];
        for t in 0..nb {
            if !lonely(t) {
                continue;
            }
            for v in bverts(t) {
                let o = owner[v as usize];
                if o == u32::MAX {
                    owner[v as usize] = t as u32;
                } else {
                    let (a, b) = (find(&mut part, o), find(&mut part, t as u32));
                    let (r, c) = if a < b { (a, b) } else { (b, a) };
                    part[c as usize] = r;
                }
            }
        }
        for t in 0..nb {
            part[t] = find(&mut part, t as u32);
        }
    }
    // Side of each part's root (the smallest slot), and of every corner of a cut triangle.
    let roots: Vec<u32> = (0..nb)
        .filter(|&t| lonely(t) && part[t] == t as u32)
        .map(|t| t as u32)
        .collect();
    let root_in: Vec<bool> = roots
        .par_iter()
        .map(|&t| {
            let c = &w.bc[t as usize];
            w.ii.inside((c[0] + c[1] + c[2]) / 3.0)
        })
        .collect();
    let mut side = vec![false; nb];
    for (&t, &inside) in roots.iter().zip(&root_in) {
        side[t as usize] = inside;
    }
    let mut corner_of_cut: Vec<(u32, u32)> = (0..nb)
        .filter(|&t| !range(&seg_b_first, t).is_empty())
        .flat_map(|t| {
            let hint = nb_b[nb_b_first[t] as usize];
            bverts(t).map(|v| (v, w.itree.ids[hint as usize]))
        })
        .collect();
    corner_of_cut.sort_unstable();
    corner_of_cut.dedup_by_key(|c| c.0);
    let corner_side: Vec<Option<bool>> = corner_of_cut
        .par_iter()
        .map(|&(v, hint)| {
            let d =
                w.ii.query_near(w.bone.positions[v as usize].as_dvec3(), hint)
                    .distance;
            (w.ii.solid() && d != 0.0).then_some(d < 0.0)
        })
        .collect();
    let side_of = |v: u32| {
        corner_of_cut
            .binary_search_by_key(&v, |c| c.0)
            .ok()
            .and_then(|k| corner_side[k])
    };
    let vol_b: f64 = (0..nb)
        .into_par_iter()
        .map(|s| {
            let t = &w.bc[s];
            let segs = &seg_b[range(&seg_b_first, s)];
            let partners = &nb_b[range(&nb_b_first, s)];
            let hint = partners.first().map_or(0, |&i| w.itree.ids[i as usize]);
            let area_in = if !segs.is_empty() {
                -1.0
            } else if !tri_box_overlap(t, w.ibox, 0.0) {
                0.0
            } else if partners.is_empty() {
                f64::from(u8::from(side[part[s] as usize]))
            } else if w.ii.inside_near((t[0] + t[1] + t[2]) / 3.0, hint) {
                1.0
            } else {
                0.0
            };
            let ends = if segs.is_empty() {
                [None; 3]
            } else {
                bverts(s).map(side_of)
            };
            piece_volume(t, area_in, segs, partners, w.ic, ends, w.ii, origin, hint)
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    vol_i + vol_b
}

/// `⅓ (n·(a − o)) A_in` for triangle `t`: `whole` is 1 (all inside), 0 (all outside) or
/// negative (cut: integrate the segments and the inside pieces of its edges). `ends`: the
/// side of each corner when known (`Some(true)`: inside `other`). `hint`: a triangle of
/// `other` near `t`.
#[allow(clippy::too_many_arguments)]
fn piece_volume(
    t: &Tri,
    whole: f64,
    segs: &[(DVec3, DVec3)],
    partners: &[u32],
    partner_corners: &[Tri],
    ends: [Option<bool>; 3],
    other: &SignedIndex,
    origin: DVec3,
    hint: u32,
) -> f64 {
    let n = normal(t);
    let len = n.length();
    if len == 0.0 {
        return 0.0;
    }
    let nh = n / len;
    let area = 0.5 * len;
    let area_in = if whole >= 0.0 {
        whole * area
    } else {
        let o = t[0];
        let mut va = DVec3::ZERO;
        for &(p, q) in segs {
            va += (p - o).cross(q - o);
        }
        let mut params: Vec<f64> = Vec::with_capacity(8);
        for k in 0..3 {
            let (u, v) = (t[k], t[(k + 1) % 3]);
            params.clear();
            params.push(0.0);
            params.push(1.0);
            for &b in partners {
                if let Some(s) = segment_crosses(u, v, &partner_corners[b as usize]) {
                    params.push(s);
                }
            }
            params.sort_by(f64::total_cmp);
            params.dedup();
            let last = params.len() - 2;
            for (j, w) in params.windows(2).enumerate() {
                let (s0, s1) = (w[0], w[1]);
                // A piece next to a corner lies on the corner's side.
                let known = match (j == 0, j == last) {
                    (true, _) if ends[k].is_some() => ends[k],
                    (_, true) => ends[(k + 1) % 3],
                    _ => None,
                };
                let inside = known
                    .unwrap_or_else(|| other.inside_near(u + (v - u) * (0.5 * (s0 + s1)), hint));
                if inside {
                    va += (u + (v - u) * s0 - o).cross(u + (v - u) * s1 - o);
                }
            }
        }
        (0.5 * nh.dot(va)).clamp(0.0, area)
    };
    nh.dot(t[0] - origin) * area_in / 3.0
}

/// The depth below the bone, `−sd(x)`, as the maximiser sees it.
struct Depth<'a>(&'a SignedIndex);

impl Field for Depth<'_> {
    fn eval(&self, x: DVec3, hint: u32) -> (f64, u32) {
        let q = self.0.query_near(x, hint);
        (-q.distance, q.triangle)
    }
    fn dist_to(&self, b: u32, x: DVec3) -> f64 {
        self.0.triangle_distance(b, x)
    }
    fn neighbours_toward(&self, b: u32, x: DVec3) -> [Option<Tri>; 3] {
        self.0.edge_neighbours_toward(b, x)
    }
    // An exact closest-point query: the hint only speeds it up.
    const SHARE_MIDPOINTS: bool = true;
    // `-q.distance` is ± the length of `x − closest point` on `q.triangle`, which is what
    // `triangle_distance` computes (same corners, same closest-point arithmetic).
    const VALUE_IS_DISTANCE: bool = true;
}
