//! Offset, shell, thicken and wrap: a narrow-band field, marching cubes, projection onto the
//! exact level set, splitting of stray triangles, vertices and edges on creases (`crease`),
//! untangling, and a measured report.

use std::collections::BTreeMap;
use std::time::Instant;

use osteon_geom::{Cancel, Progress};
use osteon_iso::{extract_field, ExtractOptions};
use osteon_mesh::Mesh;
use osteon_volume::fill_cavities;

use crate::crease::{crease, Scale};
use crate::field::{band_field, check_budget, grid_for, Shape};
use crate::measure::measure;
use crate::project::{project_vertices, refine, separate_coincident, Projector};
use crate::untangle::untangle;
use crate::{
    OffsetError, OffsetReport, SdfError, SdfOptions, ShellSide, SignMethod, SignedDistance,
    DEFAULT_VOXELS_PER_DIAGONAL,
};

/// Cell (in voxels) of the spatial groups that share candidate triangles in the projection's
/// and the measurement's closest-point queries (`many`).
pub(crate) const GROUP_CELL_VOXELS: f64 = 4.0;
/// Bytes a voxel of the offset/shell/thicken field (one f32).
const FIELD_BYTES: u64 = 4;
/// Bytes a voxel of wrap: the f32 field, the u8 shell mask and its filled copy, and the
/// cavity filler's run bookkeeping (a conservative 4 more).
const WRAP_BYTES: u64 = 10;

/// The voxel size for `mesh`: the option, or the diagonal / 256 coarsened until a grid padded
/// by `reach` fits the budget at `bytes` a voxel.
pub(crate) fn choose_voxel(
    mesh: &Mesh,
    opts: &SdfOptions,
    reach: f64,
    bytes: u64,
) -> Result<(f64, Vec<String>), SdfError> {
    let b = mesh.bounds().ok_or(SdfError::Empty)?;
    if let Some(v) = opts.voxel_mm {
        return Ok((v, Vec::new()));
    }
    let diag = f64::from(b.diagonal()).max(1e-3);
    let mut v = diag / DEFAULT_VOXELS_PER_DIAGONAL;
    let mut warnings = Vec::new();
    for _ in 0..64 {
        let g = padded_grid(mesh, opts, v, reach)?;
        let needed = (g.len() as u64).saturating_mul(bytes);
        if needed <= opts.max_memory_bytes {
            return Ok((v, warnings));
        }
        let f = (needed as f64 / opts.max_memory_bytes as f64).cbrt() * 1.02;
        v *= f.max(1.02);
        warnings = vec![format!(
            "default voxel coarsened to {v:.4} mm to fit the memory budget of {} bytes",
            opts.max_memory_bytes
        )];
    }
    Ok((v, warnings))
}

/// The grid of `voxel` over `mesh`'s box padded by `reach` plus the band and two voxels.
fn padded_grid(
    mesh: &Mesh,
    opts: &SdfOptions,
    voxel: f64,
    reach: f64,
) -> Result<osteon_volume::Grid, SdfError> {
    grid_for(mesh, voxel, reach + (opts.band_voxels + 2.0) * voxel)
}

/// [`padded_grid`], refused when its field at `bytes` a voxel exceeds the memory budget.
fn budgeted_grid(
    mesh: &Mesh,
    opts: &SdfOptions,
    voxel: f64,
    reach: f64,
    bytes: u64,
) -> Result<osteon_volume::Grid, SdfError> {
    let grid = padded_grid(mesh, opts, voxel, reach)?;
    check_budget(grid.dims, bytes, voxel, opts.max_memory_bytes)?;
    Ok(grid)
}

/// Checks the options and that `mesh` has triangles.
fn check_input(mesh: &Mesh, opts: &SdfOptions) -> Result<(), SdfError> {
    opts.validate()?;
    if mesh.triangles.is_empty() {
        return Err(SdfError::Empty);
    }
    Ok(())
}

