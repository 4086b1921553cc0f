//! Self-union of overlapping shells: the outer boundary of the union of the solids.
//!
//! In: a [`Mesh`] of closed, manifold shells, consistently wound, outer shells outward and
//! cavities inward (the repair pipeline runs this after its orientation step), some of
//! which cut through each other (bones that touch, a handle pushed into a body). Out: the
//! boundary of the union of the solids (the points of non-zero winding number), closed and
//! manifold, every output triangle a piece of an input triangle, and a [`UnionReport`].
//!
//! The method is that of *mesh arrangements for solid geometry* (Q. Zhou, E. Grinspun,
//! D. Zorin, A. Jacobson, SIGGRAPH 2016), restricted to shells that cross each other:
//! 1. **Co-refinement.** Every pair of triangles of different shells that intersect
//!    ([`crate::self_intersections`] finds the triangles, a sweep pairs them) meets in a
//!    segment whose ends are crossings of an edge of one with the other. Every
//!    decision — which edges cross, whether inside the other triangle — is Shewchuk's exact
//!    `orient3d`; a crossing point is computed once from its key (the edge's two vertex
//!    ids and the crossed triangle), so the two triangles sharing an edge get the very same
//!    vertex. Each cut triangle is re-triangulated by a constrained Delaunay triangulation
//!    ([`crate::cdt`]) of its corners, the crossing points on its edges and the segments,
//!    projected on its dominant plane.
//! 2. **Classification.** The cut surface falls into patches bounded by the intersection
//!    curves (edges shared by four triangles). A patch of shell `s` is on the union's
//!    boundary when the generalised winding number of the *other* shells (sum of solid
//!    angles, Van Oosterom & Strackee 1983) is 0 at it, and inside the union when it is
//!    ≥ 1: three sample points per patch (centroids of its largest triangles) must agree
//!    and be within 0.2 of an integer, else the patch is reported as unresolved.
//! 3. **Check.** The result must be closed, 2-manifold, consistently wound and free of
//!    self-intersections (exact search again); if any check fails, the input is returned
//!    unchanged and [`UnionReport::fallback`] says why — never a worse mesh.
//!
//! Three surfaces through one point inside a triangle (two intersection curves crossing)
//! give a *triple point*, the meeting of the three planes, computed once per sorted triple
//! of triangles so all three get the same vertex ([`UnionReport::triple_points`]).
//!
//! Pairs in *degenerate* contact — a vertex exactly on the other triangle's plane, an edge
//! exactly through another edge, coplanar overlapping triangles — cannot be cut this way.
//! When there are some, the later shell of each such pair is translated by 5·10⁻⁶ of the
//! bounding-box diagonal and the cut is made again; this moves real geometry and is logged
//! ([`UnionReport::shells_nudged`], [`UnionReport::nudge_mm`]). If degenerate pairs remain,
//! the input is kept with the reason. Real scan data has them rarely; exact axis-aligned
//! test shapes often.
//!
//! Cost: the intersection search of the whole mesh, then work proportional to the cut
//! triangles, plus one winding number per patch sample over the other shells' triangles.

use std::collections::BTreeMap;

use osteon_geom::{DVec3, Vec3};
use rayon::prelude::*;
use robust::{orient3d, Coord3D};
use serde::{Deserialize, Serialize};

use super::Work;
use crate::cdt::{self, Domain};
use crate::self_intersect::self_intersections;
use crate::topology::Topology;
use crate::{Mesh, MeshError};

/// What [`union_shells`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnionReport {
    /// Intersecting triangle pairs between different shells before the step.
    pub pairs_between_shells: usize,
    /// Of those, the pairs cut along their intersection segment.
    pub pairs_resolved: usize,
    /// Input triangles cut (re-triangulated).
    pub faces_cut: usize,
    /// Triangles made from them.
    pub faces_created: usize,
    /// Patches (pieces of shells between intersection curves) classified.
    pub patches: usize,
    /// Triangles removed because they lie inside another shell.
    pub faces_removed_interior: usize,
    /// Sum of the volumes of the shells before, mm³ (overlaps counted twice).
    pub volume_before_mm3: f64,
    /// Volume of the result, mm³ (the union, overlaps once).
    pub volume_after_mm3: f64,
    /// Intersecting pairs in degenerate contact (a corner exactly on the other's plane, an
    /// edge exactly through an edge, coplanar overlap).
    pub degenerate_pairs: usize,
    /// Shells translated by [`UnionReport::nudge_mm`] to put those pairs in general
    /// position before cutting (0 when there were none).
    pub shells_nudged: usize,
    /// Length of that translation, mm (5·10⁻⁶ of the bounding-box diagonal).
    pub nudge_mm: f64,
    /// Points where three surfaces meet inside a triangle (two intersection curves cross).
    pub triple_points: usize,
    /// True when the union replaced the input.
    pub applied: bool,
    /// Why the union was not applied (the input is kept), when it was attempted.
    pub fallback: Option<String>,
}

