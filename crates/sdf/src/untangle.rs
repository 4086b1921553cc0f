//! Untangling a projected surface: the exact self-intersection search finds the triangles
//! that projection and splitting folded through each other; their vertices are relaxed along
//! the level set, then moved back toward their marching-cubes positions until none intersect,
//! and finally pushed forward one by one toward the level set as far as they go without an
//! intersection ([`push_forward`]).
//! See [`crate::project`] for the whole method.
//!
//! The search is the one of [`osteon_mesh::self_intersections`] (same answer, exactly), kept
//! alive across the rounds: one hierarchy of triangle boxes ([`Tree`], 8-ary, Morton order,
//! refitted after each move), the fan certificates of the vertices ([`certify`], renewed
//! around the moved ones), and for the remaining pairs quick proofs from certain
//! floating-point orientations ([`apart`], [`touching_apart`]) before the exact test
//! ([`osteon_mesh::triangles_intersect`]). Its building blocks are the mesh crate's own
//! (`osteon_mesh::self_intersect`, hidden from its documentation): the boxes and their
//! lanes ([`Aabb`], [`Lanes`]), the Morton keys ([`morton_keys`]), the fan certificate
//! ([`Fan`]), the touching-boxes proof and the exact and filtered orientations; only the
//! hierarchy, kept and refitted across rounds, and the quick proofs are this module's. The
//! first search, over the whole mesh, descends the hierarchy once per leaf and tests a
//! leaf's triangles only against the leaves whose box meets theirs; the later ones start
//! only from the triangles around the moved vertices, grouped by leaf. On the 3.2 M-triangle
//! head offset (+1 mm, 0.5 mm voxels, 37 925 folded triangles) the stage took about 0.6 of
//! its former time, same output.

use osteon_geom::{Cancel, Vec3};
use osteon_mesh::self_intersect::{
    morton_keys, o3_sure, outside_an_edge, proj, touching_apart, Aabb, Fan, Lanes, LEAF,
};
use osteon_mesh::{triangles_intersect, Mesh};
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
/// Sweeps of the push-forward pass of [`untangle`] over the rolled-back vertices (stopping
/// early when none moves).
const PUSH_SWEEPS: usize = 3;
/// Shares of the way from a rolled-back vertex to its projection onto the level set that
/// the push-forward pass of [`untangle`] tries, largest first; the first that makes no
/// intersection is kept.
const PUSH_STEPS: [f32; 5] = [1.0, 0.5, 0.25, 0.125, 0.0625];

/// Children per node and triangles per leaf of [`Tree`]: the lanes of a [`Lanes`], so the
/// mesh crate's leaf size (tuned for its own search) sets this tree's fan-out too.
const FAN: usize = LEAF;

/// The box of triangle `tri` when its corners are finite, else [`Aabb::EMPTY`] (never paired,
/// as in [`osteon_mesh::self_intersections`]).
#[inline]
fn tri_box(pos: &[Vec3], tri: &[u32; 3]) -> Aabb {
    let p = tri.map(|i| pos[i as usize]);
    if !p.iter().all(|q| q.is_finite()) {
        return Aabb::EMPTY;
    }
    Aabb::of(&p)
}

/// The broad phase of [`untangle`], built once for all its rounds: an 8-ary hierarchy of
/// the triangles' boxes (triangles in the Morton order of their box centres at build time,
/// leaves and nodes of [`FAN`] boxes stored lane by lane), *refitted* after vertices move —
/// the boxes of the triangles around them and of their ancestors are recomputed — so every
/// query sees exact current boxes whatever the size of the moves.
struct Tree {
    /// Triangles in leaf order (leaf `j` holds `order[FAN·j ..]`).
    order: Vec<u32>,
    /// Position of every triangle in `order`.
    slot: Vec<u32>,
    /// The corner indices of `order`'s triangles, in that order.
    corners: Vec<[u32; 3]>,
    /// `levels[0][j]`: the boxes of leaf `j`'s triangles; `levels[k][j]` lane `i`: the box
    /// around `levels[k − 1][FAN·j + i]`. The last level has one entry, the root's children.
    levels: Vec<Vec<Lanes>>,
}