/// The zero level set of `field` by marching cubes.
fn extract_zero(
    field: &osteon_volume::Volume<f32>,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<Mesh, SdfError> {
    let (mesh, _) = extract_field(field, 0.0, &ExtractOptions::default(), progress, cancel)
        .map_err(|e| match e {
            osteon_iso::IsoError::Cancelled => SdfError::Cancelled,
            e => SdfError::Iso(e),
        })?;
    Ok(mesh)
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// Removes the closed components of `mesh` that enclose less than `min_volume` (cavities or
/// specks below the grid's resolution: e.g. a pocket of the exact offset a hundredth of a voxel
/// wide). Returns how many it removed, and the components and cavity-bounding (negative
/// volume) components that remain.
fn drop_specks(mesh: &mut Mesh, min_volume: f64) -> Result<(usize, usize, usize), SdfError> {
    let (comp, n) = mesh.vertex_connected_components();
    let vol = component_volumes(mesh, &comp, n);
    let speck: Vec<bool> = vol.iter().map(|v| v.abs() < min_volume).collect();
    let mut removed = speck.iter().filter(|&&s| s).count();
    if removed == n {
        removed = 0;
    }
    let inner = vol
        .iter()
        .zip(&speck)
        .filter(|(&v, &s)| v < 0.0 && !(s && removed > 0))
        .count();
    if removed == 0 {
        return Ok((0, n, inner));
    }
    let tris: Vec<[u32; 3]> = mesh
        .triangles
        .iter()
        .zip(&comp)
        .filter(|(_, &c)| !speck[c as usize])
        .map(|(t, _)| *t)
        .collect();
    let mut map = vec![u32::MAX; mesh.positions.len()];
    let mut pos = Vec::with_capacity(mesh.positions.len());
    let tris = tris
        .into_iter()
        .map(|t| {
            t.map(|v| {
                if map[v as usize] == u32::MAX {
                    map[v as usize] = pos.len() as u32;
                    pos.push(mesh.positions[v as usize]);
                }
                map[v as usize]
            })
        })
        .collect();
    *mesh = Mesh::new(pos, tris).map_err(SdfError::Mesh)?;
    Ok((removed, n - removed, inner))
}

/// Signed volume of each component (`comp`: component per triangle).
fn component_volumes(mesh: &Mesh, comp: &[u32], n: usize) -> Vec<f64> {
    let mut vol = vec![0.0f64; n];
    let c = mesh
        .bounds()
        .map(|b| ((b.min + b.max) * 0.5).as_dvec3())
        .unwrap_or_default();
    for (t, tri) in mesh.triangles.iter().enumerate() {
        let p = |i: u32| mesh.positions[i as usize].as_dvec3() - c;
        let (a, b, d) = (p(tri[0]), p(tri[1]), p(tri[2]));
        if let Some(v) = vol.get_mut(comp[t] as usize) {
            *v += a.dot(b.cross(d)) / 6.0;
        }
    }
    vol
}

/// The shared pipeline after the input is prepared.
struct Job<'a> {
    sd: &'a SignedDistance,
    shape: Shape,
    operation: &'static str,
    distance: f64,
    voxel: f64,
    sign_name: String,
    warnings: Vec<String>,
    timings: BTreeMap<String, f64>,
}

impl Job<'_> {
    fn run(
        mut self,
        opts: &SdfOptions,
        grid: osteon_volume::Grid,
        progress: &dyn Progress,
        cancel: &dyn Cancel,
    ) -> Result<(Mesh, OffsetReport), SdfError> {
        let dims = grid.dims;
        let h = self.voxel;
        let t = Instant::now();
        let w = (opts.band_voxels * h) as f32;
        let field = band_field(self.sd, grid, self.shape, w, progress, cancel)?;
        *self.timings.entry("sdf".into()).or_default() += secs(t);
        let t = Instant::now();
        let mesh = extract_zero(&field, progress, cancel)?;
        drop(field);
        *self.timings.entry("extract".into()).or_default() += secs(t);
        self.finish(mesh, opts, dims, cancel)
    }

    fn finish(
        mut self,
        mut mesh: Mesh,
        opts: &SdfOptions,
        dims: [usize; 3],
        cancel: &dyn Cancel,
    ) -> Result<(Mesh, OffsetReport), SdfError> {
        let h = self.voxel;
        let t = Instant::now();
        let mut rolled_back_vertices = 0;
        let mut folded_faces = 0;
        let (mut crease_vertices, mut crease_flips) = (0, 0);
        let mut self_intersecting_faces = None;
        if opts.project {
            let pr = Projector {
                sd: self.sd,
                shape: self.shape,
                eps: (1e-3 * h) as f32,
            };
            let mut origin = mesh.positions.clone();
            let cell = (GROUP_CELL_VOXELS * h) as f32;
            let mut normals = project_vertices(&mut mesh, &pr, cell, cancel)?;
            let tol = (opts.refine_tolerance_voxel * h) as f32;
            refine(
                &mut mesh,
                &mut normals,
                &mut origin,
                &pr,
                tol,
                opts.refine_passes,
                cell,
                cancel,
            )?;
            self.timings.insert("project".into(), secs(t));
            let t = Instant::now();
            if opts.refine_passes > 0 {
                (crease_vertices, crease_flips) = crease(
                    &mut mesh,
                    &mut normals,
                    &mut origin,
                    &pr,
                    &Scale {
                        voxel: h as f32,
                        tol,
                        cell,
                    },
                    cancel,
                )?;
            }
            separate_coincident(&mut mesh, (1e-3 * h) as f32);
            self.timings.insert("crease".into(), secs(t));
            let t = Instant::now();
            let (folded, moved, left) = untangle(&mut mesh, &origin, &pr, cancel)?;
            folded_faces = folded;
            self.timings.insert("untangle".into(), secs(t));
            rolled_back_vertices = moved;
            self_intersecting_faces = Some(left);
            if left > 0 {
                self.warnings.push(format!(
                    "{left} triangles still intersect others after rolling {moved} vertices back toward the marching-cubes surface"
                ));
            }
        } else {
            self.timings.insert("project".into(), secs(t));
        }
        let t = Instant::now();
        let (specks, components, inner) = drop_specks(&mut mesh, 0.5 * h * h * h)?;
        self.timings.insert("components".into(), secs(t));
        if specks > 0 {
            self.warnings.push(format!(
                "removed {specks} closed component(s) enclosing less than half a voxel (below the grid's resolution)"
            ));
        }
        let t = Instant::now();
        let error = if opts.measure {
            measure(&mesh, self.sd, self.shape, h)
        } else {
            OffsetError::zero()
        };
        self.timings.insert("measure".into(), secs(t));
        if inner > 0 && !matches!(self.shape, Shape::ShellIn(_) | Shape::ShellOut(_)) {
            self.warnings.push(format!(
                "{inner} of {components} components bound a cavity (inner shells)"
            ));
        }
        let report = OffsetReport {
            operation: self.operation.to_string(),
            distance_mm: self.distance,
            voxel_mm: h,
            grid_dims: dims,
            triangles: mesh.triangles.len(),
            vertices: mesh.positions.len(),
            components,
            rolled_back_vertices,
            folded_faces,
            crease_vertices,
            crease_flips,
            self_intersecting_faces,
            error,
            sign_method: self.sign_name,
            warnings: self.warnings,
            timings_s: self.timings,
        };
        Ok((mesh, report))
    }
}

