//! Volume-preserving smoothing: windowed-sinc low-pass filtering or Taubin λ|μ smoothing.
//!
//! In: a [`Mesh`] (millimetres, any topology) and [`SmoothOptions`]. Out: a new mesh with the
//! same triangles and moved vertices, and a [`SmoothReport`] of what changed (volume, vertex
//! displacements in mm, mean dihedral angle between neighbouring faces before and after).
//!
//! **Windowed sinc** (the default) follows Taubin, Zhang & Golub, "Optimal surface smoothing
//! as filter design" (ECCV 1996), as VTK's `vtkWindowedSincPolyDataFilter` does: the
//! transfer function `f(k)` of the filter, in terms of the eigenvalues `k ∈ [0, 2]` of the
//! umbrella Laplacian `K = I − W` (W averages the neighbours), is an ideal low-pass with
//! pass band `k < k_PB`, expanded in Chebyshev polynomials `T_n(1 − k/2)` up to degree
//! `iterations`, multiplied by a window, and shifted (VTK's Newton search for σ) so that
//! `f(k_PB) = 1`. Evaluating it takes one Laplacian per degree (the Chebyshev recurrence).
//! The window is Nuttall's four-term window, not VTK's historical Hamming: Hamming leaves
//! `f(0) ≠ 1`, which scales the whole mesh by up to ~1 % (VTK 9.2 switched to Nuttall for
//! this reason). On top of that the coefficients are rescaled so that `f(0) = Σ cₙ = 1`
//! exactly, so a translation passes unchanged and there is no scale bias. Coordinates are
//! centred on the bounding box and divided by its diagonal first (VTK's
//! `NormalizeCoordinates`), and everything runs in `f64`.
//!
//! **Volume**: the filter alone loses volume on thin bone (0.1–6 % on the public scans
//! with the defaults). With [`SmoothOptions::preserve_volume`] (default) a closed mesh
//! then gets one uniform offset δ along the area-weighted vertex normals (0.002–0.18 mm
//! on those scans): with the normals fixed the volume is a cubic in δ, solved exactly, so
//! the enclosed volume is kept up to the rounding of the output to `f32` (and the
//! roll-back below). **Self-intersections**: strong smoothing can pull the two sides of a
//! thin plate through each other; with [`SmoothOptions::prevent_self_intersections`]
//! (default) the result is searched ([`crate::self_intersections`], whose fan certificates
//! make this cheap on a smooth mesh) and the vertices of
//! intersecting triangles are moved back toward their input positions until none is left
//! (664–808 vertices of the 40–190 k-vertex head and chest meshes, 7 144 of the frog's
//! 374 k, none on the skull and the phantom).
//!
//! **Taubin** (Taubin 1995, "A signal processing approach to fair surface design"):
//! `iterations` pairs of a shrinking step `x += λ·(avg − x)` and an inflating step
//! `x += μ·(avg − x)` with `μ < −λ < 0` from `1/λ + 1/μ = k_PB`.
//!
//! The Laplacian is the uniform (umbrella) one over the mesh's edge neighbours, kept as a
//! CSR adjacency built in parallel from each vertex's own corners (a counting sort of
//! corners by vertex, then the edges at each vertex grouped by their other end). Updates are Jacobi (every vertex
//! reads the previous iterate), in parallel over vertices in `f64` with neighbours summed
//! in index order, so the output is bit-identical on any number of threads.
//!
//! Which vertices move:
//! * **fixed**: vertices on a non-manifold edge, of a triangle with a repeated vertex, or
//!   whose triangles form more than one fan (non-manifold vertex); boundary vertices unless
//!   `smooth_boundary`; boundary vertices with other than two boundary edges; when feature
//!   edges are on (`feature_angle_deg`), vertices with one or more than two feature edges
//!   (feature corners and ends); unreferenced vertices. Fixed vertices keep their exact
//!   input coordinates.
//! * **along a line**: with `smooth_boundary`, a boundary vertex with exactly two boundary
//!   edges is smoothed with those two neighbours only, so the hole's outline is smoothed
//!   along itself; with feature edges on, an interior vertex with exactly two feature
//!   edges (dihedral angle above the threshold) likewise follows its feature line.
//! * **free**: every other vertex, averaged over all its neighbours.

use std::fmt;

use osteon_geom::{Cancel, DVec3, Progress, Vec3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::self_intersect::{Incidence, SearchIndex};
use crate::{Mesh, MeshError};

/// The smoothing filter.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmoothMethod {
    /// Windowed-sinc low-pass filter (Taubin, Zhang & Golub 1996), as VTK and 3D Slicer.
    WindowedSinc,
    /// Taubin's λ|μ two-step smoothing (Taubin 1995).
    Taubin,
}

impl fmt::Display for SmoothMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SmoothMethod::WindowedSinc => "windowed-sinc",
            SmoothMethod::Taubin => "taubin",
        })
    }
}

