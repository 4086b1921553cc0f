//! Untangling a projected surface: the exact self-intersection search finds the triangles
//! that projection and splitting folded through each other; their vertices are relaxed along
//! the level set, then moved back toward their marching-cubes positions until none intersect.
//! See [`crate::project`] for the whole method.

use osteon_geom::{Cancel, Vec3};
use osteon_mesh::Mesh;
use rayon::prelude::*;

use crate::project::Projector;
use crate::SdfError;

/// Rounds of [`untangle`] that move the vertices of folded triangles (and their first ring)
/// to the projection of their ring's centroid onto the level set: tangential relaxation,
/// which opens most folds (inverted slivers of marching cubes) while every vertex stays on
/// the level set.
const UNTANGLE_RELAX: usize = 6;
/// Rounds of [`untangle`] after the relaxation that shrink the displacement of the vertices
/// involved (by [`UNTANGLE_KEEP`]) before the rounds that put them, then also their first
/// ring, back at their origin.
const UNTANGLE_HALVINGS: usize = 8;
/// Rounds of [`untangle`] in all after the relaxation (searches after the first full one).
const UNTANGLE_ROUNDS: usize = 12;
/// Share of its displacement a vertex keeps in each of the halving rounds.
const UNTANGLE_KEEP: f32 = 0.75;

/// Triangles filed by the cell of their centroid over a grid of cubic cells: the broad
/// phase of [`intersections_among`]. Dense (a start per cell, a counting sort: constant-time
/// lookups) or sparse (sorted keys, for a few triangles).
struct Cells {
    lo: Vec3,
    cell: f32,
    dims: [u64; 3],
    /// Sparse: (cell key of the centroid, triangle), sorted.
    keys: Vec<(u64, u32)>,
    /// Dense: triangles by cell, and the start of each cell's run (one more than cells).
    tris: Vec<u32>,
    starts: Vec<u32>,
    /// Largest distance from a filed centroid to its triangle's corners.
    reach: f32,
}

impl Cells {
    /// Files triangles `tris` of `mesh` (current positions) over the grid `lo`, `cell`,
    /// `dims`, densely or not.
    ///
    /// Triangles reaching farther than `cap` from their centroid are not filed but returned
    /// (file them in a sparse index of their own, so that their reach does not widen every
    /// query of this one).
    fn new(
        mesh: &Mesh,
        tris: &[u32],
        lo: Vec3,
        cell: f32,
        dims: [u64; 3],
        dense: bool,
        cap: f32,
    ) -> (Cells, Vec<u32>) {
        let mut c = Cells {
            lo,
            cell,
            dims,
            keys: Vec::new(),
            tris: Vec::new(),
            starts: Vec::new(),
            reach: 0.0,
        };
        let (mut keys, reach): (Vec<(u64, u32)>, Vec<f32>) = tris
            .par_iter()
            .with_min_len(4096)
            .map(|&t| {
                let p = mesh.triangles[t as usize].map(|i| mesh.positions[i as usize]);
                let m = (p[0] + p[1] + p[2]) / 3.0;
                let r = p.iter().map(|q| q.distance(m)).fold(0.0f32, f32::max);
                (
                    (c.key(c.cell_of(m)), t),
                    if r.is_finite() { r } else { 0.0 },
                )
            })
            .unzip();
        let mut big = Vec::new();
        let mut r_max = 0.0f32;
        let mut j = 0;
        for i in 0..keys.len() {
            if reach[i] > cap {
                big.push(keys[i].1);
            } else {
                r_max = r_max.max(reach[i]);
                keys[j] = keys[i];
                j += 1;
            }
        }
        keys.truncate(j);
        c.reach = r_max;
        if dense {
            let n = (dims[0] * dims[1] * dims[2]) as usize;
            let mut starts = vec![0u32; n + 1];
            for &(k, _) in &keys {
                starts[k as usize + 1] += 1;
            }
            for i in 0..n {
                starts[i + 1] += starts[i];
            }
            let mut fill = starts.clone();
            let mut out = vec![0u32; keys.len()];
            for &(k, t) in &keys {
                out[fill[k as usize] as usize] = t;
                fill[k as usize] += 1;
            }
            c.tris = out;
            c.starts = starts;
        } else {
            keys.par_sort_unstable();
            c.keys = keys;
        }
        (c, big)
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.tris.is_empty()
    }

    #[inline]
    fn cell_of(&self, p: Vec3) -> [u64; 3] {
        let q = ((p - self.lo) / self.cell).floor().max(Vec3::ZERO);
        [
            (q.x as u64).min(self.dims[0] - 1),
            (q.y as u64).min(self.dims[1] - 1),
            (q.z as u64).min(self.dims[2] - 1),
        ]
    }