impl Tree {
    fn new(mesh: &Mesh) -> Tree {
        let (pos, tris) = (&mesh.positions, &mesh.triangles);
        let n = tris.len();
        let boxes: Vec<Aabb> = tris
            .par_iter()
            .with_min_len(4096)
            .map(|t| tri_box(pos, t))
            .collect();
        // Keys: Morton code of the box centre above the triangle index (distinct keys:
        // the order does not depend on the sort or the number of threads).
        let (mut keys, index_bits, _) = morton_keys(n, |t| boxes[t]);
        keys.par_sort_unstable();
        let mask = (1u64 << index_bits) - 1;
        let order: Vec<u32> = keys.into_iter().map(|k| (k & mask) as u32).collect();
        let mut slot = vec![0u32; n];
        for (i, &t) in order.iter().enumerate() {
            slot[t as usize] = i as u32;
        }
        let leaves: Vec<Lanes> = order
            .par_chunks(FAN)
            .with_min_len(256)
            .map(|c| {
                let mut l = Lanes::EMPTY;
                for (i, &t) in c.iter().enumerate() {
                    l.set(i, &boxes[t as usize]);
                }
                l
            })
            .collect();
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().unwrap_or(&levels[0]);
            let up: Vec<Lanes> = below
                .par_chunks(FAN)
                .with_min_len(256)
                .map(|c| {
                    let mut l = Lanes::EMPTY;
                    for (i, x) in c.iter().enumerate() {
                        l.set(i, &x.bounds());
                    }
                    l
                })
                .collect();
            levels.push(up);
        }
        let corners = order.iter().map(|&t| tris[t as usize]).collect();
        Tree {
            order,
            slot,
            corners,
            levels,
        }
    }

    /// Recomputes the boxes of triangles `tris` (whose corners moved) and of the nodes
    /// above them.
    fn refit(&mut self, mesh: &Mesh, tris: &[u32]) {
        let mut dirty: Vec<u32> = Vec::with_capacity(tris.len());
        for &t in tris {
            let s = self.slot[t as usize] as usize;
            let b = tri_box(&mesh.positions, &mesh.triangles[t as usize]);
            self.levels[0][s / FAN].set(s % FAN, &b);
            dirty.push((s / FAN) as u32);
        }
        dirty.sort_unstable();
        dirty.dedup();
        for k in 1..self.levels.len() {
            let (below, above) = self.levels.split_at_mut(k);
            let (below, above) = (&below[k - 1], &mut above[0]);
            for &j in &dirty {
                let j = j as usize;
                above[j / FAN].set(j % FAN, &below[j].bounds());
            }
            for j in dirty.iter_mut() {
                *j /= FAN as u32;
            }
            dirty.dedup();
        }
    }

    /// The intersecting triangles of the whole mesh, sorted: the exact answer of
    /// [`osteon_mesh::self_intersections`] (see [`apart`] for the pair test). One descent
    /// per leaf, with the leaf's box: the leaves it meets are then tested lane by lane
    /// against each of its triangles.
    fn all(&self, mesh: &Mesh, cert: &[bool]) -> Vec<u32> {
        let pos = &mesh.positions;
        let leaves = &self.levels[0];
        let out: Vec<u32> = (0..leaves.len())
            .into_par_iter()
            .with_min_len(16)
            .fold(
                || (Vec::new(), Vec::with_capacity(64), Vec::with_capacity(64)),
                |(mut out, mut stack, mut near): (Vec<u32>, Vec<(u8, u32)>, Vec<u32>), j| {
                    let lb = self.leaf_box(j);
                    if lb.is_empty() {
                        return (out, stack, near);
                    }
                    near.clear();
                    self.query_nodes(&lb, &mut stack, |l| {
                        if l as usize >= j {
                            near.push(l);
                        }
                    });
                    let items = &self.order[j * FAN..((j + 1) * FAN).min(self.order.len())];
                    for &l in &near {
                        let l = l as usize;
                        // This leaf's triangles that meet leaf `l`'s box, then each of
                        // them against `l`'s lanes.
                        let mut mi = if l == j {
                            (1u32 << items.len()) - 1
                        } else {
                            leaves[j].overlapping(&self.leaf_box(l))
                        };
                        while mi != 0 {
                            let i = mi.trailing_zeros() as usize;
                            mi &= mi - 1;
                            let t = items[i];
                            let ti = self.corners[j * FAN + i];
                            let b = leaves[j].get(i);
                            let mut m = leaves[l].overlapping(&b);
                            if l == j {
                                // Lanes after `i` only: each pair once.
                                m &= !((2u32 << i) - 1);
                            }
                            if m == 0 {
                                continue;
                            }
                            let p = ti.map(|i| pos[i as usize]);
                            while m != 0 {
                                let k = m.trailing_zeros() as usize;
                                m &= m - 1;
                                let tu = self.corners[l * FAN + k];
                                if crosses(&ti, &tu, &b, &leaves[l].get(k), &p, pos, cert) {
                                    out.push(t);
                                    out.push(self.order[l * FAN + k]);
                                }
                            }
                        }
                    }
                    (out, stack, near)
                },
            )
            .map(|(o, _, _)| o)
            .reduce(Vec::new, |mut a, b| {
                a.extend_from_slice(&b);
                a
            });
        finish(out)
    }

    /// The box around leaf `l`'s triangles.
    #[inline]
    fn leaf_box(&self, l: usize) -> Aabb {
        match self.levels.get(1) {
            Some(up) => up[l / FAN].get(l % FAN),
            None => self.levels[0][l].bounds(),
        }
    }

    /// Calls `f` with every leaf whose box overlaps `b`.
    fn query_nodes(&self, b: &Aabb, stack: &mut Vec<(u8, u32)>, mut f: impl FnMut(u32)) {
        let top = self.levels.len() - 1;
        if top == 0 {
            f(0);
            return;
        }
        stack.clear();
        stack.push((top as u8, 0));
        while let Some((k, j)) = stack.pop() {
            let mut m = self.levels[k as usize][j as usize].overlapping(b);
            while m != 0 {
                let i = m.trailing_zeros();
                m &= m - 1;
                let c = j * FAN as u32 + i;
                if k == 1 {
                    f(c);
                } else {
                    stack.push((k - 1, c));
                }
            }
        }
    }

    /// The triangles of `mesh` that intersect one of `subset` (sorted), and those of
    /// `subset` they intersect: every pair with at least one member in `subset` (a search
    /// proportional to the subset, not to the mesh). Boxes must be current ([`Tree::refit`]).
    /// The subset's triangles are grouped by leaf: one descent per group, with the box
    /// around the group.
    fn among(&self, mesh: &Mesh, subset: &[u32], cert: &[bool]) -> Vec<u32> {
        let pos = &mesh.positions;
        let tris = &mesh.triangles;
        let leaves = &self.levels[0];
        let in_subset = |t: u32| subset.binary_search(&t).is_ok();
        let mut by_leaf: Vec<u64> = subset
            .iter()
            .map(|&t| (self.slot[t as usize] as u64) << 32 | t as u64)
            .collect();
        by_leaf.par_sort_unstable();
        // Group starts: runs of one leaf.
        let mut groups: Vec<usize> = Vec::new();
        for (i, &k) in by_leaf.iter().enumerate() {
            if i == 0 || (k >> 32) as usize / FAN != (by_leaf[i - 1] >> 32) as usize / FAN {
                groups.push(i);
            }
        }
        groups.push(by_leaf.len());
        let out = groups
            .par_windows(2)
            .with_min_len(16)
            .fold(
                || (Vec::new(), Vec::with_capacity(64), Vec::with_capacity(64)),
                |(mut out, mut stack, mut near): (Vec<u32>, Vec<(u8, u32)>, Vec<u32>), w| {
                    let group = &by_leaf[w[0]..w[1]];
                    let mut gb = Aabb::EMPTY;
                    for &k in group {
                        gb = gb.union(&tri_box(pos, &tris[(k & 0xffff_ffff) as usize]));
                    }
                    if gb.is_empty() {
                        return (out, stack, near);
                    }
                    near.clear();
                    self.query_nodes(&gb, &mut stack, |l| near.push(l));
                    for &k in group {
                        let t = (k & 0xffff_ffff) as u32;
                        let ti = tris[t as usize];
                        let b = tri_box(pos, &ti);
                        if b.is_empty() {
                            continue;
                        }
                        let p = ti.map(|i| pos[i as usize]);
                        for &l in &near {
                            let mut m = leaves[l as usize].overlapping(&b);
                            while m != 0 {
                                let j = m.trailing_zeros() as usize;
                                m &= m - 1;
                                let u = self.order[l as usize * FAN + j];
                                // Pairs of two subset triangles are tested once (from the
                                // smaller).
                                if u == t || (u < t && in_subset(u)) {
                                    continue;
                                }
                                let tu = self.corners[l as usize * FAN + j];
                                let bu = leaves[l as usize].get(j);
                                if crosses(&ti, &tu, &b, &bu, &p, pos, cert) {
                                    out.push(t);
                                    out.push(u);
                                }
                            }
                        }
                    }
                    (out, stack, near)
                },
            )
            .map(|(o, _, _)| o)
            .reduce(Vec::new, |mut a, b| {
                a.extend_from_slice(&b);
                a
            });
        finish(out)
    }
}