/// The union of the overlapping closed shells of `mesh` (see the module documentation).
/// The mesh comes back unchanged, with [`UnionReport::fallback`] set, when the union
/// cannot be made exactly.
///
/// Errors: invalid meshes as [`Mesh::validate`].
pub fn union_shells(mesh: &Mesh) -> Result<(Mesh, UnionReport), MeshError> {
    mesh.validate()?;
    let mut w = Work::from_mesh(mesh);
    let diag = mesh
        .bounds()
        .map_or(0.0, |b| (b.max - b.min).as_dvec3().length());
    let r = union_work(&mut w, 1e-6 * diag)?;
    Ok((w.into_mesh(), r))
}

/// A crossing point: edge `(a, b)` (vertex ids, `a < b`) through triangle `f`.
type Key = (u32, u32, u32);

fn c3(p: DVec3) -> Coord3D<f64> {
    Coord3D {
        x: p.x,
        y: p.y,
        z: p.z,
    }
}

fn o3(a: DVec3, b: DVec3, c: DVec3, d: DVec3) -> i8 {
    let s = orient3d(c3(a), c3(b), c3(c), c3(d));
    if s > 0.0 {
        1
    } else if s < 0.0 {
        -1
    } else {
        0
    }
}

/// Result of the exact test of one pair.
enum Cut {
    /// The triangles do not meet.
    None,
    /// They meet in the segment between two crossing points.
    Segment(Key, Key),
    /// They touch or overlap in a degenerate way (a zero orientation).
    Degenerate,
}

/// Exact intersection of triangles `a` and `b` (indices into `w.t`), generic case only.
fn cut_pair(w: &Work, a: u32, b: u32) -> Cut {
    let ta = w.t[a as usize];
    let tb = w.t[b as usize];
    if ta.iter().any(|v| tb.contains(v)) {
        return Cut::Degenerate;
    }
    let pa = ta.map(|i| w.p[i as usize].as_dvec3());
    let pb = tb.map(|i| w.p[i as usize].as_dvec3());
    let sb = pb.map(|q| o3(pa[0], pa[1], pa[2], q));
    let sa = pa.map(|q| o3(pb[0], pb[1], pb[2], q));
    if sa.contains(&0) || sb.contains(&0) {
        // Touching, or a corner on the other's plane: not generic.
        let one_side = |s: [i8; 3]| s.iter().all(|&x| x >= 0) || s.iter().all(|&x| x <= 0);
        if (one_side(sa) && !sa.contains(&0)) || (one_side(sb) && !sb.contains(&0)) {
            return Cut::None;
        }
        return Cut::Degenerate;
    }
    if sa.iter().all(|&s| s == sa[0]) || sb.iter().all(|&s| s == sb[0]) {
        return Cut::None;
    }
    let mut ends: Vec<Key> = Vec::with_capacity(2);
    if !edges_through(ta, &pa, sa, b, &pb, &mut ends)
        || !edges_through(tb, &pb, sb, a, &pa, &mut ends)
    {
        return Cut::Degenerate;
    }
    match ends.len() {
        0 => Cut::None,
        2 => Cut::Segment(ends[0], ends[1]),
        _ => Cut::Degenerate,
    }
}

