//! Self-intersections on triangle pairs and meshes whose answers are known, and against a
//! brute-force search with the same exact predicate.

use osteon_geom::Vec3;
use osteon_mesh::{report, self_intersections, triangles_intersect, Mesh, SelfIntersections};
use proptest::prelude::*;

fn tri(p: [[f32; 3]; 3]) -> [Vec3; 3] {
    p.map(Vec3::from)
}

/// `expected` for the pair in both orders and for every rotation of the corners (the
/// answer cannot depend on either), and as a two-triangle mesh.
fn check(a: [[f32; 3]; 3], b: [[f32; 3]; 3], expected: bool) {
    let rot = |t: [[f32; 3]; 3], k: usize| [t[k % 3], t[(k + 1) % 3], t[(k + 2) % 3]];
    for i in 0..3 {
        for j in 0..3 {
            let (x, y) = (tri(rot(a, i)), tri(rot(b, j)));
            assert_eq!(triangles_intersect(x, y), expected, "{x:?} {y:?}");
            assert_eq!(triangles_intersect(y, x), expected, "{y:?} {x:?}");
        }
    }
    let want = if expected {
        SelfIntersections {
            pairs: 1,
            faces: vec![0, 1],
        }
    } else {
        SelfIntersections::default()
    };
    // Both orders in the mesh too: the search may meet the pair either way round.
    for (x, y) in [(a, b), (b, a)] {
        let m = Mesh::new(
            x.iter().chain(&y).map(|&p| Vec3::from(p)).collect(),
            vec![[0, 1, 2], [3, 4, 5]],
        )
        .unwrap();
        assert_eq!(self_intersections(&m), want, "{x:?} {y:?}");
    }
}

const T: [[f32; 3]; 3] = [[0., 0., 0.], [2., 0., 0.], [0., 2., 0.]];

#[test]
fn crossing_triangles() {
    // A vertical triangle piercing T.
    check(T, [[0.5, 0.5, -1.], [0.5, 0.5, 1.], [3., 3., 0.5]], true);
    // The same, lifted clear of it.
    check(T, [[0.5, 0.5, 0.1], [0.5, 0.5, 1.], [3., 3., 0.5]], false);
    // Close in the box sense but not touching.
    check(T, [[1.5, 1.5, -1.], [1.5, 1.5, 1.], [3., 3., 0.]], false);
}

#[test]
fn touching_without_shared_corners_counts() {
    // A corner resting on the interior of T.
    check(T, [[0.5, 0.5, 0.], [0.5, 0.5, 1.], [1., 2., 1.]], true);
    // An edge lying across T's edge.
    check(T, [[1., -1., 0.], [1., 1., 0.], [1., 0., 1.]], true);
}

#[test]
fn boxes_touching_in_a_plane() {
    // Boxes that meet only in the plane z = 0, where the triangles are reduced to a corner
    // or an edge (the case of marching-cubes vertices on grid planes). Below: B, with its
    // top edge from (0, 0, 0) to (2, 0, 0); above, corners or edges of A on z = 0.
    // Each case also mirrored in z (the search meets the pair in the other order then).
    let check = |a: [[f32; 3]; 3], b: [[f32; 3]; 3], expected: bool| {
        check(a, b, expected);
        let m = |t: [[f32; 3]; 3]| t.map(|p| [p[0], p[1], -p[2]]);
        check(m(a), m(b), expected);
    };
    let b = [[0., 0., 0.], [2., 0., 0.], [1., 1., -2.]];
    // A corner on the inside of B's edge; beside it.
    check([[1., 0., 0.], [1., 1., 2.], [0., -1., 2.]], b, true);
    check([[1., 0.5, 0.], [1., 1., 2.], [0., -1., 2.]], b, false);
    // An edge across B's edge; one beyond its end; one along it, overlapping.
    check([[1., -1., 0.], [1., 1., 0.], [1., 0., 2.]], b, true);
    check([[3., -1., 0.], [3., 1., 0.], [3., 0., 2.]], b, false);
    check([[1., 0., 0.], [3., 0., 0.], [2., 1., 2.]], b, true);
    // Corner on corner: B's apex, met exactly (a shared corner, nothing more) or missed.
    let apex = [[1., 0., 0.], [2., 1., -2.], [0., 1., -2.]];
    check([[1., 0., 0.], [1., 1., 2.], [0., -1., 2.]], apex, false);
    check([[1.5, 0., 0.], [1., 1., 2.], [0., -1., 2.]], apex, false);
    // A triangle lying in the plane, touched by B's edge: the full test.
    check([[0.5, -1., 0.], [1.5, -1., 0.], [1., 1., 0.]], b, true);
}