/// Checks a `kind` thickness (option `thickness_mm`): finite and positive.
fn check_thickness(kind: &str, thickness_mm: f64) -> Result<(), SdfError> {
    check_finite("thickness_mm", thickness_mm)?;
    if thickness_mm <= 0.0 {
        return Err(SdfError::InvalidOption(format!(
            "{kind} thickness {thickness_mm} mm (must be > 0)"
        )));
    }
    Ok(())
}

fn check_finite(name: &str, v: f64) -> Result<(), SdfError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(SdfError::InvalidOption(format!(
            "{name} = {v} (must be finite)"
        )))
    }
}

/// Runs `shape` on `mesh` with the signed (or unsigned) distance of `mesh`.
fn run_shape(
    mesh: &Mesh,
    shape: Shape,
    operation: &'static str,
    distance: f64,
    opts: &SdfOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, OffsetReport), SdfError> {
    check_input(mesh, opts)?;
    let t = Instant::now();
    let reach = f64::from(shape.reach());
    let (voxel, warnings) = choose_voxel(mesh, opts, reach, FIELD_BYTES)?;
    let grid = budgeted_grid(mesh, opts, voxel, reach, FIELD_BYTES)?;
    let sign = if shape.signed() {
        opts.sign
    } else {
        SignMethod::PseudoNormal
    };
    let sd = SignedDistance::with_sign(mesh, sign)?;
    let sign_name = if shape.signed() {
        sd.sign_method().name().to_string()
    } else {
        "unsigned".to_string()
    };
    let mut timings = BTreeMap::new();
    timings.insert("sdf".to_string(), secs(t));
    Job {
        sd: &sd,
        shape,
        operation,
        distance,
        voxel,
        sign_name,
        warnings,
        timings,
    }
    .run(opts, grid, progress, cancel)
}