/// Whether triangles `ti` (corners `p`, box `bt`) and `tu` (box `bu`) cross: not when they
/// share a certified vertex, nor when the quick proofs ([`touching_apart`], [`apart`])
/// keep them apart; else the exact test.
#[inline]
fn crosses(
    ti: &[u32; 3],
    tu: &[u32; 3],
    bt: &Aabb,
    bu: &Aabb,
    p: &[Vec3; 3],
    pos: &[Vec3],
    cert: &[bool],
) -> bool {
    if shares_certified(ti, tu, cert) {
        return false;
    }
    let q = tu.map(|i| pos[i as usize]);
    !touching_apart(bt, bu, p, &q) && !apart(ti, tu, p, &q, cert) && triangles_intersect(*p, q)
}

fn finish(mut faces: Vec<u32>) -> Vec<u32> {
    faces.par_sort_unstable();
    faces.dedup();
    faces
}

/// Sign of the 3-D orientation of `d` against the plane `abc` when the floating-point
/// value is certain (the first stage of the exact orientation of
/// [`osteon_mesh::self_intersections`]), `None` when it is not.
#[inline(always)]
fn orient_sure(a: Vec3, b: Vec3, c: Vec3, d: Vec3) -> Option<i8> {
    let w = |p: Vec3| p.as_dvec3().to_array();
    o3_sure(&w(a), &w(b), &w(c), &w(d))
}