/// Options of [`smooth`]. Defaults: windowed sinc, 40 iterations, pass band 0.005, volume
/// given back, no feature edges, boundary vertices fixed.
///
/// VTK's and 3D Slicer's filter defaults (20 iterations, pass band 0.1) leave much of the
/// marching-cubes staircase on CT meshes: the mean angle between neighbouring faces fell
/// only to 0.60–0.71 of its value on five of the six public scans. 40 iterations at 0.005
/// bring it to 0.31–0.48 on all six, at the cost of a filter volume loss of up to 6 % on
/// thin bone, which [`SmoothOptions::preserve_volume`] gives back (offsets 0.002–0.18 mm).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmoothOptions {
    /// The filter.
    pub method: SmoothMethod,
    /// Windowed sinc: degree of the polynomial filter, one Laplacian pass each (1..=1000).
    /// Taubin: number of λ|μ pairs, two passes each.
    pub iterations: usize,
    /// Pass band `k_PB` in Laplacian eigenvalue units, in `(0, 2)`: smaller smooths more.
    /// VTK's and Slicer's default is 0.1; ours 0.005 (see above). For Taubin it sets μ from `1/λ + 1/μ = k_PB`
    /// (and must be below `1/λ − 1` so that `|μ| < 1`).
    pub passband: f64,
    /// When set, edges whose dihedral angle (between the two face normals) exceeds this
    /// many degrees, in `(0, 180)`, are feature edges: vertices on them only slide along
    /// the feature line, or stay fixed at its corners and ends.
    pub feature_angle_deg: Option<f64>,
    /// Smooth boundary vertices along the boundary (instead of keeping them fixed).
    pub smooth_boundary: bool,
    /// Taubin's shrinking factor λ, in `(0, 1)`; 0.5 by default.
    pub taubin_lambda: f64,
    /// On a closed mesh, give back the volume the filter lost by one uniform offset along
    /// the vertex normals (see [`SmoothReport::volume_offset_mm`]); on by default.
    pub preserve_volume: bool,
    /// After smoothing, search for self-intersections and move the vertices of the
    /// triangles involved back toward their input positions (half-way in the first three
    /// rounds, then all the way together with their first ring, at most 8 rounds) until
    /// none is left; on by default. Strong smoothing
    /// can fold thin bone (a plate two voxels thick) through itself; this keeps the output
    /// as free of self-intersections as the input. Costs one search of the whole mesh
    /// and, per round, queries of that search's hierarchy (boxes refitted) with the
    /// triangles moved back only.
    pub prevent_self_intersections: bool,
}

impl Default for SmoothOptions {
    fn default() -> Self {
        SmoothOptions {
            method: SmoothMethod::WindowedSinc,
            iterations: 40,
            passband: 0.005,
            feature_angle_deg: None,
            smooth_boundary: false,
            taubin_lambda: 0.5,
            preserve_volume: true,
            prevent_self_intersections: true,
        }
    }
}

impl SmoothOptions {
    /// Sets [`SmoothOptions::method`].
    pub fn method(mut self, m: SmoothMethod) -> Self {
        self.method = m;
        self
    }
    /// Sets [`SmoothOptions::iterations`].
    pub fn iterations(mut self, n: usize) -> Self {
        self.iterations = n;
        self
    }
    /// Sets [`SmoothOptions::passband`].
    pub fn passband(mut self, k: f64) -> Self {
        self.passband = k;
        self
    }
    /// Sets [`SmoothOptions::feature_angle_deg`].
    pub fn feature_angle_deg(mut self, a: Option<f64>) -> Self {
        self.feature_angle_deg = a;
        self
    }
    /// Sets [`SmoothOptions::smooth_boundary`].
    pub fn smooth_boundary(mut self, b: bool) -> Self {
        self.smooth_boundary = b;
        self
    }
    /// Sets [`SmoothOptions::taubin_lambda`].
    pub fn taubin_lambda(mut self, l: f64) -> Self {
        self.taubin_lambda = l;
        self
    }

    /// Sets [`SmoothOptions::preserve_volume`].
    pub fn preserve_volume(mut self, on: bool) -> Self {
        self.preserve_volume = on;
        self
    }

    /// Sets [`SmoothOptions::prevent_self_intersections`].
    pub fn prevent_self_intersections(mut self, on: bool) -> Self {
        self.prevent_self_intersections = on;
        self
    }

    /// Taubin's μ for these options: `1 / (k_PB − 1/λ)`.
    pub fn taubin_mu(&self) -> f64 {
        1.0 / (self.passband - 1.0 / self.taubin_lambda)
    }

    /// Checks every value; [`MeshError::InvalidOption`] names the first bad one.
    pub fn validate(&self) -> Result<(), MeshError> {
        let bad = |s: String| Err(MeshError::InvalidOption(s));
        if !(1..=1000).contains(&self.iterations) {
            return bad(format!(
                "smoothing iterations must be 1 to 1000, got {}",
                self.iterations
            ));
        }
        if !(self.passband > 0.0 && self.passband < 2.0) {
            return bad(format!(
                "smoothing pass band must be in (0, 2), got {}",
                self.passband
            ));
        }
        if let Some(a) = self.feature_angle_deg {
            if !(a > 0.0 && a < 180.0) {
                return bad(format!(
                    "feature angle must be in (0, 180) degrees, got {a}"
                ));
            }
        }
        if self.method == SmoothMethod::Taubin {
            let l = self.taubin_lambda;
            if !(l > 0.0 && l < 1.0) {
                return bad(format!("Taubin λ must be in (0, 1), got {l}"));
            }
            if self.passband >= 1.0 / l - 1.0 {
                return bad(format!(
                    "Taubin pass band must be below 1/λ − 1 = {} (so that |μ| < 1), got {}",
                    1.0 / l - 1.0,
                    self.passband
                ));
            }
        }
        Ok(())
    }
}