/// Offsets the solid bounded by `mesh` by `distance_mm` (outward when positive, inward when
/// negative): the level set `s = d` of its signed distance `s`, meshed and projected onto the
/// exact level set. Outward offsets round convex edges with radius `d`; inward offsets keep
/// creases sharp (up to the split tolerance). An inward offset can split thin parts into
/// several components, or vanish ([`SdfError::Iso`] `Empty`).
///
/// The error reported is `| u − |d| |` with `u` the exact unsigned distance to `mesh`.
pub fn offset(
    mesh: &Mesh,
    distance_mm: f64,
    opts: &SdfOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, OffsetReport), SdfError> {
    check_finite("distance_mm", distance_mm)?;
    run_shape(
        mesh,
        Shape::Offset(distance_mm as f32),
        "offset",
        distance_mm,
        opts,
        progress,
        cancel,
    )
}

/// A hollow solid with walls `thickness_mm` thick: [`ShellSide::Inward`] keeps the input
/// as the outer surface and adds the inward offset by `t` as the cavity (field
/// `max(s, −s − t)`); [`ShellSide::Outward`] makes the outward offset the outer surface and
/// the input the cavity (field `max(s − t, −s)`). The mesh is one closed solid with (per
/// input component) an outer shell and an inner, inward-facing shell (negative signed
/// volume); its volume is `V(outer) − V(inner)`. The error of a point is against the nearer
/// of the two levels (0 and `t`).
pub fn shell(
    mesh: &Mesh,
    thickness_mm: f64,
    side: ShellSide,
    opts: &SdfOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, OffsetReport), SdfError> {
    check_thickness("shell", thickness_mm)?;
    let t = thickness_mm as f32;
    let (shape, name) = match side {
        ShellSide::Inward => (Shape::ShellIn(t), "shell_inward"),
        ShellSide::Outward => (Shape::ShellOut(t), "shell_outward"),
    };
    run_shape(mesh, shape, name, thickness_mm, opts, progress, cancel)
}

/// Turns a surface patch (open or closed, orientation irrelevant) into a closed plate
/// `thickness_mm` thick in total, **centred** on the surface: the points within
/// `thickness_mm / 2` of it (unsigned distance), so each face lies `t/2` from the patch and
/// the rim is a half-round of radius `t/2`. To put the plate on one side of a bone surface,
/// offset the patch by `t/2` first or subtract the bone. A closed input gives a hollow shell
/// (two components). The error reported is `| u − t/2 |`, so the thickness error is at most
/// twice it.
pub fn thicken(
    surface: &Mesh,
    thickness_mm: f64,
    opts: &SdfOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, OffsetReport), SdfError> {
    check_thickness("plate", thickness_mm)?;
    run_shape(
        surface,
        Shape::Unsigned(0.5 * thickness_mm as f32),
        "thicken",
        thickness_mm,
        opts,
        progress,
        cancel,
    )
}