/// Whether triangles `t` and `u` share a certified vertex ([`certify`]): then they meet
/// only at that vertex or along their common edge.
#[inline(always)]
fn shares_certified(t: &[u32; 3], u: &[u32; 3], cert: &[bool]) -> bool {
    t.iter().any(|&a| cert[a as usize] && u.contains(&a))
}

/// Whether the corners `ps` lie strictly on one side of the plane of `t`, certainly.
#[inline(always)]
fn one_side(t: &[Vec3; 3], ps: &[Vec3]) -> bool {
    let mut side = 0i8;
    for &p in ps {
        match orient_sure(t[0], t[1], t[2], p) {
            Some(s) if s != 0 && (side == 0 || side == s) => side = s,
            _ => return false,
        }
    }
    true
}

/// A quick proof that triangles `t` and `u` (corner indices; corners `p`, `q`, finite) do
/// not intersect in the sense of [`osteon_mesh::triangles_intersect`] — no common point
/// but the corners they share — from certain floating-point orientations; `false` when it
/// cannot tell (then the exact test decides):
///
/// * no common corner index: the corners of one strictly on one side of the other's
///   plane, so the closed triangles are disjoint;
/// * one common corner `v`: the other two corners of one strictly on one side of the
///   other's plane, so the triangles meet at most at `v`, a shared corner;
/// * a common edge: the two opposite corners not coplanar with it, so the triangles meet
///   only on that edge (two non-coplanar planes meet in its line).
///
/// Degenerate triangles (zero area) are never proven apart here (all orientations against
/// their plane are zero), and the exact test reports them as not intersecting.
#[inline(always)]
fn apart(t: &[u32; 3], u: &[u32; 3], p: &[Vec3; 3], q: &[Vec3; 3], cert: &[bool]) -> bool {
    let mut shared = 0;
    let (mut ti, mut ui) = (0usize, 0usize);
    for (i, &a) in t.iter().enumerate() {
        if let Some(j) = u.iter().position(|&b| b == a) {
            if cert[a as usize] {
                return true;
            }
            shared += 1;
            ti |= 1 << i;
            ui |= 1 << j;
        }
    }
    match shared {
        0 => one_side(p, q) || one_side(q, p) || flat_apart(p, q),
        1 => {
            let (i, j) = (ti.trailing_zeros() as usize, ui.trailing_zeros() as usize);
            let qo = [q[(j + 1) % 3], q[(j + 2) % 3]];
            let po = [p[(i + 1) % 3], p[(i + 2) % 3]];
            one_side(p, &qo) || one_side(q, &po)
        }
        2 => {
            let i = (!ti & 7).trailing_zeros() as usize;
            let j = (!ui & 7).trailing_zeros() as usize;
            let (e0, e1) = (p[(i + 1) % 3], p[(i + 2) % 3]);
            matches!(orient_sure(e0, e1, p[i], q[j]), Some(s) if s != 0)
        }
        _ => false,
    }
}

/// `p` (widened) without coordinate `k` (cyclic order, so orientations keep their sign).
#[inline]
fn drop_k(p: Vec3, k: usize) -> [f64; 2] {
    proj(&p.as_dvec3().to_array(), k)
}