/// What [`smooth`] did. Field names are the JSON keys.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmoothReport {
    /// The filter used.
    pub method: SmoothMethod,
    /// Iterations (see [`SmoothOptions::iterations`]).
    pub iterations: usize,
    /// Pass band `k_PB`.
    pub passband: f64,
    /// Vertices of the mesh.
    pub vertices: usize,
    /// Vertices that were not allowed to move (see the module documentation), including
    /// unreferenced ones.
    pub fixed_vertices: usize,
    /// Vertices smoothed only along a boundary or feature line.
    pub constrained_vertices: usize,
    /// Signed volume before, mm³.
    pub volume_before_mm3: f64,
    /// Signed volume after, mm³.
    pub volume_after_mm3: f64,
    /// `100 · (after − before) / |before|`, 0 when the volume before is 0.
    pub volume_change_pct: f64,
    /// The change the filter alone made, before the volume was given back, %.
    pub filter_volume_change_pct: f64,
    /// The uniform offset along the vertex normals that gave the volume back, mm (0 when
    /// [`SmoothOptions::preserve_volume`] is off or the mesh is not closed).
    pub volume_offset_mm: f64,
    /// Largest vertex displacement, mm.
    pub max_displacement_mm: f64,
    /// Mean displacement over the vertices used by triangles, mm.
    pub mean_displacement_mm: f64,
    /// Triangles that intersect another in the output (`null` when
    /// [`SmoothOptions::prevent_self_intersections`] is off and nothing was searched).
    pub self_intersecting_faces_after: Option<usize>,
    /// Vertices moved back toward their input position to undo self-intersections.
    pub rolled_back_vertices: usize,
    /// Mean angle between the normals of edge-adjacent triangles before, degrees (over
    /// manifold edges; a measure of the staircase).
    pub mean_normal_angle_before_deg: f64,
    /// The same after smoothing, degrees.
    pub mean_normal_angle_after_deg: f64,
}

impl fmt::Display for SmoothReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} smoothing, {} iterations, pass band {}: {} of {} vertices fixed, {} constrained",
            self.method,
            self.iterations,
            self.passband,
            self.fixed_vertices,
            self.vertices,
            self.constrained_vertices
        )?;
        writeln!(
            f,
            "volume {:.3} → {:.3} mm³ ({:+.3} %; filter {:+.3} %, offset {:+.4} mm), displacement max {:.3} mm, mean {:.4} mm",
            self.volume_before_mm3,
            self.volume_after_mm3,
            self.volume_change_pct,
            self.filter_volume_change_pct,
            self.volume_offset_mm,
            self.max_displacement_mm,
            self.mean_displacement_mm
        )?;
        write!(
            f,
            "mean angle between neighbouring faces {:.2}° → {:.2}°",
            self.mean_normal_angle_before_deg, self.mean_normal_angle_after_deg
        )?;
        if let Some(n) = self.self_intersecting_faces_after {
            write!(
                f,
                "\nself-intersecting triangles after: {n} ({} vertices moved back)",
                self.rolled_back_vertices
            )?;
        }
        Ok(())
    }
}

/// How a vertex is smoothed.
const FREE: u8 = 0;
/// Smoothed along boundary edges only.
const ALONG_BOUNDARY: u8 = 1;
/// Smoothed along feature edges only.
const ALONG_FEATURE: u8 = 2;
const FIXED: u8 = 4;

/// Edge flag bits in the adjacency (same values as the "along" kinds they allow).
const EDGE_BOUNDARY: u8 = ALONG_BOUNDARY;
const EDGE_FEATURE: u8 = ALONG_FEATURE;

/// Parallel chunk length for per-vertex loops: large enough to amortise rayon's splitting,
/// small enough to balance two to sixteen threads.
const CHUNK: usize = 4096;