#[test]
fn shared_vertex() {
    // Fanning out from a common corner, above and below the plane: only the corner.
    check(T, [[0., 0., 0.], [-1., 0., 1.], [0., -1., 1.]], false);
    check(T, [[0., 0., 0.], [1., 1., 1.], [1., 1., 2.]], false);
    // Coplanar, wedges apart.
    check(T, [[0., 0., 0.], [-1., 0., 0.], [0., -1., 0.]], false);
    // The opposite edge crosses T.
    check(T, [[0., 0., 0.], [0.5, 0.5, 1.], [0.5, 0.5, -1.]], true);
    // Coplanar with overlapping wedges.
    check(T, [[0., 0., 0.], [1., 1., 0.], [3., -1., 0.]], true);
    // Coplanar, one edge along another (overlap on a segment beyond the corner).
    check(T, [[0., 0., 0.], [1., 0., 0.], [1., -1., 0.]], true);
}

#[test]
fn shared_edge() {
    // A marching-cubes-like fold: non-coplanar through the common edge.
    check(T, [[2., 0., 0.], [0., 2., 0.], [2., 2., 1.]], false);
    check(T, [[2., 0., 0.], [0., 2., 0.], [0., 0., 1.]], false);
    // Coplanar, on the other side of the edge: a flat pair.
    check(T, [[2., 0., 0.], [0., 2., 0.], [2., 2., 0.]], false);
    // Coplanar and folded onto T.
    check(T, [[2., 0., 0.], [0., 2., 0.], [0.5, 0.5, 0.]], true);
    check(T, [[2., 0., 0.], [0., 2., 0.], [-1., -1., 0.]], true);
}

#[test]
fn coplanar_overlap() {
    check(T, [[0.5, 0.5, 0.], [3., 0.5, 0.], [0.5, 3., 0.]], true);
    // One inside the other.
    check(T, [[0.2, 0.2, 0.], [0.6, 0.2, 0.], [0.2, 0.6, 0.]], true);
    // Coplanar and apart.
    check(T, [[3., 3., 0.], [4., 3., 0.], [3., 4., 0.]], false);
    // A duplicated face.
    check(T, T, true);
}

#[test]
fn degenerate_triangles_are_skipped() {
    check(T, [[0.5, 0.5, -1.], [0.5, 0.5, 1.], [0.5, 0.5, 0.]], false);
}

/// Axis-aligned cube `[0, 1]³`, outward, 12 triangles.
fn cube() -> Mesh {
    osteon_mesh::shapes::cuboid(Vec3::ZERO, Vec3::ONE)
}

use osteon_mesh::shapes::torus;

#[test]
fn clean_closed_meshes_have_none() {
    assert!(self_intersections(&cube()).is_empty());
    assert!(self_intersections(&torus(3.0, 1.0, 64, 32)).is_empty());
    let r = report(&cube()).unwrap();
    assert_eq!(r.self_intersecting_faces, Some(0));
    assert!(r.problems().is_empty());
}

#[test]
fn vertex_pushed_through_the_cube() {
    let mut m = cube();
    // Vertex 7 (1, 1, 1) pushed through the opposite face z = 0 and out below it.
    m.positions[7] = Vec3::new(0.3, 0.4, -0.5);
    let s = self_intersections(&m);
    assert!(s.pairs > 0, "{s:?}");
    // The bottom face z = 0 is pierced, and so are triangles that use vertex 7.
    assert!(s.faces.contains(&0) || s.faces.contains(&1), "{s:?}");
    assert!(s.faces.windows(2).all(|w| w[0] < w[1]));
    let r = report(&m).unwrap();
    assert_eq!(r.self_intersecting_faces, Some(s.faces.len()));
    let p = r.problems();
    assert!(
        p.iter().any(|x| x.contains("self-intersecting triangle")),
        "{p:?}"
    );
    assert!(r.to_string().contains("self-intersecting triangles: "));
    let off = osteon_mesh::report_with(
        &m,
        &osteon_mesh::ReportOptions::default().self_intersections(false),
    )
    .unwrap();
    assert_eq!(off.self_intersecting_faces, None);
    assert!(off.to_string().contains("not checked"));
}