/// Appends the keys of the edges of triangle `tx` (corners `px`, signs `sx` against the
/// plane of `fy`) that cross the interior of triangle `fy` (corners `py`); false when an
/// edge passes exactly through an edge or corner of `fy`.
fn edges_through(
    tx: [u32; 3],
    px: &[DVec3; 3],
    sx: [i8; 3],
    fy: u32,
    py: &[DVec3; 3],
    ends: &mut Vec<Key>,
) -> bool {
    for i in 0..3 {
        let j = (i + 1) % 3;
        if sx[i] == sx[j] {
            continue;
        }
        let o = [0, 1, 2].map(|k| o3(px[i], px[j], py[k], py[(k + 1) % 3]));
        if o.contains(&0) {
            return false;
        }
        if o[0] == o[1] && o[1] == o[2] {
            ends.push((tx[i].min(tx[j]), tx[i].max(tx[j]), fy));
        }
    }
    true
}

/// The point of key `(u, v, f)`: where edge `u–v` crosses the plane of triangle `f`.
fn key_point(w: &Work, k: Key) -> DVec3 {
    let (u, v, f) = k;
    let [f0, f1, f2] = w.t[f as usize].map(|i| w.p[i as usize].as_dvec3());
    let n = (f1 - f0).cross(f2 - f0);
    let (pu, pv) = (w.p[u as usize].as_dvec3(), w.p[v as usize].as_dvec3());
    let (du, dv) = (n.dot(pu - f0), n.dot(pv - f0));
    let s = (du / (du - dv)).clamp(0.0, 1.0);
    // (du and dv have opposite signs by the exact test, so the division is safe.)
    pu + s * (pv - pu)
}

/// Solid angle of triangle `abc` seen from the origin, signed (Van Oosterom & Strackee).
fn solid_angle(a: DVec3, b: DVec3, c: DVec3) -> f64 {
    let (la, lb, lc) = (a.length(), b.length(), c.length());
    let num = a.dot(b.cross(c));
    let den = la * lb * lc + a.dot(b) * lc + b.dot(c) * la + c.dot(a) * lb;
    2.0 * num.atan2(den)
}

/// `weld_tol`: the repair's weld distance, applied to the result so that repairing it again
/// changes nothing.
pub(crate) fn union_work(w: &mut Work, weld_tol: f64) -> Result<UnionReport, MeshError> {
    union_try(w, weld_tol, true)
}

/// Translation of shell `s` that breaks degenerate contacts: a fixed, irrational-looking
/// direction per shell, `scale` long.
fn nudge(s: u32, scale: f64) -> DVec3 {
    let h = |k: u32| {
        let x = (s
            .wrapping_mul(2654435761)
            .wrapping_add(k.wrapping_mul(40503))) as f64;
        (x * 0.618_033_988_749_894_9).fract() - 0.5
    };
    let d = DVec3::new(0.31 + h(1), -0.27 + h(2), 0.23 + h(3));
    d.normalize_or(DVec3::new(0.6, -0.48, 0.64)) * scale
}