/// Smooths `mesh`; see the module documentation for the filters and which vertices move.
///
/// Errors: [`MeshError::Empty`] without triangles, [`MeshError::InvalidOption`],
/// [`MeshError::IndexOutOfRange`] / [`MeshError::NonFinite`] /
/// [`MeshError::TooManyVertices`] for a malformed mesh, [`MeshError::Cancelled`],
/// [`MeshError::VolumeCollapsed`] when giving the volume back would move the surface by a
/// quarter of the mesh's size or more (a mesh too coarse for the filter).
/// Progress: stage `"smooth"` with one unit per iteration.
pub fn smooth(
    mesh: &Mesh,
    opts: &SmoothOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(Mesh, SmoothReport), MeshError> {
    opts.validate()?;
    mesh.validate()?;
    if mesh.is_empty() {
        return Err(MeshError::Empty);
    }
    if mesh.triangles.len() > (u32::MAX as usize - 3) / 3 {
        // Corner ids are u32.
        return Err(MeshError::TooManyVertices(3 * mesh.triangles.len()));
    }
    let inc = Incidence::new(&mesh.triangles, mesh.positions.len());
    let normals_before = face_normals(mesh);
    let adj = Adjacency::new(mesh, &inc, &normals_before, opts);
    if cancel.is_cancelled() {
        return Err(MeshError::Cancelled);
    }

    // Normalised f64 coordinates (VTK's NormalizeCoordinates): centred on the box, unit
    // diagonal.
    let bounds = mesh.bounds().expect("a mesh with triangles has vertices");
    let centre = (bounds.min.as_dvec3() + bounds.max.as_dvec3()) * 0.5;
    let diag = (bounds.max.as_dvec3() - bounds.min.as_dvec3()).length();
    let scale = if diag > 0.0 { 1.0 / diag } else { 1.0 };
    let x: Vec<DVec3> = mesh
        .positions
        .par_iter()
        .with_min_len(CHUNK)
        .map(|p| (p.as_dvec3() - centre) * scale)
        .collect();

    progress.begin("smooth", opts.iterations as u64);
    let out = match opts.method {
        SmoothMethod::WindowedSinc => windowed_sinc(&adj, x, opts, progress, cancel)?,
        SmoothMethod::Taubin => taubin(&adj, x, opts, progress, cancel)?,
    };
    progress.finish();

    // Back to millimetres, relative to the centre, in f64.
    let mut rel: Vec<DVec3> = out
        .par_iter()
        .with_min_len(CHUNK)
        .map(|q| *q / scale)
        .collect();
    drop(out);
    let volume_before_mm3 = mesh.signed_volume();
    let (filter_volume, volume_offset_mm) =
        if opts.preserve_volume && adj.closed && volume_before_mm3 != 0.0 {
            restore_volume(mesh, &adj, &inc, &mut rel, volume_before_mm3)
        } else {
            (signed_volume(&mesh.triangles, &rel), 0.0)
        };
    // An offset of a quarter of the mesh's size or more means the filter collapsed the shape
    // (a 12-triangle box shrinks to a point and the offset ran to 7e9 mm): refuse rather
    // than inflate a crumpled surface.
    if volume_offset_mm.is_nan() || volume_offset_mm.abs() >= MAX_OFFSET_OF_SIZE * diag {
        return Err(MeshError::VolumeCollapsed {
            left_pct: 100.0 * filter_volume / volume_before_mm3,
            offset_mm: volume_offset_mm,
        });
    }
    let positions: Vec<Vec3> = rel
        .par_iter()
        .with_min_len(CHUNK)
        .enumerate()
        .map(|(v, q)| {
            if adj.degree(v) == 0 {
                // Bit-exact: fixed means fixed.
                mesh.positions[v]
            } else {
                (centre + *q).as_vec3()
            }
        })
        .collect();
    drop(rel);
    let mut smoothed = Mesh {
        positions,
        triangles: mesh.triangles.clone(),
    };
    let (self_intersecting_faces_after, rolled_back_vertices) = if opts.prevent_self_intersections {
        let (left, n) = roll_back(mesh, &inc, &mut smoothed, progress, cancel)?;
        (Some(left), n)
    } else {
        (None, 0)
    };

    let (max_d, sum_d, referenced) = mesh
        .positions
        .par_chunks(CHUNK)
        .zip(smoothed.positions.par_chunks(CHUNK))
        .enumerate()
        .map(|(k, (a, b))| {
            let mut m = 0.0f64;
            let mut s = 0.0f64;
            let mut n = 0usize;
            for (i, (p, q)) in a.iter().zip(b).enumerate() {
                if !inc.around(k * CHUNK + i).is_empty() {
                    let d = (q.as_dvec3() - p.as_dvec3()).length();
                    m = m.max(d);
                    s += d;
                    n += 1;
                }
            }
            (m, s, n)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((0.0f64, 0.0f64, 0usize), |(m, s, n), (a, b, c)| {
            (m.max(a), s + b, n + c)
        });
    let volume_after_mm3 = smoothed.signed_volume();
    let normals_after = face_normals(&smoothed);
    let report = SmoothReport {
        method: opts.method,
        iterations: opts.iterations,
        passband: opts.passband,
        vertices: mesh.positions.len(),
        fixed_vertices: adj.kind.iter().filter(|&&k| k == FIXED).count(),
        constrained_vertices: adj
            .kind
            .iter()
            .filter(|&&k| k == ALONG_BOUNDARY || k == ALONG_FEATURE)
            .count(),
        volume_before_mm3,
        volume_after_mm3,
        volume_change_pct: pct(volume_after_mm3, volume_before_mm3),
        filter_volume_change_pct: pct(filter_volume, volume_before_mm3),
        volume_offset_mm,
        max_displacement_mm: max_d,
        mean_displacement_mm: if referenced > 0 {
            sum_d / referenced as f64
        } else {
            0.0
        },
        self_intersecting_faces_after,
        rolled_back_vertices,
        mean_normal_angle_before_deg: mean_normal_angle(&adj.edges, &normals_before),
        mean_normal_angle_after_deg: mean_normal_angle(&adj.edges, &normals_after),
    };
    Ok((smoothed, report))
}

/// Rounds of [`roll_back`]: three halvings of the displacement of the vertices involved,
/// then rounds that put them and their first ring back at their input positions.
const ROLLBACK_ROUNDS: usize = 8;
const ROLLBACK_HALVINGS: usize = 3;

/// Undoes self-intersections of `smoothed` by moving the vertices of intersecting
/// triangles back toward `input` (see [`SmoothOptions::prevent_self_intersections`]).
/// Returns the triangles still intersecting (those already intersecting in the input
/// stay) and the number of vertices moved back.
fn roll_back(
    input: &Mesh,
    inc: &Incidence,
    smoothed: &mut Mesh,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<(usize, usize), MeshError> {
    progress.begin("self-intersections", ROLLBACK_ROUNDS as u64 + 1);
    let mut moved = vec![false; input.positions.len()];
    let mut left = 0;
    // One search of the whole mesh; later rounds search only the pairs of the triangles
    // whose corners moved back (every intersecting pair has one: all their vertices
    // move, and pairs of unmoved triangles keep their status), by querying the whole
    // search's hierarchy with each of them after refitting their boxes.
    let (mut index, mut si) = SearchIndex::new(smoothed, inc);
    for round in 0..=ROLLBACK_ROUNDS {
        if cancel.is_cancelled() {
            return Err(MeshError::Cancelled);
        }
        progress.advance(1);
        left = si.faces.len();
        if si.faces.is_empty() || round == ROLLBACK_ROUNDS {
            break;
        }
        let mut verts: Vec<u32> = si
            .faces
            .iter()
            .flat_map(|&f| input.triangles[f as usize])
            .collect();
        let last = round >= ROLLBACK_HALVINGS;
        if last {
            // Put back the whole first ring too: a fold usually spans a few rings, and
            // growing one ring per search would cost a search each.
            let ring: Vec<u32> = verts
                .iter()
                .flat_map(|&v| inc.around(v as usize))
                .flat_map(|&c| input.triangles[c as usize / 3])
                .collect();
            verts.extend(ring);
        }
        verts.sort_unstable();
        verts.dedup();
        for &v in &verts {
            let v = v as usize;
            moved[v] = true;
            let (o, p) = (input.positions[v], smoothed.positions[v]);
            smoothed.positions[v] = if last { o } else { o + (p - o) * 0.5 };
        }
        let tris = inc.triangles_around(&verts);
        index.refit(smoothed, &tris);
        si = index.among(smoothed, inc, &tris);
    }
    progress.finish();
    Ok((left, moved.iter().filter(|&&m| m).count()))
}

fn pct(after: f64, before: f64) -> f64 {
    if before != 0.0 {
        100.0 * (after - before) / before.abs()
    } else {
        0.0
    }
}

/// Signed volume of `triangles` over `rel` (positions relative to the centre of the
/// box, mm), in mm³, reduced in a fixed order.
fn signed_volume(triangles: &[[u32; 3]], rel: &[DVec3]) -> f64 {
    triangles
        .par_chunks(CHUNK)
        .map(|chunk| {
            chunk
                .iter()
                .map(|t| {
                    let [a, b, d] = t.map(|i| rel[i as usize]);
                    a.dot(b.cross(d))
                })
                .sum::<f64>()
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum::<f64>()
        / 6.0
}

/// Largest volume-restoring offset, as a share of the mesh's box diagonal: bone meshes need
/// hundredths of a millimetre, a 4-voxel block shrunk to 29 % of its volume a tenth of its
/// size; a shape the filter collapsed to a point much more.
const MAX_OFFSET_OF_SIZE: f64 = 0.25;

/// Moves every smoothed vertex by one common distance δ along its area-weighted unit
/// normal so that the enclosed volume is `target` again. With the normals fixed, the
/// volume is a cubic in δ (each triangle's determinant is trilinear in its corners); its
/// four coefficients come from one pass over the triangles, and Newton's method solves it
/// to rounding. `rel` holds positions relative to the centre of the box. Returns the volume the
/// filter left (mm³) and δ in mm (positive outward).
fn restore_volume(
    mesh: &Mesh,
    adj: &Adjacency,
    inc: &Incidence,
    rel: &mut [DVec3],
    target: f64,
) -> (f64, f64) {
    let tris = &mesh.triangles;
    // Vertex normals: sums of the face cross products around each vertex (area
    // weights), in corner order, so the result does not depend on threads.
    let normals: Vec<DVec3> = (0..rel.len())
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(|v| {
            if adj.degree(v) == 0 {
                return DVec3::ZERO;
            }
            let mut n = DVec3::ZERO;
            for &corner in inc.around(v) {
                let t = tris[corner as usize / 3];
                let [a, b, d] = t.map(|i| rel[i as usize]);
                n += (b - a).cross(d - a);
            }
            n.normalize_or_zero()
        })
        .collect();
    // 6·V(δ) = k0 + k1 δ + k2 δ² + k3 δ³.
    let k = tris
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut k = [0.0f64; 4];
            for t in chunk {
                let [a, b, d] = t.map(|i| rel[i as usize]);
                let [na, nb, nd] = t.map(|i| normals[i as usize]);
                let det = |x: DVec3, y: DVec3, z: DVec3| x.dot(y.cross(z));
                k[0] += det(a, b, d);
                k[1] += det(na, b, d) + det(a, nb, d) + det(a, b, nd);
                k[2] += det(na, nb, d) + det(na, b, nd) + det(a, nb, nd);
                k[3] += det(na, nb, nd);
            }
            k
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold([0.0f64; 4], |s, k| std::array::from_fn(|i| s[i] + k[i]));
    let filtered = k[0] / 6.0;
    let f = |d: f64| (k[0] + d * (k[1] + d * (k[2] + d * k[3]))) / 6.0 - target;
    let df = |d: f64| (k[1] + d * (2.0 * k[2] + d * 3.0 * k[3])) / 6.0;
    let mut delta = 0.0f64;
    for _ in 0..20 {
        let (y, dy) = (f(delta), df(delta));
        if dy == 0.0 || !dy.is_finite() || !y.is_finite() {
            break;
        }
        let step = y / dy;
        delta -= step;
        if step.abs() <= 1e-15 * (1.0 + delta.abs()) {
            break;
        }
    }
    if !delta.is_finite() {
        return (filtered, 0.0);
    }
    rel.par_iter_mut()
        .with_min_len(CHUNK)
        .zip(normals.par_iter())
        .for_each(|(p, n)| *p += delta * *n);
    (filtered, delta)
}

/// The mean angle in degrees between the normals of edge-adjacent triangles of `mesh`, over
/// its manifold edges (triangles of zero area are left out); 0 when there are none.
pub fn mean_normal_angle_deg(mesh: &Mesh) -> Result<f64, MeshError> {
    mesh.validate()?;
    if mesh.triangles.len() > (u32::MAX as usize - 3) / 3 {
        return Err(MeshError::TooManyVertices(3 * mesh.triangles.len()));
    }
    let inc = Incidence::new(&mesh.triangles, mesh.positions.len());
    let normals = face_normals(mesh);
    let adj = Adjacency::new(mesh, &inc, &normals, &SmoothOptions::default());
    Ok(mean_normal_angle(&adj.edges, &normals))
}

/// Unit normal of every triangle in `f64` (zero for a degenerate one).
fn face_normals(mesh: &Mesh) -> Vec<DVec3> {
    mesh.triangles
        .par_iter()
        .with_min_len(CHUNK)
        .map(|t| {
            let p = |i: u32| mesh.positions[i as usize].as_dvec3();
            let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
            (b - a).cross(c - a).normalize_or_zero()
        })
        .collect()
}

/// Angle between two unit normals, degrees.
#[inline]
fn angle_deg(a: DVec3, b: DVec3) -> f64 {
    // acos loses accuracy only within ~1e-8 rad of 0° and 180°, irrelevant for a mean
    // and for a feature threshold, and is several times cheaper than atan2(|a×b|, a·b).
    a.dot(b).clamp(-1.0, 1.0).acos().to_degrees()
}

/// Mean angle over the manifold edges (pairs of triangles) `edges`, skipping triangles of
/// zero area; summed per chunk, then in chunk order.
fn mean_normal_angle(edges: &[[u32; 2]], normals: &[DVec3]) -> f64 {
    let (sum, n) = edges
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut s = 0.0f64;
            let mut n = 0usize;
            for e in chunk {
                let (a, b) = (normals[e[0] as usize], normals[e[1] as usize]);
                if a != DVec3::ZERO && b != DVec3::ZERO {
                    s += angle_deg(a, b);
                    n += 1;
                }
            }
            (s, n)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((0.0, 0usize), |(s, n), (a, b)| (s + a, n + b));
    if n > 0 {
        sum / n as f64
    } else {
        0.0
    }
}

/// The smoothing stencil: for every vertex its kind and the neighbours it averages (CSR),
/// plus the mesh's manifold edges (for the face-angle measure) and whether it is closed.
///
/// Everything is decided from each vertex's own corners: every triangle on an edge `uv`
/// has a corner at `v`, so the edges at `v` are its corners' two other vertices, grouped
/// by vertex. One triangle on an edge makes a boundary edge, two a manifold edge (joining
/// those triangles in `v`'s fan), more a non-manifold one.
struct Adjacency {
    /// `nbrs[offsets[v]..offsets[v + 1]]` are the neighbours `v` averages, ascending.
    offsets: Vec<usize>,
    nbrs: Vec<u32>,
    kind: Vec<u8>,
    /// The two triangles of every manifold edge, once per edge, in order of its lower
    /// vertex.
    edges: Vec<[u32; 2]>,
    /// No boundary and no non-manifold edge.
    closed: bool,
}

/// Per block of vertices: kinds, neighbour counts, neighbour lists, manifold edges, and
/// whether an open or non-manifold edge was seen.
type Block = (Vec<u8>, Vec<u32>, Vec<u32>, Vec<[u32; 2]>, bool);

impl Adjacency {
    fn new(mesh: &Mesh, inc: &Incidence, normals: &[DVec3], opts: &SmoothOptions) -> Adjacency {
        let tris = &mesh.triangles;
        let nv = mesh.positions.len();
        // angle_deg is symmetric in its arguments, so both ends of an edge agree on
        // whether it is a feature.
        let feature = |t1: u32, t2: u32| match opts.feature_angle_deg {
            Some(limit) => {
                let (a, b) = (normals[t1 as usize], normals[t2 as usize]);
                a == DVec3::ZERO || b == DVec3::ZERO || angle_deg(a, b) > limit
            }
            None => false,
        };
        let blocks: Vec<Block> = (0..nv.div_ceil(CHUNK))
            .into_par_iter()
            .map(|blk| {
                let range = blk * CHUNK..((blk + 1) * CHUNK).min(nv);
                let mut kinds = Vec::with_capacity(range.len());
                let mut counts = Vec::with_capacity(range.len());
                let mut list = Vec::with_capacity(6 * range.len());
                let mut edges = Vec::with_capacity(3 * range.len());
                let mut open = false;
                // (neighbour, local triangle) per corner side; (neighbour, edge flag).
                let mut ends: Vec<(u32, u32)> = Vec::new();
                let mut near: Vec<(u32, u8)> = Vec::new();
                let mut uf: Vec<u32> = Vec::new();
                for v in range {
                    let around = inc.around(v);
                    ends.clear();
                    near.clear();
                    let mut fixed = around.is_empty();
                    for (j, &c) in around.iter().enumerate() {
                        let (t, k) = (c as usize / 3, c as usize % 3);
                        let (a, b) = (tris[t][(k + 1) % 3], tris[t][(k + 2) % 3]);
                        if a == b || a as usize == v || b as usize == v {
                            // A triangle with a repeated vertex.
                            fixed = true;
                            continue;
                        }
                        ends.push((a, j as u32));
                        ends.push((b, j as u32));
                    }
                    ends.sort_unstable();
                    uf.clear();
                    uf.extend(0..around.len() as u32);
                    let (mut nb, mut nf) = (0usize, 0usize);
                    let mut i = 0;
                    while i < ends.len() {
                        let u = ends[i].0;
                        let mut e = i + 1;
                        while e < ends.len() && ends[e].0 == u {
                            e += 1;
                        }
                        let flag = match e - i {
                            1 => {
                                nb += 1;
                                open = true;
                                EDGE_BOUNDARY
                            }
                            2 => {
                                let (j1, j2) = (ends[i].1, ends[i + 1].1);
                                union(&mut uf, j1, j2);
                                let (t1, t2) = (around[j1 as usize] / 3, around[j2 as usize] / 3);
                                if (v as u32) < u {
                                    edges.push([t1, t2]);
                                }
                                if feature(t1, t2) {
                                    nf += 1;
                                    EDGE_FEATURE
                                } else {
                                    0
                                }
                            }
                            _ => {
                                // Non-manifold edge.
                                open = true;
                                fixed = true;
                                0
                            }
                        };
                        near.push((u, flag));
                        i = e;
                    }
                    let mut kind = if fixed {
                        FIXED
                    } else {
                        let fans = (0..uf.len() as u32)
                            .filter(|&i| find(&mut uf, i) == i)
                            .count();
                        match (fans, nb, nf) {
                            (1, 2, _) if opts.smooth_boundary => ALONG_BOUNDARY,
                            (1, 0, 0) => FREE,
                            (1, 0, 2) => ALONG_FEATURE,
                            _ => FIXED,
                        }
                    };
                    let start = list.len();
                    if kind != FIXED {
                        list.extend(
                            near.iter()
                                .filter(|&&(_, f)| kind == FREE || f & kind != 0)
                                .map(|&(u, _)| u),
                        );
                        // A line vertex needs exactly its two line neighbours.
                        if kind != FREE && list.len() - start != 2 {
                            list.truncate(start);
                            kind = FIXED;
                        }
                    }
                    kinds.push(kind);
                    counts.push((list.len() - start) as u32);
                }
                (kinds, counts, list, edges, open)
            })
            .collect();
        let mut kind = Vec::with_capacity(nv);
        let mut offsets = Vec::with_capacity(nv + 1);
        let mut nbrs = Vec::with_capacity(blocks.iter().map(|b| b.2.len()).sum());
        let mut edges = Vec::with_capacity(blocks.iter().map(|b| b.3.len()).sum());
        let mut closed = true;
        offsets.push(0);
        for (k, counts, list, e, open) in blocks {
            kind.extend_from_slice(&k);
            for n in counts {
                offsets.push(offsets.last().copied().unwrap_or(0) + n as usize);
            }
            nbrs.extend_from_slice(&list);
            edges.extend_from_slice(&e);
            closed &= !open;
        }
        Adjacency {
            offsets,
            nbrs,
            kind,
            edges,
            closed,
        }
    }

    #[inline]
    fn degree(&self, v: usize) -> usize {
        self.offsets[v + 1] - self.offsets[v]
    }

    /// Mean of `x` over the neighbours of `v` (which must have some).
    #[inline]
    fn average(&self, v: usize, x: &[DVec3]) -> DVec3 {
        let n = &self.nbrs[self.offsets[v]..self.offsets[v + 1]];
        let mut s = DVec3::ZERO;
        for &u in n {
            s += x[u as usize];
        }
        s / n.len() as f64
    }
}

fn find(uf: &mut [u32], mut a: u32) -> u32 {
    while uf[a as usize] != a {
        let p = uf[a as usize];
        uf[a as usize] = uf[p as usize];
        a = p;
    }
    a
}

fn union(uf: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(uf, a), find(uf, b));
    if ra != rb {
        uf[ra.max(rb) as usize] = ra.min(rb);
    }
}

/// Chebyshev coefficients `c₀ … c_N` of the windowed-sinc filter (Nuttall window), with
/// VTK's σ shift (`f(k_PB) = 1`), then scaled so that `Σ cₙ = f(0) = 1`.
pub(crate) fn sinc_coefficients(iterations: usize, passband: f64) -> Vec<f64> {
    use std::f64::consts::PI;
    let n = iterations;
    let theta_pb = (1.0 - 0.5 * passband).acos();
    let w: Vec<f64> = (0..=n)
        .map(|i| {
            let x = i as f64 * PI / (n + 1) as f64;
            0.355768 + 0.487396 * x.cos() + 0.144232 * (2.0 * x).cos() + 0.012604 * (3.0 * x).cos()
        })
        .collect();
    let coeffs = |sigma: f64| -> Vec<f64> {
        let th = theta_pb + sigma;
        (0..=n)
            .map(|i| {
                if i == 0 {
                    w[0] * th / PI
                } else {
                    2.0 * w[i] * (i as f64 * th).sin() / (i as f64 * PI)
                }
            })
            .collect()
    };
    // f(θ) = Σ cᵢ cos(iθ) at θ_pb, and its derivative in σ (each cᵢ depends on σ), by
    // Newton: VTK's search, written in θ directly. 1e-3 is VTK's tolerance; 50 steps are
    // plenty (it converges in a handful).
    let mut sigma = 0.0;
    if n > 1 {
        for _ in 0..50 {
            let th = theta_pb + sigma;
            let f: f64 = coeffs(sigma)
                .iter()
                .enumerate()
                .map(|(i, c)| c * (i as f64 * theta_pb).cos())
                .sum();
            if (f - 1.0).abs() < 1e-3 {
                break;
            }
            let df: f64 = (0..=n)
                .map(|i| {
                    let dc = if i == 0 {
                        w[0] / PI
                    } else {
                        2.0 * w[i] * (i as f64 * th).cos() / PI
                    };
                    dc * (i as f64 * theta_pb).cos()
                })
                .sum();
            if df == 0.0 || !df.is_finite() {
                break;
            }
            sigma -= (f - 1.0) / df;
        }
    }
    let mut c = coeffs(sigma);
    let total: f64 = c.iter().sum();
    if total.is_finite() && total != 0.0 {
        c.iter_mut().for_each(|x| *x /= total);
    }
    c
}

fn windowed_sinc(
    adj: &Adjacency,
    x0: Vec<DVec3>,
    opts: &SmoothOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<Vec<DVec3>, MeshError> {
    let c = sinc_coefficients(opts.iterations, opts.passband);
    let nv = x0.len();
    // Chebyshev recurrence in y = I − K/2 (eigenvalues in [−1, 1]):
    // x₁ = y x₀ = (x₀ + avg x₀)/2, x_{n+1} = 2 y xₙ − x_{n−1} = xₙ + avg xₙ − x_{n−1};
    // the output is Σ cₙ xₙ. A fixed vertex has y = I, so every xₙ equals x₀ there.
    let mut x1 = vec![DVec3::ZERO; nv];
    let mut acc = vec![DVec3::ZERO; nv];
    x1.par_chunks_mut(CHUNK)
        .zip(acc.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(k, (y, a))| {
            let base = k * CHUNK;
            for i in 0..y.len() {
                let v = base + i;
                let (s, e) = (adj.offsets[v], adj.offsets[v + 1]);
                y[i] = if s == e {
                    x0[v]
                } else {
                    0.5 * (x0[v] + sum(&adj.nbrs[s..e], &x0) / (e - s) as f64)
                };
                a[i] = c[0] * x0[v] + c[1] * y[i];
            }
        });
    progress.advance(1);
    let mut prev = x0;
    let mut cur = x1;
    for &ci in &c[2..] {
        if cancel.is_cancelled() {
            return Err(MeshError::Cancelled);
        }
        // `prev` becomes x_{n+1} in place: each vertex reads its own x_{n−1} only.
        let cur_ref = &cur;
        prev.par_chunks_mut(CHUNK)
            .zip(acc.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(k, (p, a))| {
                let base = k * CHUNK;
                let off = &adj.offsets[base..base + p.len() + 1];
                for i in 0..p.len() {
                    let (s, e) = (off[i], off[i + 1]);
                    let x = cur_ref[base + i];
                    let next = if s == e {
                        x
                    } else {
                        x + sum(&adj.nbrs[s..e], cur_ref) / (e - s) as f64 - p[i]
                    };
                    p[i] = next;
                    a[i] += ci * next;
                }
            });
        std::mem::swap(&mut prev, &mut cur);
        progress.advance(1);
    }
    Ok(acc)
}

/// Sum of `x` over the indices `n`, in order.
#[inline]
fn sum(n: &[u32], x: &[DVec3]) -> DVec3 {
    let mut s = DVec3::ZERO;
    for &u in n {
        s += x[u as usize];
    }
    s
}

fn taubin(
    adj: &Adjacency,
    mut x: Vec<DVec3>,
    opts: &SmoothOptions,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<Vec<DVec3>, MeshError> {
    let lambda = opts.taubin_lambda;
    let mu = opts.taubin_mu();
    let mut y = x.clone();
    for _ in 0..opts.iterations {
        if cancel.is_cancelled() {
            return Err(MeshError::Cancelled);
        }
        for f in [lambda, mu] {
            y.par_iter_mut()
                .with_min_len(CHUNK)
                .enumerate()
                .for_each(|(v, out)| {
                    *out = if adj.degree(v) == 0 {
                        x[v]
                    } else {
                        x[v] + f * (adj.average(v, &x) - x[v])
                    };
                });
            std::mem::swap(&mut x, &mut y);
        }
        progress.advance(1);
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(k) = Σ cᵢ Tᵢ(1 − k/2).
    fn transfer(c: &[f64], k: f64) -> f64 {
        let th = (1.0 - 0.5 * k).acos();
        c.iter()
            .enumerate()
            .map(|(i, c)| c * (i as f64 * th).cos())
            .sum()
    }

    #[test]
    fn filter_is_low_pass_without_scale_bias() {
        for n in [2, 5, 10, 20, 50] {
            let c = sinc_coefficients(n, 0.1);
            assert!((transfer(&c, 0.0) - 1.0).abs() < 1e-12, "n = {n}");
            // High frequencies (the staircase) are damped, given enough terms.
            if n >= 20 {
                assert!(
                    transfer(&c, 1.5).abs() < 0.1,
                    "n = {n}: {}",
                    transfer(&c, 1.5)
                );
            }
        }
        let c = sinc_coefficients(20, 0.1);
        // Pass band: close to 1.
        for k in [0.01, 0.05, 0.1] {
            assert!(
                (transfer(&c, k) - 1.0).abs() < 0.02,
                "{k}: {}",
                transfer(&c, k)
            );
        }
    }
}