#[test]
fn two_overlapping_tori() {
    let a = torus(3.0, 1.0, 48, 24);
    let b = a.map_positions(|p| p + Vec3::new(1.5, 0.0, 0.3));
    let mut m = a.clone();
    let base = m.positions.len() as u32;
    m.positions.extend_from_slice(&b.positions);
    m.triangles
        .extend(b.triangles.iter().map(|t| t.map(|i| i + base)));
    let s = self_intersections(&m);
    assert!(s.pairs > 0);
    // Every intersecting pair has one triangle of each torus.
    assert!(s.faces.iter().any(|&f| (f as usize) < a.triangles.len()));
    assert!(s.faces.iter().any(|&f| (f as usize) >= a.triangles.len()));
    assert_eq!(s, brute_force(&m));
}

#[test]
fn unwelded_copy_gives_the_same_answer() {
    // Sharing is by coordinates: a triangle soup of a clean mesh is still clean.
    let m = torus(3.0, 1.0, 32, 16);
    let soup = Mesh::new(
        m.triangles
            .iter()
            .flat_map(|t| t.map(|i| m.positions[i as usize]))
            .collect(),
        (0..m.triangles.len() as u32)
            .map(|i| [3 * i, 3 * i + 1, 3 * i + 2])
            .collect(),
    )
    .unwrap();
    assert!(self_intersections(&soup).is_empty());
}

#[test]
fn bad_input_does_not_panic() {
    let m = Mesh {
        positions: vec![Vec3::ZERO, Vec3::X, Vec3::new(f32::NAN, 0.0, 0.0), Vec3::Y],
        triangles: vec![[0, 1, 2], [0, 1, 9], [0, 1, 3], [3, 3, 1]],
    };
    assert!(self_intersections(&m).is_empty());
    assert!(self_intersections(&Mesh::default()).is_empty());
}

#[test]
fn same_answer_on_any_thread_count() {
    // Many triangles, crumpled so that there are plenty of intersections.
    let m = torus(30.0, 10.0, 300, 100).map_positions(|p| {
        let s = (p.x * 1.7).sin() + (p.y * 2.3).cos() + (p.z * 3.1).sin();
        p + Vec3::splat(0.8 * s)
    });
    let with = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(|| self_intersections(&m))
    };
    let one = with(1);
    assert!(one.pairs > 0);
    assert_eq!(one, with(2));
    assert_eq!(one, with(5));
}

fn brute_force(m: &Mesh) -> SelfIntersections {
    let nv = m.positions.len();
    let mut pairs = 0;
    let mut faces = Vec::new();
    let ok = |t: &[u32; 3]| {
        t.iter().all(|&i| (i as usize) < nv)
            && t.iter().all(|&i| m.positions[i as usize].is_finite())
    };
    for i in 0..m.triangles.len() {
        for j in i + 1..m.triangles.len() {
            let (a, b) = (&m.triangles[i], &m.triangles[j]);
            if ok(a) && ok(b) && triangles_intersect(m.corners(i), m.corners(j)) {
                pairs += 1;
                faces.push(i as u32);
                faces.push(j as u32);
            }
        }
    }
    faces.sort_unstable();
    faces.dedup();
    SelfIntersections { pairs, faces }
}

/// Soups on a small integer grid: plenty of shared corners, coplanar and touching pairs.
fn arb_soup() -> impl Strategy<Value = Mesh> {
    (1usize..14).prop_flat_map(|nv| {
        (
            prop::collection::vec(prop::array::uniform3(-3i8..4), nv),
            prop::collection::vec(prop::array::uniform3(0..nv as u32), 0..40),
        )
            .prop_map(|(p, t)| Mesh {
                positions: p
                    .into_iter()
                    .map(|a| Vec3::new(a[0] as f32, a[1] as f32, a[2] as f32))
                    .collect(),
                triangles: t,
            })
    })
}

/// Soups of independent triangles with real-valued corners in a small box.
fn arb_float_soup() -> impl Strategy<Value = Mesh> {
    prop::collection::vec(
        prop::array::uniform3(prop::array::uniform3(-2.0f32..2.0)),
        0..60,
    )
    .prop_map(|ts| Mesh {
        positions: ts.iter().flatten().map(|&p| Vec3::from(p)).collect(),
        triangles: (0..ts.len() as u32)
            .map(|i| [3 * i, 3 * i + 1, 3 * i + 2])
            .collect(),
    })
}