fn union_try(w: &mut Work, weld_tol: f64, may_nudge: bool) -> Result<UnionReport, MeshError> {
    let mut r = UnionReport::default();
    let topo = w.with_mesh(Topology::new)?;
    let nshell = topo.component_count();
    if nshell < 2 {
        return Ok(r);
    }
    let shell: Vec<u32> = topo.triangle_components().to_vec();
    let si = w.with_mesh(self_intersections);
    if si.is_empty() {
        return Ok(r);
    }
    // Pairs of intersecting triangles of different shells: sweep over x of their boxes.
    let faces = &si.faces;
    let boxes: Vec<(DVec3, DVec3)> = faces
        .iter()
        .map(|&f| {
            let p = w.t[f as usize].map(|i| w.p[i as usize].as_dvec3());
            (p[0].min(p[1]).min(p[2]), p[0].max(p[1]).max(p[2]))
        })
        .collect();
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.sort_by(|&i, &j| boxes[i].0.x.total_cmp(&boxes[j].0.x).then(i.cmp(&j)));
    let mut candidates: Vec<(u32, u32)> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            if boxes[j].0.x > boxes[i].1.x {
                break;
            }
            let (fi, fj) = (faces[i], faces[j]);
            if shell[fi as usize] == shell[fj as usize] {
                continue;
            }
            let (bi, bj) = (boxes[i], boxes[j]);
            if bi.0.cmple(bj.1).all() && bj.0.cmple(bi.1).all() {
                candidates.push((fi.min(fj), fi.max(fj)));
            }
        }
    }
    candidates.sort_unstable();
    let cuts: Vec<Cut> = candidates
        .par_iter()
        .map(|&(a, b)| cut_pair(w, a, b))
        .collect();
    let degenerate = cuts.iter().filter(|c| matches!(c, Cut::Degenerate)).count();
    let mut segs: Vec<Seg> = Vec::new();
    for (&(a, b), c) in candidates.iter().zip(&cuts) {
        if let Cut::Segment(k1, k2) = c {
            segs.push((a, b, *k1, *k2));
            segs.push((b, a, *k1, *k2));
            r.pairs_between_shells += 1;
        }
    }
    r.pairs_between_shells += degenerate;
    if r.pairs_between_shells == 0 {
        return Ok(r);
    }
    let mut shell_volume = vec![0.0f64; nshell];
    let centre = w.p.iter().fold(DVec3::ZERO, |s, p| s + p.as_dvec3()) / w.p.len().max(1) as f64;
    for (t, &s) in w.t.iter().zip(&shell) {
        let [a, b, c] = t.map(|i| w.p[i as usize].as_dvec3() - centre);
        shell_volume[s as usize] += a.dot(b.cross(c)) / 6.0;
    }
    r.volume_before_mm3 = shell_volume.iter().sum();
    if degenerate > 0 && may_nudge {
        // Simulate general position: translate the later shell of every degenerate pair by
        // a tiny generic offset (5·10⁻⁶ of the diagonal, well inside the 10⁻⁴ promise), and
        // retry once.
        let diag = w
            .with_mesh(|m| m.bounds())
            .map_or(0.0, |b| (b.max - b.min).as_dvec3().length());
        let scale = 5e-6 * diag;
        let mut moved = vec![false; nshell];
        for (&(a, b), c) in candidates.iter().zip(&cuts) {
            if matches!(c, Cut::Degenerate) {
                let (sa, sb) = (shell[a as usize], shell[b as usize]);
                moved[sa.max(sb) as usize] = true;
            }
        }
        let mut shell_of_vertex = vec![u32::MAX; w.p.len()];
        for (t, &s) in w.t.iter().zip(&shell) {
            for &v in t {
                shell_of_vertex[v as usize] = s;
            }
        }
        let mut pw = w.clone();
        for (p, &s) in pw.p.iter_mut().zip(&shell_of_vertex) {
            if s != u32::MAX && moved[s as usize] {
                *p = (p.as_dvec3() + nudge(s, scale)).as_vec3();
            }
        }
        let mut r2 = union_try(&mut pw, weld_tol, false)?;
        r2.shells_nudged = moved.iter().filter(|&&m| m).count();
        r2.nudge_mm = scale;
        r2.degenerate_pairs = degenerate;
        if r2.applied {
            *w = pw;
        } else {
            r2.fallback = Some(format!(
                "{degenerate} pairs in degenerate contact; after nudging {} shells by {scale:.3e} mm: {}",
                r2.shells_nudged,
                r2.fallback.as_deref().unwrap_or("no intersection left")
            ));
        }
        return Ok(r2);
    }
    if degenerate > 0 {
        r.degenerate_pairs = degenerate;
        r.fallback = Some(format!(
            "{degenerate} intersecting pairs between shells touch in a degenerate way (a corner on the other's plane, edges through edges or coplanar overlap): not cut"
        ));
        return Ok(r);
    }
    r.pairs_resolved = r.pairs_between_shells;
    segs.sort_unstable();
    // Global ids of the crossing points, in key order (deterministic).
    let mut keys: BTreeMap<Key, u32> = BTreeMap::new();
    for &(_, _, k1, k2) in &segs {
        keys.insert(k1, 0);
        keys.insert(k2, 0);
    }
    let base = w.p.len() as u32;
    let key_list: Vec<Key> = keys.keys().copied().collect();
    let key_pos: Vec<DVec3> = key_list.iter().map(|&k| key_point(w, k)).collect();
    for (i, v) in keys.values_mut().enumerate() {
        *v = base + i as u32;
    }
    // Segments grouped by triangle.
    let mut groups: Vec<(u32, usize, usize)> = Vec::new();
    let mut s = 0;
    while s < segs.len() {
        let t = segs[s].0;
        let e = s + segs[s..].iter().take_while(|x| x.0 == t).count();
        groups.push((t, s, e));
        s = e;
    }
    let kpos = |v: u32| -> DVec3 {
        if v < base {
            w.p[v as usize].as_dvec3()
        } else {
            key_pos[(v - base) as usize]
        }
    };
    // Triple points: where the segments of two other triangles cross inside a triangle,
    // three surfaces meet. The point is the meeting of the three planes, computed from the
    // sorted triple, so the three triangles get the same vertex.
    let found: Vec<Result<Vec<Triple>, String>> = groups
        .par_iter()
        .map(|&(t, s, e)| crossings(w, t, &segs[s..e]))
        .collect();
    let mut triples: BTreeMap<Triple, u32> = BTreeMap::new();
    for (&(t, _, _), f) in groups.iter().zip(found) {
        match f {
            Ok(f) => triples.extend(f.into_iter().map(|x| (x, 0))),
            Err(why) => {
                r.fallback = Some(format!("triangle {t}: {why}"));
                return Ok(r);
            }
        }
    }
    let tbase = base + key_pos.len() as u32;
    let triple_pos: Vec<DVec3> = triples.keys().map(|&x| triple_point(w, x)).collect();
    for (i, v) in triples.values_mut().enumerate() {
        *v = tbase + i as u32;
    }
    r.triple_points = triples.len();
    let pos = |v: u32| -> DVec3 {
        if v < tbase {
            kpos(v)
        } else {
            triple_pos[(v - tbase) as usize]
        }
    };
    let pieces: Vec<Result<Vec<[u32; 3]>, String>> = groups
        .par_iter()
        .map(|&(t, s, e)| retriangulate(w, t, &segs[s..e], &keys, &triples, &pos))
        .collect();
    let mut cut_of: BTreeMap<u32, Vec<[u32; 3]>> = BTreeMap::new();
    for (&(t, _, _), p) in groups.iter().zip(pieces) {
        match p {
            Ok(p) => {
                cut_of.insert(t, p);
            }
            Err(why) => {
                r.fallback = Some(format!("triangle {t} could not be re-triangulated: {why}"));
                return Ok(r);
            }
        }
    }
    r.faces_cut = cut_of.len();
    r.faces_created = cut_of.values().map(Vec::len).sum();
    // The co-refined mesh: pieces in place of their triangle.
    let mut np: Vec<Vec3> = w.p.clone();
    np.extend(key_pos.iter().map(|p| p.as_vec3()));
    np.extend(triple_pos.iter().map(|p| p.as_vec3()));
    let mut nt: Vec<[u32; 3]> = Vec::with_capacity(w.t.len() + r.faces_created);
    let mut nshell_of: Vec<u32> = Vec::with_capacity(nt.capacity());
    let mut npatch: Vec<bool> = Vec::with_capacity(nt.capacity());
    let mut nsrc: Vec<u32> = Vec::with_capacity(nt.capacity());
    for (t, tri) in w.t.iter().enumerate() {
        match cut_of.get(&(t as u32)) {
            Some(p) => {
                for &q in p {
                    nt.push(q);
                    nshell_of.push(shell[t]);
                    npatch.push(w.patch[t]);
                    nsrc.push(super::NO_SOURCE);
                }
            }
            None => {
                nt.push(*tri);
                nshell_of.push(shell[t]);
                npatch.push(w.patch[t]);
                nsrc.push(w.src[t]);
            }
        }
    }
    // Patches: triangles joined across edges with exactly two triangles.
    let mut ek: Vec<(u32, u32, u32)> = Vec::with_capacity(nt.len() * 3);
    for (t, tri) in nt.iter().enumerate() {
        for k in 0..3 {
            let (a, b) = (tri[k], tri[(k + 1) % 3]);
            ek.push((a.min(b), a.max(b), t as u32));
        }
    }
    ek.par_sort_unstable();
    let mut uf: Vec<u32> = (0..nt.len() as u32).collect();
    fn find(uf: &mut [u32], mut a: u32) -> u32 {
        while uf[a as usize] != a {
            uf[a as usize] = uf[uf[a as usize] as usize];
            a = uf[a as usize];
        }
        a
    }
    let mut i = 0;
    while i < ek.len() {
        let j = i + ek[i..]
            .iter()
            .take_while(|e| (e.0, e.1) == (ek[i].0, ek[i].1))
            .count();
        if j - i == 2 {
            let (a, b) = (find(&mut uf, ek[i].2), find(&mut uf, ek[i + 1].2));
            if a != b {
                uf[a.max(b) as usize] = a.min(b);
            }
        }
        i = j;
    }
    let root: Vec<u32> = (0..nt.len() as u32).map(|t| find(&mut uf, t)).collect();
    // Shells that take part in a cut: only their patches are classified.
    let mut involved = vec![false; nshell];
    for &t in cut_of.keys() {
        involved[shell[t as usize] as usize] = true;
    }
    let area = |t: &[u32; 3]| {
        let [a, b, c] = t.map(|i| np[i as usize].as_dvec3());
        (b - a).cross(c - a).length()
    };
    let mut members: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (t, &rt) in root.iter().enumerate() {
        if involved[nshell_of[t] as usize] {
            members.entry(rt).or_default().push(t as u32);
        }
    }
    r.patches = members.len();
    // The original triangles of each shell, and their boxes, for winding numbers.
    let mut shell_tris: Vec<Vec<u32>> = vec![Vec::new(); nshell];
    for (t, &s) in shell.iter().enumerate() {
        shell_tris[s as usize].push(t as u32);
    }
    let shell_box: Vec<(DVec3, DVec3)> = shell_tris
        .iter()
        .map(|ts| {
            ts.iter().flat_map(|&t| w.t[t as usize]).fold(
                (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
                |(lo, hi), i| {
                    (
                        lo.min(w.p[i as usize].as_dvec3()),
                        hi.max(w.p[i as usize].as_dvec3()),
                    )
                },
            )
        })
        .collect();
    let patch_list: Vec<(u32, Vec<u32>)> = members.into_iter().collect();
    let verdicts: Vec<Result<bool, String>> = patch_list
        .par_iter()
        .map(|(_, ts)| {
            let own = nshell_of[ts[0] as usize];
            let mut by_area: Vec<u32> = ts.clone();
            by_area.sort_by(|&x, &y| {
                area(&nt[y as usize])
                    .total_cmp(&area(&nt[x as usize]))
                    .then(x.cmp(&y))
            });
            let mut votes = Vec::new();
            for &t in by_area.iter().take(3) {
                let [a, b, c] = nt[t as usize].map(|i| np[i as usize].as_dvec3());
                let x = (a + b + c) / 3.0;
                let mut wn = 0.0;
                for (s, ts) in shell_tris.iter().enumerate() {
                    if s as u32 == own {
                        continue;
                    }
                    let (lo, hi) = shell_box[s];
                    if x.cmplt(lo).any() || x.cmpgt(hi).any() {
                        continue;
                    }
                    wn += ts
                        .iter()
                        .map(|&f| {
                            let [p, q, o] = w.t[f as usize].map(|i| w.p[i as usize].as_dvec3() - x);
                            solid_angle(p, q, o)
                        })
                        .sum::<f64>();
                }
                votes.push(wn / (4.0 * std::f64::consts::PI));
            }
            let k = votes[0].round();
            if votes.iter().any(|v| (v - k).abs() > 0.2) {
                return Err(format!("winding numbers {votes:?} are not one integer"));
            }
            Ok(k == 0.0)
        })
        .collect();
    let mut keep = vec![true; nt.len()];
    for ((_, ts), v) in patch_list.iter().zip(verdicts) {
        match v {
            Ok(true) => {}
            Ok(false) => {
                for &t in ts {
                    keep[t as usize] = false;
                }
                r.faces_removed_interior += ts.len();
            }
            Err(why) => {
                r.fallback = Some(format!(
                    "a patch of {} triangles is ambiguous: {why}",
                    ts.len()
                ));
                return Ok(r);
            }
        }
    }
    let mut cand = Work {
        p: np,
        t: Vec::new(),
        patch: Vec::new(),
        src: Vec::new(),
    };
    for (t, k) in keep.iter().enumerate() {
        if *k {
            cand.t.push(nt[t]);
            cand.patch.push(npatch[t]);
            cand.src.push(nsrc[t]);
        }
    }
    cand.compact_vertices();
    // New points closer than the weld distance to each other would be merged by a second
    // repair: merge them now (repair is idempotent).
    super::weld::weld_work(&mut cand, weld_tol);
    super::degenerate::degenerate_work(&mut cand);
    if cand.t.is_empty() {
        r.fallback = Some("nothing would be left".into());
        return Ok(r);
    }
    // Checks: closed, manifold, consistently wound, no intersection.
    let topo = cand.with_mesh(Topology::new)?;
    if topo.boundary_edges() > 0
        || topo.nonmanifold_edges() > 0
        || topo.nonmanifold_vertices() > 0
        || topo.inconsistent_edges() > 0
    {
        r.fallback = Some(format!(
            "the union is not a closed 2-manifold ({} boundary, {} non-manifold edges, {} non-manifold vertices, {} inconsistent edges)",
            topo.boundary_edges(),
            topo.nonmanifold_edges(),
            topo.nonmanifold_vertices(),
            topo.inconsistent_edges()
        ));
        return Ok(r);
    }
    let left = cand.with_mesh(self_intersections);
    if !left.is_empty() {
        r.fallback = Some(format!(
            "{} intersecting pairs remain after rounding the new vertices to f32",
            left.pairs
        ));
        return Ok(r);
    }
    r.volume_after_mm3 = cand.with_mesh(|m| m.signed_volume());
    r.applied = true;
    *w = cand;
    Ok(r)
}