    #[inline]
    fn key(&self, c: [u64; 3]) -> u64 {
        (c[2] * self.dims[1] + c[1]) * self.dims[0] + c[0]
    }

    /// Calls `f` with every filed triangle whose filed centroid lies within the box `(a, c)`
    /// widened by `margin`.
    fn each_near(&self, a: Vec3, c: Vec3, margin: f32, mut f: impl FnMut(u32)) {
        let m = Vec3::splat(margin);
        let (i0, i1) = (self.cell_of(a - m), self.cell_of(c + m));
        for z in i0[2]..=i1[2] {
            for y in i0[1]..=i1[1] {
                let k0 = self.key([i0[0], y, z]);
                let k1 = self.key([i1[0], y, z]);
                if self.starts.is_empty() {
                    let s = self.keys.partition_point(|e| e.0 < k0);
                    for &(_, u) in self.keys[s..].iter().take_while(|e| e.0 <= k1) {
                        f(u);
                    }
                } else {
                    let (s, e) = (self.starts[k0 as usize], self.starts[k1 as usize + 1]);
                    for &u in &self.tris[s as usize..e as usize] {
                        f(u);
                    }
                }
            }
        }
    }
}

/// The broad phase of [`untangle`], built once for all its rounds: every triangle filed by
/// its centroid at build time ([`Cells`]). Vertices move afterwards; a triangle with a vertex
/// moved more than [`TriIndex::slack`] from its build-time position is *dirty* and filed
/// again, at its current place, in a small second index rebuilt each round — so a query
/// widened by the reach plus the slack still finds every triangle whose current box can
/// overlap its own, at a cost proportional to the triangles queried.
struct TriIndex {
    /// Every triangle at build time: the small ones densely, the large ones sparsely.
    fixed: [Cells; 2],
    /// Vertex positions at build time.
    built: Vec<Vec3>,
    slack: f32,
    dirty: Vec<bool>,
    /// The dirty triangles at their current places, small and large.
    moving: [Cells; 2],
}

impl TriIndex {
    fn new(mesh: &Mesh, cell: f32) -> Option<TriIndex> {
        let b = mesh.bounds()?;
        let lo = b.min - Vec3::splat(cell);
        let d = ((b.max - lo) / cell).ceil() + 2.0;
        if !(d.is_finite() && d.max_element() < 1e6) {
            return None;
        }
        // Dense starts for grids of up to 2^26 cells (256 MiB), sorted keys beyond.
        let dense = d.x * d.y * d.z <= (1u64 << 26) as f32;
        let dims = [d.x as u64, d.y as u64, d.z as u64];
        let all: Vec<u32> = (0..mesh.triangles.len() as u32).collect();
        let (small, big) = Cells::new(mesh, &all, lo, cell, dims, dense, 0.5 * cell);
        let (big, _) = Cells::new(mesh, &big, lo, cell, dims, false, f32::INFINITY);
        let (none, _) = Cells::new(mesh, &[], lo, cell, dims, false, f32::INFINITY);
        let (none2, _) = Cells::new(mesh, &[], lo, cell, dims, false, f32::INFINITY);
        Some(TriIndex {
            fixed: [small, big],
            built: mesh.positions.clone(),
            slack: 0.25 * cell,
            dirty: vec![false; mesh.triangles.len()],
            moving: [none, none2],
        })
    }

    /// Records that vertices `verts` of `mesh` (triangles around them: `tris_of`) may have
    /// moved, and refiles the dirty triangles.
    fn note_moved<'a>(&mut self, mesh: &Mesh, verts: &[u32], tris_of: impl Fn(u32) -> &'a [u32]) {
        for &v in verts {
            let d = mesh.positions[v as usize].distance(self.built[v as usize]);
            if d.is_nan() || d > self.slack {
                for &t in tris_of(v) {
                    self.dirty[t as usize] = true;
                }
            }
        }
        let dirty: Vec<u32> = (0..self.dirty.len() as u32)
            .filter(|&t| self.dirty[t as usize])
            .collect();
        let f = &self.fixed[0];
        let (lo, cell, dims) = (f.lo, f.cell, f.dims);
        let (small, big) = Cells::new(mesh, &dirty, lo, cell, dims, false, 0.5 * cell);
        let (big, _) = Cells::new(mesh, &big, lo, cell, dims, false, f32::INFINITY);
        self.moving = [small, big];
    }

    /// Calls `f` with every triangle whose current box can overlap the box `(a, c)` (and
    /// some others; each once).
    fn candidates(&self, a: Vec3, c: Vec3, mut f: impl FnMut(u32)) {
        for cells in &self.fixed {
            if !cells.is_empty() {
                cells.each_near(a, c, cells.reach + self.slack, |u| {
                    if !self.dirty[u as usize] {
                        f(u);
                    }
                });
            }
        }
        for cells in &self.moving {
            if !cells.is_empty() {
                cells.each_near(a, c, cells.reach, &mut f);
            }
        }
    }
}