proptest! {
    #[test]
    fn bvh_finds_what_brute_force_finds(m in arb_soup()) {
        prop_assert_eq!(self_intersections(&m), brute_force(&m));
    }

    #[test]
    fn bvh_finds_what_brute_force_finds_float(m in arb_float_soup()) {
        prop_assert_eq!(self_intersections(&m), brute_force(&m));
    }

    #[test]
    fn predicate_is_symmetric(
        a in prop::array::uniform3(prop::array::uniform3(-2i8..3)),
        b in prop::array::uniform3(prop::array::uniform3(-2i8..3)),
    ) {
        let f = |t: [[i8; 3]; 3]| t.map(|p| Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32));
        let (x, y) = (f(a), f(b));
        let r = triangles_intersect(x, y);
        prop_assert_eq!(r, triangles_intersect(y, x));
        prop_assert_eq!(r, triangles_intersect([x[1], x[2], x[0]], [y[2], y[1], y[0]]));
        // A rigid motion with exact arithmetic (integer translation) keeps the answer.
        let t = Vec3::new(5.0, -3.0, 7.0);
        prop_assert_eq!(r, triangles_intersect(x.map(|p| p + t), y.map(|p| p + t)));
    }
}

/// Brute force restricted to pairs with at least one triangle in `subset`.
fn brute_force_among(all: &[(u32, u32)], subset: &[u32]) -> SelfIntersections {
    let inside = |t: u32| subset.contains(&t);
    let kept: Vec<(u32, u32)> = all
        .iter()
        .copied()
        .filter(|&(i, j)| inside(i) || inside(j))
        .collect();
    let mut faces: Vec<u32> = kept.iter().flat_map(|&(i, j)| [i, j]).collect();
    faces.sort_unstable();
    faces.dedup();
    SelfIntersections {
        pairs: kept.len(),
        faces,
    }
}

fn brute_force_pairs(m: &Mesh) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for i in 0..m.triangles.len() {
        for j in i + 1..m.triangles.len() {
            if triangles_intersect(m.corners(i), m.corners(j)) {
                out.push((i as u32, j as u32));
            }
        }
    }
    out
}

#[test]
fn search_among_a_subset_matches_brute_force() {
    use osteon_mesh::self_intersect::self_intersections_among;
    let a = torus(3.0, 1.0, 24, 12);
    let b = a.map_positions(|p| p + Vec3::new(1.5, 0.0, 0.3));
    let mut m = a.clone();
    let base = m.positions.len() as u32;
    m.positions.extend_from_slice(&b.positions);
    m.triangles
        .extend(b.triangles.iter().map(|t| t.map(|i| i + base)));
    let n = m.triangles.len() as u32;
    // Subsets: every 7th triangle, a block of one torus, both tori's intersecting faces,
    // nothing, and out-of-range indices (ignored).
    let full = self_intersections(&m);
    let subsets: Vec<Vec<u32>> = vec![
        (0..n).step_by(7).collect(),
        (0..n / 3).collect(),
        full.faces.clone(),
        Vec::new(),
        vec![n + 5, 3],
    ];
    let all = brute_force_pairs(&m);
    for s in subsets {
        let got = self_intersections_among(&m, &s);
        let valid: Vec<u32> = s.iter().copied().filter(|&t| t < n).collect();
        assert_eq!(
            got,
            brute_force_among(&all, &valid),
            "subset of {}",
            s.len()
        );
    }
    // The whole mesh as the subset is the full search.
    let every: Vec<u32> = (0..n).collect();
    assert_eq!(self_intersections_among(&m, &every), full);
}