/// The projection of triangle `corners` on its dominant coordinate plane, counter-clockwise.
fn projector(corners: &[DVec3; 3]) -> impl Fn(DVec3) -> [f64; 2] {
    let n = (corners[1] - corners[0]).cross(corners[2] - corners[0]);
    let k = if n.x.abs() >= n.y.abs() && n.x.abs() >= n.z.abs() {
        0
    } else if n.y.abs() >= n.z.abs() {
        1
    } else {
        2
    };
    let (i0, i1) = ((k + 1) % 3, (k + 2) % 3);
    // (i0, i1) is cyclic after k, so the sign of n_k decides the orientation.
    let flip = n[k] < 0.0;
    move |p: DVec3| -> [f64; 2] {
        if flip {
            [p[i1], p[i0]]
        } else {
            [p[i0], p[i1]]
        }
    }
}

fn o2(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    robust::orient2d(
        robust::Coord { x: a[0], y: a[1] },
        robust::Coord { x: b[0], y: b[1] },
        robust::Coord { x: c[0], y: c[1] },
    )
}

/// The triple points inside triangle `t`: pairs of its segments (from two other
/// triangles) that cross properly in its plane. A crossing through an end is an error.
fn crossings(w: &Work, t: u32, segs: &[Seg]) -> Result<Vec<Triple>, String> {
    let corners = w.t[t as usize].map(|i| w.p[i as usize].as_dvec3());
    let to2 = projector(&corners);
    let ends: Vec<([f64; 2], [f64; 2])> = segs
        .iter()
        .map(|&(_, _, k1, k2)| (to2(key_point(w, k1)), to2(key_point(w, k2))))
        .collect();
    let mut out = Vec::new();
    for i in 0..segs.len() {
        for j in i + 1..segs.len() {
            let (s, u) = (segs[i], segs[j]);
            if s.2 == u.2 || s.2 == u.3 || s.3 == u.2 || s.3 == u.3 {
                continue;
            }
            let ((a, b), (c, d)) = (ends[i], ends[j]);
            let (oc, od) = (o2(a, b, c), o2(a, b, d));
            let (oa, ob) = (o2(c, d, a), o2(c, d, b));
            if oc * od > 0.0 || oa * ob > 0.0 {
                continue;
            }
            if oc == 0.0 || od == 0.0 || oa == 0.0 || ob == 0.0 {
                return Err("intersection curves touch at an end".into());
            }
            let mut x = [t, s.1, u.1];
            x.sort_unstable();
            out.push((x[0], x[1], x[2]));
        }
    }
    Ok(out)
}

