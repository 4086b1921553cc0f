//! Shapes with known answers for tests, benchmarks and examples: boxes, a plate on a block
//! with a pushed-in zone, and a plate laid on any bone surface.

use osteon_geom::{DVec3, Vec3};
use osteon_mesh::{Mesh, Topology};
use serde::Serialize;

/// A closed, outward box from `min` to `max` (12 triangles).
pub use osteon_mesh::shapes::cuboid as box_mesh;

/// The plate-on-block phantom: its geometry and exact answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateOnBlock {
    /// Designed gap between the plate's underside and the block's top face (z = 0), mm.
    pub gap_mm: f32,
    /// Depth of the pushed-in zone's underside below the block's top, mm.
    pub push_mm: f32,
    /// Plate thickness, mm.
    pub thickness_mm: f32,
    /// Plate extent in x and y: `[x0, x1, y0, y1]`, mm.
    pub extent_mm: [f32; 4],
    /// Pushed zone: flat bottom for `x` in `[a, b]`, linear ramps `ramp_mm` wide on each side.
    pub zone_mm: [f32; 2],
    /// Ramp width, mm.
    pub ramp_mm: f32,
    /// Grid step of the plate, mm.
    pub step_mm: f32,
}

impl Default for PlateOnBlock {
    fn default() -> Self {
        PlateOnBlock {
            gap_mm: 0.3,
            push_mm: 0.5,
            thickness_mm: 2.0,
            extent_mm: [-15.0, 15.0, -5.0, 5.0],
            zone_mm: [5.0, 9.0],
            ramp_mm: 1.0,
            step_mm: 0.5,
        }
    }
}

impl PlateOnBlock {
    /// Height of the plate's underside at `x`, mm.
    pub fn bottom(&self, x: f32) -> f32 {
        let [a, b] = self.zone_mm;
        let (g, p, r) = (self.gap_mm, -self.push_mm, self.ramp_mm);
        let dist = if x < a {
            a - x
        } else if x > b {
            x - b
        } else {
            0.0
        };
        if dist >= r {
            g
        } else {
            p + (g - p) * (dist / r)
        }
    }

    /// The bone block (top face at z = 0, 40 × 20 × 10 mm, centred under the plate) and the
    /// plate (a closed heightfield slab over a grid of `step_mm`).
    pub fn meshes(&self) -> (Mesh, Mesh) {
        let bone = box_mesh(Vec3::new(-20.0, -10.0, -10.0), Vec3::new(20.0, 10.0, 0.0));
        let [x0, x1, y0, y1] = self.extent_mm;
        let nx = ((x1 - x0) / self.step_mm).round() as u32;
        let ny = ((y1 - y0) / self.step_mm).round() as u32;
        let xs: Vec<f32> = (0..=nx).map(|i| x0 + i as f32 * self.step_mm).collect();
        let ys: Vec<f32> = (0..=ny).map(|j| y0 + j as f32 * self.step_mm).collect();
        let mut pos = Vec::new();
        for top in [false, true] {
            for &y in &ys {
                for &x in &xs {
                    let z = self.bottom(x) + if top { self.thickness_mm } else { 0.0 };
                    pos.push(Vec3::new(x, y, z));
                }
            }
        }
        let layer = (nx + 1) * (ny + 1);
        let id = |i: u32, j: u32, top: bool| j * (nx + 1) + i + if top { layer } else { 0 };
        let mut tri = Vec::new();
        for j in 0..ny {
            for i in 0..nx {
                let (a, b, c, d) = (
                    id(i, j, false),
                    id(i + 1, j, false),
                    id(i, j + 1, false),
                    id(i + 1, j + 1, false),
                );
                tri.push([a, d, b]);
                tri.push([a, c, d]);
                let (a, b, c, d) = (
                    id(i, j, true),
                    id(i + 1, j, true),
                    id(i, j + 1, true),
                    id(i + 1, j + 1, true),
                );
                tri.push([a, b, d]);
                tri.push([a, d, c]);
            }
        }
        // Boundary ring, counter-clockwise seen from above.
        let mut ring = Vec::new();
        ring.extend((0..nx).map(|i| (i, 0)));
        ring.extend((0..ny).map(|j| (nx, j)));
        ring.extend((1..=nx).rev().map(|i| (i, ny)));
        ring.extend((1..=ny).rev().map(|j| (0, j)));
        for k in 0..ring.len() {
            let (p, q) = (ring[k], ring[(k + 1) % ring.len()]);
            let (bp, bq) = (id(p.0, p.1, false), id(q.0, q.1, false));
            let (tp, tq) = (id(p.0, p.1, true), id(q.0, q.1, true));
            tri.push([bp, bq, tq]);
            tri.push([bp, tq, tp]);
        }
        (
            Mesh {
                positions: pos,
                triangles: tri,
            },
            bone,
        )
    }

    /// Exact volume of the plate below z = 0 (the interference with the block), mm³.
    pub fn penetration_volume(&self) -> f64 {
        let (g, p, r) = (self.gap_mm as f64, self.push_mm as f64, self.ramp_mm as f64);
        let width = (self.extent_mm[3] - self.extent_mm[2]) as f64;
        let flat = (self.zone_mm[1] - self.zone_mm[0]) as f64;
        // Each ramp rises from −p to g over r: below zero for a length r·p/(p + g).
        let below = r * p / (p + g);
        width * (flat * p + 2.0 * 0.5 * below * p)
    }