/// A torus whose vertices are moved by a deterministic pseudo-random jitter of up to
/// `amp` (in units of the tube radius 1): small amplitudes keep it clean, large ones fold
/// vertex fans over (fans that wind twice, wedges that flip) and push sheets through each
/// other, the cases the fan certificates must refuse.
fn jittered_torus(seed: u64, amp: f32, n: u32, m: u32) -> Mesh {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let mut t = torus(3.0, 1.0, n, m);
    for p in &mut t.positions {
        *p += amp * Vec3::new(next(), next(), next());
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Closed manifold meshes, where most vertices get a fan certificate and the pairs
    /// around them are not tested: the search still finds exactly what brute force finds,
    /// over the whole mesh and among a subset.
    #[test]
    fn certified_fans_miss_nothing(seed in any::<u64>(), amp in 0.0f32..0.6) {
        let m = jittered_torus(seed, amp, 20, 10);
        let all = brute_force_pairs(&m);
        let full = self_intersections(&m);
        prop_assert_eq!(&full, &brute_force_among(&all, &(0..m.triangles.len() as u32).collect::<Vec<_>>()));
        let subset: Vec<u32> = (0..m.triangles.len() as u32).filter(|t| (t ^ seed as u32).is_multiple_of(5)).collect();
        prop_assert_eq!(
            osteon_mesh::self_intersect::self_intersections_among(&m, &subset),
            brute_force_among(&all, &subset)
        );
    }
}

#[test]
fn jittered_tori_span_clean_and_folded() {
    // The property above sees both kinds: clean at small amplitude, folded at large.
    assert!(self_intersections(&jittered_torus(1, 0.01, 20, 10)).is_empty());
    let folded = jittered_torus(1, 0.5, 20, 10);
    let s = self_intersections(&folded);
    assert!(s.pairs > 10, "{s:?}");
    assert_eq!(s, brute_force(&folded));
}

/// A closed fan of `k` triangles around the origin whose spokes turn by `turn` radians
/// each, rising by `rise` per spoke (the last triangle closes the fan back to the first
/// spoke).
fn fan(k: u32, turn: f32, rise: f32) -> Mesh {
    let mut positions = vec![Vec3::ZERO];
    for i in 0..k {
        let a = turn * i as f32;
        positions.push(Vec3::new(a.cos(), a.sin(), rise * i as f32));
    }
    let triangles = (0..k).map(|i| [0, 1 + i, 1 + (i + 1) % k]).collect();
    Mesh::new(positions, triangles).unwrap()
}

#[test]
fn fans_that_wind_twice_are_tested() {
    use std::f32::consts::TAU;
    // Seven spokes going twice around: every wedge is positive (4π/7 < π) but the fan
    // overlaps itself. Flat, the triangles overlap; rising like a spiral staircase, pairs
    // may clear each other in space: brute force decides.
    assert!(!self_intersections(&fan(7, 2.0 * TAU / 7.0, 0.0)).is_empty());
    for rise in [0.0, 0.05, 0.3, 1.0] {
        let m = fan(7, 2.0 * TAU / 7.0, rise);
        assert_eq!(self_intersections(&m), brute_force(&m), "rise {rise}");
    }
    // Once around, flat or bent: a clean fan.
    for rise in [0.0, 0.05] {
        let m = fan(7, TAU / 7.0, rise);
        assert_eq!(self_intersections(&m), brute_force(&m));
    }
    assert!(self_intersections(&fan(7, TAU / 7.0, 0.0)).is_empty());
}

/// A deterministic pseudo-random voxel blob (a ball of radius 2.2 plus random voxels in
/// a 7³ block) as a welded voxel-face surface, with `moved` of its vertices shifted by
/// multiples of 1/8 voxel up to `amp` eighths (exact in `f32`, so vertices stay on grid
/// planes and boxes keep touching along whole sides).
fn staircase(seed: u64, amp: i32, moved: u32) -> Mesh {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s >> 33
    };
    let extra: Vec<bool> = (0..343).map(|_| next() % 5 == 0).collect();
    let mut m = crate::smooth::voxels(
        |i, j, k| {
            i * i + j * j + k * k <= 5
                || (i.abs() <= 3 && j.abs() <= 3 && k.abs() <= 3)
                    && extra[((i + 3) * 49 + (j + 3) * 7 + (k + 3)) as usize]
        },
        -3,
        3,
    );
    for p in &mut m.positions {
        if amp > 0 && (next() % 100) < moved as u64 {
            for c in 0..3 {
                p[c] += ((next() % (2 * amp as u64 + 1)) as i32 - amp) as f32 * 0.125;
            }
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Voxel staircases, the raw marching-cubes case: fans facing two or three axes (fan
    /// certificates along the fan's normal), boxes touching along whole sides (settled in
    /// the plane of contact), flat patches. Clean, and with vertices moved on the grid so
    /// that triangles touch, cross and fold: the search finds exactly what brute force finds.
    #[test]
    fn staircases_match_brute_force(seed in any::<u64>(), amp in 0i32..5, moved in 5u32..40) {
        let m = staircase(seed, amp, moved);
        prop_assert_eq!(self_intersections(&m), brute_force(&m));
    }
}

#[test]
fn staircases_span_clean_and_crossing() {
    // The property above sees both kinds.
    assert!(self_intersections(&staircase(3, 0, 0)).is_empty());
    let crossing = (1..20)
        .map(|seed| self_intersections(&staircase(seed, 4, 30)).pairs)
        .filter(|&p| p > 0)
        .count();
    assert!(crossing >= 5, "{crossing}");
}