/// Three triangles, sorted.
type Triple = (u32, u32, u32);

/// A segment `(triangle, other triangle, end, end)`.
type Seg = (u32, u32, Key, Key);

/// Where the planes of the triangles of `x` meet (Cramer's rule in the sorted order).
fn triple_point(w: &Work, x: Triple) -> DVec3 {
    let plane = |f: u32| {
        let [a, b, c] = w.t[f as usize].map(|i| w.p[i as usize].as_dvec3());
        let n = (b - a).cross(c - a);
        (n, n.dot(a))
    };
    let ((n1, d1), (n2, d2), (n3, d3)) = (plane(x.0), plane(x.1), plane(x.2));
    let det = n1.dot(n2.cross(n3));
    (d1 * n2.cross(n3) + d2 * n3.cross(n1) + d3 * n1.cross(n2)) / det
}

/// Pieces of triangle `t` cut by `segs` (each `(t, other, k1, k2)`, split at the triple
/// points on them): a constrained Delaunay triangulation of its corners, the crossing
/// points and segments, in its dominant plane.
fn retriangulate(
    w: &Work,
    t: u32,
    segs: &[Seg],
    keys: &BTreeMap<Key, u32>,
    triples: &BTreeMap<Triple, u32>,
    pos: &dyn Fn(u32) -> DVec3,
) -> Result<Vec<[u32; 3]>, String> {
    let tri = w.t[t as usize];
    let corners = tri.map(|i| w.p[i as usize].as_dvec3());
    let to2 = projector(&corners);
    // The triple points of this triangle.
    let mine: Vec<(Triple, u32)> = triples
        .iter()
        .filter(|(x, _)| x.0 == t || x.1 == t || x.2 == t)
        .map(|(x, &g)| (*x, g))
        .collect();
    // Local points: corners, then keys.
    let mut ids: Vec<u32> = tri.to_vec();
    let mut local: BTreeMap<u32, u32> = BTreeMap::new();
    for (i, &v) in tri.iter().enumerate() {
        local.insert(v, i as u32);
    }
    let mut cons: Vec<[u32; 2]> = Vec::new();
    let mut on_edge: [Vec<(f64, u32)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for &(_, other, k1, k2) in segs {
        let mut l = [0u32; 2];
        for (j, key) in [k1, k2].into_iter().enumerate() {
            let g = keys[&key];
            let id = *local.entry(g).or_insert_with(|| {
                ids.push(g);
                (ids.len() - 1) as u32
            });
            l[j] = id;
            // On an edge of t?
            for e in 0..3 {
                let (a, b) = (tri[e], tri[(e + 1) % 3]);
                if (a.min(b), a.max(b)) == (key.0, key.1) {
                    let (pa, pb) = (corners[e], corners[(e + 1) % 3]);
                    let s = (pos(g) - pa).dot(pb - pa) / (pb - pa).length_squared();
                    if !on_edge[e].iter().any(|x| x.1 == id) {
                        on_edge[e].push((s, id));
                    }
                }
            }
        }
        // Split at the triple points on this segment, in order along it.
        let (a, b) = (pos(ids[l[0] as usize]), pos(ids[l[1] as usize]));
        let mut inner: Vec<(f64, u32)> = Vec::new();
        for &(x, g) in &mine {
            if x.0 == other || x.1 == other || x.2 == other {
                let id = *local.entry(g).or_insert_with(|| {
                    ids.push(g);
                    (ids.len() - 1) as u32
                });
                inner.push(((pos(g) - a).dot(b - a), id));
            }
        }
        inner.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let mut prev = l[0];
        for &(_, id) in &inner {
            if id != prev {
                cons.push([prev, id]);
            }
            prev = id;
        }
        if l[1] != prev {
            cons.push([prev, l[1]]);
        }
    }
    for (e, pts) in on_edge.iter_mut().enumerate() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut prev = e as u32;
        for &(_, id) in pts.iter() {
            cons.push([prev, id]);
            prev = id;
        }
        cons.push([prev, ((e + 1) % 3) as u32]);
    }
    let pts2: Vec<[f64; 2]> = ids.iter().map(|&g| to2(pos(g))).collect();
    let out = cdt::triangulate(&pts2, &cons, Domain::Inside).map_err(|e| e.to_string())?;
    // The pieces must tile the triangle.
    let a2 = |t: &[u32; 3]| {
        let [a, b, c] = t.map(|i| pts2[i as usize]);
        0.5 * ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    };
    let whole = a2(&[0, 1, 2]);
    let sum: f64 = out.iter().map(a2).sum();
    if (sum - whole).abs() > 1e-9 * whole.abs() {
        return Err(format!("pieces cover {sum} of {whole}"));
    }
    Ok(out
        .into_iter()
        .map(|q| q.map(|i| ids[i as usize]))
        .collect())
}