/// The triangles of `mesh` that intersect one of `subset` (sorted, `subset` sorted), and
/// those of `subset` they intersect: every pair with at least one member in `subset`,
/// candidates from `index` (a search proportional to the subset, not to the mesh).
fn intersections_among(mesh: &Mesh, subset: &[u32], index: &TriIndex) -> Vec<u32> {
    use osteon_mesh::triangles_intersect;
    let corners = |t: u32| mesh.triangles[t as usize].map(|i| mesh.positions[i as usize]);
    let bbox = |p: &[Vec3; 3]| (p[0].min(p[1]).min(p[2]), p[0].max(p[1]).max(p[2]));
    let in_subset = |t: u32| subset.binary_search(&t).is_ok();
    let mut out: Vec<u32> = subset
        .par_iter()
        .with_min_len(256)
        .fold(Vec::new, |mut out, &t| {
            let p = corners(t);
            let (a, c) = bbox(&p);
            if !(a.is_finite() && c.is_finite()) {
                return out;
            }
            index.candidates(a, c, |u| {
                // Pairs of two subset triangles are tested once (from the smaller).
                if u == t || (u < t && in_subset(u)) {
                    return;
                }
                let q = corners(u);
                let (ua, uc) = bbox(&q);
                if ua.cmpgt(c).any() || a.cmpgt(uc).any() {
                    return;
                }
                if triangles_intersect(p, q) {
                    out.push(t);
                    out.push(u);
                }
            });
            out
        })
        .reduce(Vec::new, |mut a, b| {
            a.extend_from_slice(&b);
            a
        });
    out.par_sort_unstable();
    out.dedup();
    out
}