    /// Exact fraction of the bone-facing (underside) area whose gap lies in `[lo, hi]`
    /// (for `0 <= lo <= gap <= hi`).
    pub fn contact_fraction(&self, lo: f64, hi: f64) -> f64 {
        let (g, p, r) = (self.gap_mm as f64, self.push_mm as f64, self.ramp_mm as f64);
        let [x0, x1, _, _] = self.extent_mm.map(|v| v as f64);
        let flat_zone = (self.zone_mm[1] - self.zone_mm[0]) as f64;
        let rise = g + p;
        let slant = (r * r + rise * rise).sqrt();
        let outside = (x1 - x0) - flat_zone - 2.0 * r;
        let facing = outside + flat_zone + 2.0 * slant;
        let in_band = outside + 2.0 * slant * ((g.min(hi) - lo.max(-p)).max(0.0) / rise);
        in_band / facing
    }
}

/// A plate laid on a bone surface: the bone triangles whose corners all lie within
/// `radius` of `centre` form a patch; it is copied `gap` and `gap + thickness` along the
/// angle-weighted vertex normals, and the two copies are joined by walls along the patch
/// boundary. Closed and outward when the patch is a disc and the offsets do not fold
/// (smooth bone, gap and thickness small against its curvature radius). Returns `None` when
/// no triangle is in range.
pub fn plate_on_surface(
    bone: &Mesh,
    centre: Vec3,
    radius: f32,
    gap: f32,
    thickness: f32,
) -> Option<Mesh> {
    let keep: Vec<usize> = (0..bone.triangles.len())
        .filter(|&t| bone.corners(t).iter().all(|p| p.distance(centre) <= radius))
        .collect();
    // Only the piece edge-connected to the triangle nearest the centre (a thin bone's
    // inner wall can lie within the radius too).
    let seed = *keep.iter().min_by(|&&a, &&b| {
        let da = bone
            .corners(a)
            .iter()
            .map(|p| p.distance(centre))
            .fold(f32::INFINITY, f32::min);
        let db = bone
            .corners(b)
            .iter()
            .map(|p| p.distance(centre))
            .fold(f32::INFINITY, f32::min);
        da.total_cmp(&db).then(a.cmp(&b))
    })?;
    let mut by_edge: std::collections::BTreeMap<(u32, u32), Vec<usize>> = Default::default();
    for &t in &keep {
        let tr = bone.triangles[t];
        for k in 0..3 {
            let (a, b) = (tr[k], tr[(k + 1) % 3]);
            by_edge.entry((a.min(b), a.max(b))).or_default().push(t);
        }
    }
    let mut seen = std::collections::BTreeSet::from([seed]);
    let mut stack = vec![seed];
    while let Some(t) = stack.pop() {
        let tr = bone.triangles[t];
        for k in 0..3 {
            let (a, b) = (tr[k], tr[(k + 1) % 3]);
            for &u in &by_edge[&(a.min(b), a.max(b))] {
                if seen.insert(u) {
                    stack.push(u);
                }
            }
        }
    }
    let keep: Vec<usize> = seen.into_iter().collect();
    // Vertex normals of the whole bone (angle-weighted).
    let mut vn = vec![DVec3::ZERO; bone.positions.len()];
    for (t, tri) in bone.triangles.iter().enumerate() {
        let c = bone.corners(t).map(|p| p.as_dvec3());
        let n = (c[1] - c[0]).cross(c[2] - c[0]).normalize_or_zero();
        for k in 0..3 {
            let a = (c[(k + 1) % 3] - c[k]).angle_between(c[(k + 2) % 3] - c[k]);
            if a.is_finite() {
                vn[tri[k] as usize] += n * a;
            }
        }
    }
    let mut map = vec![u32::MAX; bone.positions.len()];
    let mut verts = Vec::new();
    for &t in &keep {
        for &i in &bone.triangles[t] {
            if map[i as usize] == u32::MAX {
                map[i as usize] = verts.len() as u32;
                verts.push(i);
            }
        }
    }
    let n = verts.len() as u32;
    let mut pos = Vec::with_capacity(2 * verts.len());
    for off in [gap, gap + thickness] {
        for &i in &verts {
            let nrm = vn[i as usize].normalize_or_zero().as_vec3();
            pos.push(bone.positions[i as usize] + nrm * off);
        }
    }
    let patch: Vec<[u32; 3]> = keep
        .iter()
        .map(|&t| bone.triangles[t].map(|i| map[i as usize]))
        .collect();
    let mut tri = Vec::new();
    for t in &patch {
        tri.push([t[0], t[2], t[1]]);
        tri.push([t[0] + n, t[1] + n, t[2] + n]);
    }
    let pm = Mesh {
        positions: pos[..verts.len()].to_vec(),
        triangles: patch.clone(),
    };
    let topo = Topology::new(&pm).ok()?;
    for (t, tr) in patch.iter().enumerate() {
        for k in 0..3 {
            if topo.opposite(3 * t + k).is_none() {
                let (p, q) = (tr[k], tr[(k + 1) % 3]);
                tri.push([p, q, q + n]);
                tri.push([p, q + n, p + n]);
            }
        }
    }
    Some(Mesh {
        positions: pos,
        triangles: tri,
    })
}