/// Per vertex of `verts` (sorted): the *fan certificate* of
/// [`osteon_mesh::self_intersections`] (the same proof, [`Fan`]) — the triangles around the
/// vertex form one consistently oriented closed fan that winds once around the vertex in
/// some parallel projection, keeping every triangle's orientation, so two of them meet only
/// at the vertex or along their common edge and their pairs need no test.
fn certify<'a, F: Fn(u32) -> &'a [u32] + Sync>(
    mesh: &Mesh,
    verts: &[u32],
    tris_of: &F,
) -> Vec<bool> {
    let (pos, tris) = (&mesh.positions, &mesh.triangles);
    let finite = |t: usize| tris[t].iter().all(|&i| pos[i as usize].is_finite());
    verts
        .par_iter()
        .with_min_len(1024)
        .map_init(Fan::default, |fan, &v| {
            fan.certify_triangles(mesh, tris_of(v), &finite, v)
        })
        .collect()
}

/// Triangles `p` and `q` lie in one plane `x_k = c` and are proven disjoint there: some
/// edge line of one has every corner of the other strictly outside (exact orientations).
#[inline]
fn flat_apart(p: &[Vec3; 3], q: &[Vec3; 3]) -> bool {
    for k in 0..3 {
        let c = p[0][k];
        if p.iter().chain(q.iter()).all(|x| x[k] == c) {
            let a = p.map(|x| drop_k(x, k));
            let b = q.map(|x| drop_k(x, k));
            // A degenerate triangle has no outer side: left to the exact test.
            return outside_an_edge(&a, &b) || outside_an_edge(&b, &a);
        }
    }
    false
}

/// Undoes the folds that projection and splitting can make (inverted slivers of marching
/// cubes, two sheets of a thin groove or a crease pulled through each other): the mesh is
/// searched for self-intersecting triangles (exactly, the answer of
/// [`osteon_mesh::self_intersections`], through [`Tree`]).
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
/// vertices put there (up to f32 rounding of the split points).
///
/// Rolling back is coarse (a whole fold and its ring go back together), so once the mesh is
/// free of intersections the rolled-back vertices are pushed forward, one at a time, toward
/// the level set as far as they go without making an intersection ([`push_forward`]).
/// Returns the triangles found folded at first, the vertices left off the level set (rolled
/// back and not pushed all the way onto it; all those moved when triangles still intersect)
/// and the triangles still intersecting.
pub(crate) fn untangle(
    mesh: &mut Mesh,
    origin: &[Vec3],
    pr: &Projector<'_>,
    cancel: &dyn Cancel,
) -> Result<(usize, usize, usize), SdfError> {
    if mesh.triangles.is_empty() {
        return Ok((0, 0, 0));
    }
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
    drop(fill);
    let tris_of = |v: u32| &around[start[v as usize] as usize..start[v as usize + 1] as usize];
    let tris_around = |verts: &[u32]| -> Vec<u32> {
        let mut tris: Vec<u32> = verts.iter().flat_map(|&v| tris_of(v)).copied().collect();
        tris.sort_unstable();
        tris.dedup();
        tris
    };
    // Fan certificates of every vertex, kept current: after a move, those of the corners
    // of the triangles around the moved vertices (every fan holding a moved vertex).
    let all_verts: Vec<u32> = (0..nv as u32).collect();
    let mut cert = certify(mesh, &all_verts, &tris_of);
    drop(all_verts);
    let recertify = |cert: &mut Vec<bool>, mesh: &Mesh, tris: &[u32]| {
        let mut vs: Vec<u32> = tris
            .iter()
            .flat_map(|&t| mesh.triangles[t as usize])
            .collect();
        vs.sort_unstable();
        vs.dedup();
        for (v, c) in vs.iter().zip(certify(mesh, &vs, &tris_of)) {
            cert[*v as usize] = c;
        }
    };
    let mut tree = Tree::new(mesh);
    let mut faces = tree.all(mesh, &cert);
    // The search is exact: the same triangles as the mesh crate's (checked in debug builds,
    // so on every offset the tests run).
    debug_assert_eq!(faces, osteon_mesh::self_intersections(mesh).faces);
    let folded = faces.len();
    if faces.is_empty() {
        return Ok((0, 0, 0));
    }
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
                pr.project(c).0
            })
            .collect();
        for (&v, p) in verts.iter().zip(new) {
            mesh.positions[v as usize] = p;
        }
        let tris = tris_around(&verts);
        tree.refit(mesh, &tris);
        recertify(&mut cert, mesh, &tris);
        faces = tree.among(mesh, &tris, &cert);
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
        let tris = tris_around(&verts);
        tree.refit(mesh, &tris);
        round += 1;
        if round > UNTANGLE_ROUNDS {
            break;
        }
        recertify(&mut cert, mesh, &tris);
        faces = tree.among(mesh, &tris, &cert);
    }
    let left = if round > UNTANGLE_ROUNDS {
        osteon_mesh::self_intersections(mesh).faces.len()
    } else {
        0
    };
    if left > 0 {
        return Ok((folded, moved.iter().filter(|&&m| m).count(), left));
    }
    // Push forward: the mesh is free of intersections; each rolled-back vertex goes as far
    // back toward the level set as it can without making one.
    let off: Vec<u32> = (0..nv as u32).filter(|&v| moved[v as usize]).collect();
    let off = push_forward(mesh, off, pr, &mut tree, &mut cert, &tris_of, cancel)?;
    Ok((folded, off.len(), 0))
}