/// Rebuilds any mesh — open, with holes, self-intersecting, a soup — as one closed solid by
/// morphological closing of its unsigned distance: the points within `r` of the surface
/// (`r` = [`SdfOptions::wrap_radius_mm`], default 2 voxels) with every enclosed cavity filled,
/// meshed, then offset back inward by `r` (an exact offset of that intermediate surface, with
/// projection). Holes narrower than about `2r` are spanned, and concave detail narrower than
/// `2r` is filled; elsewhere the result lies on the input.
///
/// The error reported is against the exact closing: `| s₁ + r |` with `s₁` the signed distance
/// to the intermediate surface `{u = r}` (the distance to the input itself is 0 where the wrap
/// touches it and larger where it spans holes; a warning gives the share of area more than a
/// voxel from the input).
pub fn wrap(
    mesh: &Mesh,
    opts: &SdfOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, OffsetReport), SdfError> {
    check_input(mesh, opts)?;
    let t0 = Instant::now();
    let (voxel, mut warnings) = choose_voxel(mesh, opts, 0.0, WRAP_BYTES)?;
    let r = opts.wrap_radius_mm.unwrap_or(2.0 * voxel);
    let grid = budgeted_grid(mesh, opts, voxel, r, WRAP_BYTES)?;
    let sd = SignedDistance::with_sign(mesh, SignMethod::PseudoNormal)?;
    let w = (opts.band_voxels * voxel) as f32;
    let mut field = band_field(&sd, grid, Shape::Unsigned(r as f32), w, progress, cancel)?;
    // Fill what the r-shell encloses.
    let mask = osteon_volume::Volume {
        grid: field.grid.clone(),
        data: field.data.iter().map(|&v| u8::from(v < 0.0)).collect(),
    };
    let filled = fill_cavities(&mask).map_err(|e| SdfError::InvalidOption(e.to_string()))?;
    drop(mask);
    for (v, &f) in field.data.iter_mut().zip(&filled.data) {
        if f != 0 && *v >= 0.0 {
            *v = -w;
        }
    }
    drop(filled);
    let mut timings = BTreeMap::new();
    timings.insert("sdf".to_string(), secs(t0));
    let t = Instant::now();
    let outer = extract_zero(&field, progress, cancel)?;
    let grid = field.grid.clone();
    drop(field);
    timings.insert("extract".to_string(), secs(t));
    // Back by r: an exact inward offset of the (clean, closed) intermediate surface.
    let t = Instant::now();
    let sd1 = SignedDistance::with_sign(&outer, SignMethod::Auto)?;
    *timings.entry("sdf".into()).or_default() += secs(t);
    let dims = grid.dims;
    let job = Job {
        sd: &sd1,
        shape: Shape::Offset(-(r as f32)),
        operation: "wrap",
        distance: r,
        voxel,
        sign_name: format!("unsigned, then {}", sd1.sign_method().name()),
        warnings: Vec::new(),
        timings,
    };
    let (out, mut report) = job.run(opts, grid, progress, cancel)?;
    report.grid_dims = dims;
    if opts.measure {
        let far = measure_far(&out, &sd, voxel);
        if far > 0.0 {
            warnings.push(format!(
                "{:.1} % of the surface lies more than a voxel from the input (spanned holes or filled concavities)",
                100.0 * far
            ));
        }
    }
    warnings.append(&mut report.warnings);
    report.warnings = warnings;
    Ok((out, report))
}

/// Share of `mesh`'s area (by triangle centroids) farther than `limit` from the surface of `sd`.
fn measure_far(mesh: &Mesh, sd: &SignedDistance, limit: f64) -> f64 {
    use rayon::prelude::*;
    let (far, total) = mesh
        .triangles
        .par_iter()
        .map(|t| {
            let p = |i: u32| mesh.positions[i as usize];
            let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
            let area = f64::from(0.5 * (b - a).cross(c - a).length());
            let d = f64::from(sd.distance((a + b + c) / 3.0));
            (if d > limit { area } else { 0.0 }, area)
        })
        .reduce(|| (0.0, 0.0), |x, y| (x.0 + y.0, x.1 + y.1));
    if total > 0.0 {
        far / total
    } else {
        0.0
    }
}