/// Undoes the folds that projection and splitting can make (inverted slivers of marching
/// cubes, two sheets of a thin groove or a crease pulled through each other): the mesh is
/// searched for self-intersecting triangles (exactly, [`osteon_mesh::self_intersections`]).
/// First the vertices of those triangles and their first ring are relaxed along the level
/// set — each moved to the projection of its neighbours' centroid — for
/// [`UNTANGLE_RELAX`] rounds, which keeps them on the level set; the folds that survive are
/// undone by moving their vertices back toward `origin` — their marching-cubes positions,
/// or for split vertices the matching point of the marching-cubes edge — shrinking their
/// displacement by a quarter per round for a few rounds, then putting them, and from the
/// next round on also their first ring, at `origin`. Each later round searches only the
/// triangles around the vertices moved.
///
/// With every vertex at `origin` the mesh is the marching-cubes surface subdivided inside its
/// own triangles, free of self-intersections; a fold that survives the rounds has all its
/// vertices put there (up to f32 rounding of the split points). Returns the triangles found
/// folded at first, the vertices moved off the level set (rolled back) and the triangles
/// still intersecting.
pub(crate) fn untangle(
    mesh: &mut Mesh,
    origin: &[Vec3],
    pr: &Projector<'_>,
    cell: f32,
    cancel: &dyn Cancel,
) -> Result<(usize, usize, usize), SdfError> {
    let mut faces = osteon_mesh::self_intersections(mesh).faces;
    let folded = faces.len();
    if faces.is_empty() {
        return Ok((0, 0, 0));
    }
    let Some(mut index) = TriIndex::new(mesh, 2.0 * cell) else {
        return Ok((folded, 0, folded));
    };
    // Triangles around each vertex (CSR).
    let nv = mesh.positions.len();
    let mut start = vec![0u32; nv + 1];
    for t in &mesh.triangles {
        for &v in t {
            start[v as usize + 1] += 1;
        }
    }
    for i in 0..nv {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut around = vec![0u32; start[nv] as usize];
    for (t, tri) in mesh.triangles.iter().enumerate() {
        for &v in tri {
            around[fill[v as usize] as usize] = t as u32;
            fill[v as usize] += 1;
        }
    }
    let tris_of = |v: u32| &around[start[v as usize] as usize..start[v as usize + 1] as usize];
    let tris_around = |verts: &[u32], mesh: &Mesh| -> Vec<u32> {
        let _ = mesh;
        let mut tris: Vec<u32> = verts.iter().flat_map(|&v| tris_of(v)).copied().collect();
        tris.sort_unstable();
        tris.dedup();
        tris
    };
    let mut moved = vec![false; nv];
    // Tangential relaxation on the level set.
    for _ in 0..UNTANGLE_RELAX {
        if faces.is_empty() {
            break;
        }
        if cancel.is_cancelled() {
            return Err(SdfError::Cancelled);
        }
        let mut verts: Vec<u32> = faces
            .iter()
            .flat_map(|&f| mesh.triangles[f as usize])
            .flat_map(|v| tris_of(v).iter().flat_map(|&t| mesh.triangles[t as usize]))
            .collect();
        verts.sort_unstable();
        verts.dedup();
        let pos = &mesh.positions;
        let tri = &mesh.triangles;
        let new: Vec<Vec3> = verts
            .par_iter()
            .with_min_len(64)
            .map(|&v| {
                let ts = tris_of(v);
                let mut c = Vec3::ZERO;
                for &t in ts {
                    for &w in &tri[t as usize] {
                        if w != v {
                            c += pos[w as usize];
                        }
                    }
                }
                if ts.is_empty() {
                    return pos[v as usize];
                }
                let c = c / (2 * ts.len()) as f32;
                pr.project_hinted(c, None).0
            })
            .collect();
        for (&v, p) in verts.iter().zip(new) {
            mesh.positions[v as usize] = p;
        }
        index.note_moved(mesh, &verts, tris_of);
        let tris = tris_around(&verts, mesh);
        faces = intersections_among(mesh, &tris, &index);
    }
    let mut round = 0;
    while !faces.is_empty() {
        if cancel.is_cancelled() {
            return Err(SdfError::Cancelled);
        }
        let last = round >= UNTANGLE_HALVINGS;
        let mut verts: Vec<u32> = faces
            .iter()
            .flat_map(|&f| mesh.triangles[f as usize])
            .collect();
        if round > UNTANGLE_HALVINGS {
            let ring: Vec<u32> = verts
                .iter()
                .flat_map(|&v| tris_of(v))
                .flat_map(|&t| mesh.triangles[t as usize])
                .collect();
            verts.extend(ring);
        }
        verts.sort_unstable();
        verts.dedup();
        for &v in &verts {
            let v = v as usize;
            let (o, p) = (origin[v], mesh.positions[v]);
            if p != o {
                moved[v] = true;
                mesh.positions[v] = if last { o } else { o + (p - o) * UNTANGLE_KEEP };
            }
        }
        index.note_moved(mesh, &verts, tris_of);
        round += 1;
        if round > UNTANGLE_ROUNDS {
            break;
        }
        let tris = tris_around(&verts, mesh);
        faces = intersections_among(mesh, &tris, &index);
    }
    let left = if round > UNTANGLE_ROUNDS {
        osteon_mesh::self_intersections(mesh).faces.len()
    } else {
        0
    };
    Ok((folded, moved.iter().filter(|&&m| m).count(), left))
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_mesh::shapes::icosphere;

    /// The index built before vertices move finds, from the triangles around the moved
    /// vertices alone, exactly the intersecting triangles a whole-mesh search finds: moves
    /// of every size (within the slack, beyond it, through the opposite side).
    #[test]
    fn indexed_search_after_moves_matches_the_full_search() {
        let mut mesh = icosphere(4, 5.0);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32
        };
        let cell = 0.6;
        let mut index = TriIndex::new(&mesh, cell).unwrap();
        let nv = mesh.positions.len();
        let mut around: Vec<Vec<u32>> = vec![Vec::new(); nv];
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for &v in tri {
                around[v as usize].push(t as u32);
            }
        }
        let mut found_any = false;
        for round in 0..4 {
            // Move some vertices: small jitters, and a few pushed through the sphere.
            let mut verts: Vec<u32> = (0..nv as u32).filter(|_| rnd() < 0.05).collect();
            for &v in &verts {
                let p = mesh.positions[v as usize];
                mesh.positions[v as usize] = if rnd() < 0.2 {
                    p * (-0.9 + 0.2 * rnd())
                } else {
                    p + Vec3::new(rnd() - 0.5, rnd() - 0.5, rnd() - 0.5) * (0.2 * round as f32)
                };
            }
            verts.sort_unstable();
            index.note_moved(&mesh, &verts, |v| &around[v as usize]);
            // All triangles moved so far form the subset (the rest did not move).
            let moved_tris: Vec<u32> = {
                let mut t: Vec<u32> = (0..mesh.triangles.len() as u32)
                    .filter(|&t| {
                        mesh.triangles[t as usize]
                            .iter()
                            .any(|&v| mesh.positions[v as usize] != index.built[v as usize])
                    })
                    .collect();
                t.sort_unstable();
                t
            };
            let mine = intersections_among(&mesh, &moved_tris, &index);
            let full = osteon_mesh::self_intersections(&mesh).faces;
            assert_eq!(mine, full, "round {round}");
            found_any |= !full.is_empty();
        }
        assert!(
            found_any,
            "the moves made no intersection: the test tests nothing"
        );
    }
}