/// The push-forward pass of [`untangle`], on a mesh free of self-intersections whose boxes
/// ([`Tree::refit`]) and fan certificates are current: each vertex of `off` (sorted), in
/// that order, is moved toward the projection of its position onto the level set by the
/// largest share of [`PUSH_STEPS`] after which no triangle around it intersects another
/// (the exact search of [`Tree::among`] over its fan; the rest of the mesh did not move, so
/// the mesh stays free of intersections), or stays. Up to [`PUSH_SWEEPS`] sweeps, while
/// some vertex moves. Sequential: the same result at any thread count. Returns the vertices
/// that did not reach the level set.
fn push_forward<'a, F: Fn(u32) -> &'a [u32] + Sync>(
    mesh: &mut Mesh,
    mut off: Vec<u32>,
    pr: &Projector<'_>,
    tree: &mut Tree,
    cert: &mut [bool],
    tris_of: &F,
    cancel: &dyn Cancel,
) -> Result<Vec<u32>, SdfError> {
    let mut saved: Vec<(u32, bool)> = Vec::new();
    let mut vs: Vec<u32> = Vec::new();
    for _ in 0..PUSH_SWEEPS {
        let mut progress = false;
        let mut still = Vec::with_capacity(off.len());
        for &v in &off {
            if cancel.is_cancelled() {
                return Err(SdfError::Cancelled);
            }
            // Sorted (triangles are filed around their corners in index order), as
            // `among` requires.
            let fan = tris_of(v);
            let cur = mesh.positions[v as usize];
            let target = pr.project(cur).0;
            if !target.is_finite() || fan.is_empty() {
                still.push(v);
                continue;
            }
            let mut landed = false;
            for &t in &PUSH_STEPS {
                let p = if t == 1.0 {
                    target
                } else {
                    cur + (target - cur) * t
                };
                if p == cur {
                    landed = t == 1.0;
                    break;
                }
                mesh.positions[v as usize] = p;
                tree.refit(mesh, fan);
                // The fans holding `v`: those of the corners of its triangles.
                vs.clear();
                vs.extend(fan.iter().flat_map(|&f| mesh.triangles[f as usize]));
                vs.sort_unstable();
                vs.dedup();
                saved.clear();
                for (&w, c) in vs.iter().zip(certify(mesh, &vs, tris_of)) {
                    saved.push((w, cert[w as usize]));
                    cert[w as usize] = c;
                }
                if tree.among(mesh, fan, cert).is_empty() {
                    progress = true;
                    landed = t == 1.0;
                    break;
                }
                mesh.positions[v as usize] = cur;
                tree.refit(mesh, fan);
                for &(w, c) in &saved {
                    cert[w as usize] = c;
                }
            }
            if !landed {
                still.push(v);
            }
        }
        off = still;
        if !progress || off.is_empty() {
            break;
        }
    }
    Ok(off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use osteon_geom::Lcg;
    use osteon_mesh::shapes::{cuboid, icosphere, torus};

    /// Uniform in `[0, 1)`.
    fn rng(seed: u64) -> impl FnMut() -> f32 {
        let mut s = Lcg::new(seed);
        move || s.next_f64() as f32
    }

    /// A flat `n` × `n` grid of squares split in two triangles, at height `z` (upward).
    fn sheet(n: u32, step: f32, z: f32) -> Mesh {
        let mut pos = Vec::new();
        let mut tris = Vec::new();
        for j in 0..=n {
            for i in 0..=n {
                pos.push(Vec3::new(i as f32 * step, j as f32 * step, z));
            }
        }
        let id = |i: u32, j: u32| j * (n + 1) + i;
        for j in 0..n {
            for i in 0..n {
                tris.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
                tris.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
            }
        }
        Mesh::new(pos, tris).unwrap()
    }

    /// Two meshes as one (indices of the second shifted).
    fn join(a: &Mesh, b: &Mesh) -> Mesh {
        let k = a.positions.len() as u32;
        let mut pos = a.positions.clone();
        pos.extend_from_slice(&b.positions);
        let mut tris = a.triangles.clone();
        tris.extend(b.triangles.iter().map(|t| t.map(|i| i + k)));
        Mesh::new(pos, tris).unwrap()
    }

    fn full_certificates(mesh: &Mesh) -> Vec<bool> {
        let mut around: Vec<Vec<u32>> = vec![Vec::new(); mesh.positions.len()];
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for &v in tri {
                around[v as usize].push(t as u32);
            }
        }
        let all: Vec<u32> = (0..mesh.positions.len() as u32).collect();
        certify(mesh, &all, &|v| &around[v as usize][..])
    }

    /// The whole-mesh search finds exactly the triangles `osteon_mesh::self_intersections`
    /// finds, on jittered meshes of every kind of contact: curved surfaces jittered in 3-D
    /// (folds, pierced neighbours), flat sheets jittered in their plane (coplanar overlaps,
    /// exact zeros, touching boxes), and two close parallel sheets jittered across each
    /// other (a thin groove pulled through itself).
    #[test]
    fn whole_search_matches_the_mesh_crate_on_jittered_meshes() {
        let mut rnd = rng(0x9e37_79b9_7f4a_7c15);
        let shapes: Vec<(Mesh, [f32; 3])> = vec![
            (icosphere(3, 5.0), [1.0, 1.0, 1.0]),
            (torus(4.0, 1.0, 24, 12), [1.0, 1.0, 1.0]),
            (sheet(12, 1.0, 0.0), [1.0, 1.0, 0.0]),
            (
                join(&sheet(12, 1.0, 0.0), &sheet(12, 1.0, 0.05)),
                [0.2, 0.2, 1.0],
            ),
            (
                join(
                    &cuboid(Vec3::ZERO, Vec3::ONE),
                    &cuboid(Vec3::splat(0.5), Vec3::splat(2.0)),
                ),
                [0.0; 3],
            ),
        ];
        let mut found = 0;
        for (k, (shape, axes)) in shapes.iter().enumerate() {
            for (round, amp) in [0.0f32, 0.05, 0.2, 0.6].into_iter().enumerate() {
                let mut mesh = shape.clone();
                for p in mesh.positions.iter_mut() {
                    if rnd() < 0.3 {
                        let j = Vec3::new(rnd() - 0.5, rnd() - 0.5, rnd() - 0.5) * amp;
                        *p += j * Vec3::from_array(*axes);
                    }
                }
                let tree = Tree::new(&mesh);
                let mine = tree.all(&mesh, &full_certificates(&mesh));
                let full = osteon_mesh::self_intersections(&mesh).faces;
                assert_eq!(mine, full, "shape {k} round {round}");
                found += usize::from(!full.is_empty());
            }
        }
        assert!(
            found >= 6,
            "too few jittered meshes intersect ({found}): the test tests little"
        );
    }

    /// Offsets whose projection folds triangles (the concave crease where the offsets of two
    /// close boxes merge; a torus grown almost shut): `untangle` runs, its first search is
    /// checked against `osteon_mesh::self_intersections` (the `debug_assert` in
    /// [`untangle`]) and the result is free of intersections.
    #[test]
    fn offsets_that_fold_are_untangled_with_the_exact_search() {
        use osteon_geom::{NeverCancel, NoProgress};
        let boxes = join(
            &cuboid(Vec3::ZERO, Vec3::new(2.0, 2.0, 2.0)),
            &cuboid(Vec3::new(2.15, 0.3, 0.2), Vec3::new(4.0, 1.7, 1.9)),
        );
        let ring = torus(1.0, 0.42, 48, 24);
        let mut folded = 0;
        for (mesh, d, voxel) in [(&boxes, 0.1, 0.05), (&ring, 0.1, 0.04)] {
            let opts = crate::SdfOptions::default()
                .with_voxel_mm(voxel)
                .with_measure(false);
            let (m, r) = crate::offset(mesh, d, &opts, &NoProgress, &NeverCancel).unwrap();
            assert_eq!(r.self_intersecting_faces, Some(0), "{r:?}");
            assert!(osteon_mesh::self_intersections(&m).is_empty());
            folded += r.folded_faces;
        }
        assert!(folded > 0, "no offset folded: the search was not exercised");
    }

    /// The index built before vertices move finds, from the triangles around the moved
    /// vertices alone, exactly the intersecting triangles a whole-mesh search finds: moves
    /// of every size (within the slack, beyond it, through the opposite side).
    #[test]
    fn indexed_search_after_moves_matches_the_full_search() {
        let mut mesh = icosphere(4, 5.0);
        let mut rnd = rng(0x2545_f491_4f6c_dd1d);
        let mut tree = Tree::new(&mesh);
        let built = mesh.positions.clone();
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
            let mut touched: Vec<u32> = verts
                .iter()
                .flat_map(|&v| around[v as usize].clone())
                .collect();
            touched.sort_unstable();
            touched.dedup();
            tree.refit(&mesh, &touched);
            // All triangles moved so far form the subset (the rest did not move).
            let moved_tris: Vec<u32> = {
                let mut t: Vec<u32> = (0..mesh.triangles.len() as u32)
                    .filter(|&t| {
                        mesh.triangles[t as usize]
                            .iter()
                            .any(|&v| mesh.positions[v as usize] != built[v as usize])
                    })
                    .collect();
                t.sort_unstable();
                t
            };
            let all: Vec<u32> = (0..nv as u32).collect();
            let cert = certify(&mesh, &all, &|v| &around[v as usize][..]);
            let mine = tree.among(&mesh, &moved_tris, &cert);
            let full = osteon_mesh::self_intersections(&mesh).faces;
            assert_eq!(mine, full, "round {round}");
            assert_eq!(tree.all(&mesh, &cert), full, "round {round}");
            found_any |= !full.is_empty();
        }
        assert!(
            found_any,
            "the moves made no intersection: the test tests nothing"
        );
    }

    /// The push-forward pass on a flat sheet lying on the level set (the top face of a box,
    /// offset 0) with two vertices lifted off it: the free one lands back on the level set;
    /// the other has a thin blade under it, piercing the sheet's plane through the hole its
    /// lifted fan leaves, so going all the way (or half the rest) would cut its fan through
    /// the blade's tip: it comes down as far as it can, stays above the tip, and the mesh
    /// stays free of intersections. Without the pass neither would move.
    #[test]
    fn push_forward_brings_rolled_back_vertices_to_the_level_set_without_intersecting() {
        let body = cuboid(Vec3::new(-10.0, -10.0, -10.0), Vec3::new(10.0, 10.0, 0.0));
        let sd = crate::SignedDistance::new(&body).unwrap();
        let pr = Projector {
            sd: &sd,
            shape: crate::field::Shape::Offset(0.0),
            eps: 1e-5,
        };
        let n = 6;
        let id = |i: u32, j: u32| j * (n + 1) + i;
        let (free, blocked) = (id(1, 1), id(3, 3));
        let mut sheet = sheet(n, 1.0, 0.0);
        sheet.positions[free as usize].z = 0.3;
        sheet.positions[blocked as usize].z = 0.3;
        // The blade: a vertical sliver in the plane x = 3 under `blocked`, tip at z = 0.1.
        let blade = Mesh::new(
            vec![
                Vec3::new(3.0, 3.0, 0.1),
                Vec3::new(3.0, 2.95, -0.5),
                Vec3::new(3.0, 3.05, -0.5),
            ],
            vec![[0, 1, 2]],
        )
        .unwrap();
        let mut mesh = join(&sheet, &blade);
        assert!(osteon_mesh::self_intersections(&mesh).is_empty());
        // Flattening `blocked` alone would cut its fan through the blade.
        let mut flat = mesh.clone();
        flat.positions[blocked as usize].z = 0.0;
        assert!(!osteon_mesh::self_intersections(&flat).is_empty());

        let nv = mesh.positions.len();
        let mut around: Vec<Vec<u32>> = vec![Vec::new(); nv];
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for &v in tri {
                around[v as usize].push(t as u32);
            }
        }
        let tris_of = |v: u32| &around[v as usize][..];
        let mut tree = Tree::new(&mesh);
        let all: Vec<u32> = (0..nv as u32).collect();
        let mut cert = certify(&mesh, &all, &tris_of);
        let off = vec![free, blocked];
        let left = push_forward(
            &mut mesh,
            off,
            &pr,
            &mut tree,
            &mut cert,
            &tris_of,
            &osteon_geom::NeverCancel,
        )
        .unwrap();
        assert_eq!(left, vec![blocked]);
        let (zf, zb) = (
            mesh.positions[free as usize].z,
            mesh.positions[blocked as usize].z,
        );
        assert!(zf.abs() < 1e-4, "free vertex at z = {zf}");
        assert!(zb > 0.1 && zb < 0.16, "blocked vertex at z = {zb}");
        assert!(osteon_mesh::self_intersections(&mesh).is_empty());
        // The boxes and certificates the pass kept are current: the indexed search agrees.
        let tris: Vec<u32> = (0..mesh.triangles.len() as u32).collect();
        assert!(tree
            .among(&mesh, &tris, &full_certificates(&mesh))
            .is_empty());
        assert_eq!(cert, full_certificates(&mesh));
    }
}
