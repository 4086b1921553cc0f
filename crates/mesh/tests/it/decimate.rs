//! Quadric decimation: error bound, topology, boundaries, determinism, errors.

use osteon_geom::{NeverCancel, NoProgress, Vec3};
use osteon_mesh::distance::{directed_deviation, DistanceIndex};
use osteon_mesh::{decimate, report, DecimateOptions, DecimateReport, Mesh, MeshError};

fn run(m: &Mesh, o: &DecimateOptions) -> (Mesh, DecimateReport) {
    decimate(m, o, &NoProgress, &NeverCancel).unwrap()
}

/// Regular `n × n` grid over `[0, s]²`, heights from `h`, counter-clockwise seen from +z.
fn grid(n: u32, s: f32, h: impl Fn(f32, f32) -> f32) -> Mesh {
    let mut p = Vec::new();
    for j in 0..=n {
        for i in 0..=n {
            let (x, y) = (s * i as f32 / n as f32, s * j as f32 / n as f32);
            p.push(Vec3::new(x, y, h(x, y)));
        }
    }
    let idx = |i: u32, j: u32| j * (n + 1) + i;
    let mut t = Vec::new();
    for j in 0..n {
        for i in 0..n {
            t.push([idx(i, j), idx(i + 1, j), idx(i + 1, j + 1)]);
            t.push([idx(i, j), idx(i + 1, j + 1), idx(i, j + 1)]);
        }
    }
    Mesh::new(p, t).unwrap()
}

use osteon_mesh::shapes::icosphere;

use osteon_mesh::shapes::torus;

/// Finely tessellated closed cube `[0, s]³` (`n × n` quads per face, welded).
fn fine_cube(n: u32, s: f32) -> Mesh {
    let mut ids = std::collections::BTreeMap::new();
    let mut p: Vec<Vec3> = Vec::new();
    let mut t = Vec::new();
    let mut vid = |q: [u32; 3], p: &mut Vec<Vec3>| -> u32 {
        *ids.entry(q).or_insert_with(|| {
            p.push(Vec3::new(q[0] as f32, q[1] as f32, q[2] as f32) * (s / n as f32));
            p.len() as u32 - 1
        })
    };
    // For each axis and side, a face grid; winding chosen so normals point out.
    for axis in 0..3 {
        for side in [0, n] {
            let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
            for i in 0..n {
                for j in 0..n {
                    let corner = |di: u32, dj: u32| {
                        let mut q = [0u32; 3];
                        q[axis] = side;
                        q[u] = i + di;
                        q[v] = j + dj;
                        q
                    };
                    let a = vid(corner(0, 0), &mut p);
                    let b = vid(corner(1, 0), &mut p);
                    let c = vid(corner(1, 1), &mut p);
                    let d = vid(corner(0, 1), &mut p);
                    if side == n {
                        t.push([a, b, c]);
                        t.push([a, c, d]);
                    } else {
                        t.push([a, c, b]);
                        t.push([a, d, c]);
                    }
                }
            }
        }
    }
    Mesh::new(p, t).unwrap()
}

#[test]
fn flat_square_goes_to_a_few_triangles() {
    let m = grid(20, 10.0, |_, _| 0.0);
    let (out, rep) = run(&m, &DecimateOptions::default().max_error_mm(Some(0.01)));
    assert!(
        out.triangles.len() <= 8,
        "{} triangles",
        out.triangles.len()
    );
    assert!(rep.max_deviation_mm < 1e-5, "{rep:?}");
    assert!((out.area() - 100.0).abs() < 1e-3);
}

#[test]
fn fine_cube_keeps_its_shape() {
    let m = fine_cube(10, 10.0);
    assert_eq!(report(&m).unwrap().genus, Some(0));
    let (out, rep) = run(&m, &DecimateOptions::default().max_error_mm(Some(0.01)));
    // Flat faces collapse to a few triangles each (exact flat-fan argument); along the
    // twelve edges the proof of the bound is stricter (sharp creases at the scale of
    // e = 0.01 mm), so some edge vertices stay: 1200 → at most 160.
    assert!(
        out.triangles.len() <= 160,
        "{} triangles",
        out.triangles.len()
    );
    assert!(rep.max_deviation_mm < 1e-5, "{rep:?}");
    assert!((rep.volume_after_mm3 - 1000.0).abs() < 1e-2, "{rep:?}");
    let r = report(&out).unwrap();
    assert!(
        r.watertight && r.manifold && r.outward && r.genus == Some(0),
        "{r}"
    );
}

#[test]
fn sphere_within_the_error_bound_both_ways() {
    let m = icosphere(5, 20.0);
    for e in [0.02, 0.1, 0.5] {
        let (out, rep) = run(&m, &DecimateOptions::default().max_error_mm(Some(e)));
        assert_eq!(rep.stopped_by, "max-error");
        // The input's own chords already deviate ~L²/8r ≈ 0.01 mm from the true sphere,
        // so 0.02 mm leaves little room.
        let kept = if e < 0.05 { 0.9 } else { 0.5 };
        assert!(
            (out.triangles.len() as f64) < kept * m.triangles.len() as f64,
            "e = {e}: {rep:?}"
        );
        assert!(rep.max_deviation_output_to_input_mm <= e, "{rep:?}");
        assert!(rep.max_deviation_input_to_output_mm <= e, "{rep:?}");
        // Denser than the report: an 8-fold grid per output triangle.
        let dense = directed_deviation(&out, &DistanceIndex::new(&m).unwrap(), 8);
        assert!(dense.max_mm <= e, "e = {e}: dense {dense:?}");
        // A shell of thickness e around the sphere holds ~ 4πr²·e of volume.
        let shell = 4.0 * std::f64::consts::PI * 400.0 * e;
        assert!(
            (rep.volume_after_mm3 - rep.volume_before_mm3).abs() <= shell,
            "{rep:?}"
        );
        let r = report(&out).unwrap();
        assert!(
            r.watertight && r.manifold && r.outward && r.genus == Some(0),
            "{r}"
        );
    }
}

#[test]
fn torus_keeps_genus_one_at_any_target() {
    let m = torus(10.0, 3.0, 48, 24);
    for target in [500, 100, 20, 0] {
        let (out, rep) = run(
            &m,
            &DecimateOptions::default().target_triangles(Some(target)),
        );
        let r = report(&out).unwrap();
        assert!(r.watertight && r.manifold && r.oriented, "{r}");
        assert_eq!(r.genus, Some(1), "target {target}: {r}");
        assert_eq!((rep.genus_before, rep.genus_after), (Some(1), Some(1)));
        if target >= 100 {
            assert!(out.triangles.len() <= target + 1, "{rep:?}");
            assert_eq!(rep.stopped_by, "target");
        }
    }
}

#[test]
fn closed_stays_closed_and_normals_stay_outward() {
    let m = icosphere(4, 10.0);
    for ratio in [0.5, 0.1, 0.02] {
        let (out, _) = run(&m, &DecimateOptions::default().ratio(Some(ratio)));
        let r = report(&out).unwrap();
        assert_eq!(r.boundary_edges, 0);
        assert!(
            r.watertight && r.manifold && r.outward && r.genus == Some(0),
            "{r}"
        );
        assert_eq!(r.degenerate_triangles, 0);
        for t in 0..out.triangles.len() {
            let [a, b, c] = out.corners(t);
            let n = (b - a).cross(c - a);
            assert!(n.dot(a + b + c) > 0.0, "triangle {t} points inwards");
        }
    }
}

#[test]
fn locked_boundary_keeps_its_vertices_exactly() {
    let m = grid(24, 12.0, |x, y| 0.05 * (x * 0.5).sin() * (y * 0.7).cos());
    let boundary: Vec<Vec3> = m
        .positions
        .iter()
        .copied()
        .filter(|p| p.x == 0.0 || p.y == 0.0 || p.x == 12.0 || p.y == 12.0)
        .collect();
    let opts = DecimateOptions::default()
        .ratio(Some(0.1))
        .lock_boundary(true);
    let (out, rep) = run(&m, &opts);
    assert_eq!(rep.locked_boundary_vertices, boundary.len());
    assert!(out.triangles.len() < m.triangles.len() / 2, "{rep:?}");
    for b in &boundary {
        assert!(out.positions.contains(b), "boundary vertex {b} lost");
    }
    let (ri, ro) = (report(&m).unwrap(), report(&out).unwrap());
    assert_eq!(ri.boundary_edges, ro.boundary_edges);
    assert!(ro.manifold && ro.oriented, "{ro}");
    // Without the lock, the open mesh still keeps one boundary loop and no defects.
    let (free, _) = run(&m, &DecimateOptions::default().ratio(Some(0.1)));
    let rf = report(&free).unwrap();
    assert!(rf.manifold && rf.oriented && rf.boundary_edges > 0, "{rf}");
}

#[test]
fn non_manifold_input_does_not_panic() {
    // A grid plus two extra triangles hanging on one interior edge (four triangles on it),
    // plus a lone triangle touching a grid vertex only.
    let mut m = grid(8, 8.0, |_, _| 0.0);
    let (a, b) = (4 * 9 + 4, 4 * 9 + 5);
    let n = m.positions.len() as u32;
    m.positions.push(Vec3::new(4.5, 4.0, 3.0));
    m.positions.push(Vec3::new(4.5, 4.0, -3.0));
    m.positions.push(Vec3::new(0.0, 0.0, 5.0));
    m.positions.push(Vec3::new(1.0, 0.0, 5.0));
    m.triangles.push([a, b, n]);
    m.triangles.push([b, a, n + 1]);
    m.triangles.push([0, n + 2, n + 3]);
    // A triangle with a repeated index.
    m.triangles.push([10, 10, 11]);
    let m = Mesh::new(m.positions, m.triangles).unwrap();
    for opts in [
        DecimateOptions::default().ratio(Some(0.1)),
        DecimateOptions::default().max_error_mm(Some(0.1)),
        DecimateOptions::default().target_triangles(Some(0)),
    ] {
        let (out, rep) = run(&m, &opts);
        assert!(rep.frozen_vertices >= 3, "{rep:?}");
        assert!(out.triangles.len() < m.triangles.len());
        assert!(out.triangles.contains(&[a, b, n].map(|i| {
            // Frozen vertices keep their positions: find them in the output.
            out.positions
                .iter()
                .position(|p| *p == m.positions[i as usize])
                .unwrap() as u32
        })));
    }
}

#[test]
fn same_output_on_one_two_and_four_threads() {
    let on = |m: &Mesh, opts: &DecimateOptions, threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run(m, opts))
    };
    let m = torus(10.0, 3.0, 40, 20);
    let opts = DecimateOptions::default().max_error_mm(Some(0.2));
    let (a, ra) = on(&m, &opts, 1);
    for threads in [2, 4] {
        let (b, rb) = on(&m, &opts, threads);
        assert_eq!(a, b);
        assert_eq!(ra, rb);
    }
    assert!(a.triangles.len() < m.triangles.len());
    // Large enough for the parallel planning to split into chunks and for the radix sort,
    // with many equal costs (a regular sphere) whose order must not depend on the threads.
    let ball = icosphere(5, 10.0);
    let opts = DecimateOptions::default().ratio(Some(0.1));
    let one = on(&ball, &opts, 1);
    assert!(one.0.triangles.len() <= ball.triangles.len() / 10 + 1);
    for threads in [2, 4] {
        assert_eq!(one, on(&ball, &opts, threads), "{threads} threads");
    }
}

#[test]
fn bad_options_and_empty_meshes_are_errors() {
    let m = icosphere(1, 1.0);
    let bad = [
        DecimateOptions::default(),
        DecimateOptions::default().ratio(Some(0.0)),
        DecimateOptions::default().ratio(Some(1.5)),
        DecimateOptions::default().ratio(Some(f64::NAN)),
        DecimateOptions::default().max_error_mm(Some(-1.0)),
        DecimateOptions::default().max_error_mm(Some(0.0)),
        DecimateOptions::default().ratio(Some(0.5)).min_quality(2.0),
    ];
    for o in bad {
        assert!(
            matches!(
                decimate(&m, &o, &NoProgress, &NeverCancel),
                Err(MeshError::InvalidOption(_))
            ),
            "{o:?}"
        );
    }
    let opts = DecimateOptions::default().ratio(Some(0.5));
    assert!(matches!(
        decimate(&Mesh::default(), &opts, &NoProgress, &NeverCancel),
        Err(MeshError::Empty)
    ));
}

#[test]
fn cancel_stops_with_an_error() {
    let m = icosphere(5, 10.0);
    let stop = std::sync::atomic::AtomicBool::new(true);
    let opts = DecimateOptions::default().ratio(Some(0.01));
    assert!(matches!(
        decimate(&m, &opts, &NoProgress, &stop),
        Err(MeshError::Cancelled)
    ));
}

#[test]
fn options_round_trip_through_json() {
    let o = DecimateOptions::default()
        .max_error_mm(Some(0.1))
        .ratio(Some(0.5))
        .lock_boundary(true);
    let s = serde_json::to_string(&o).unwrap();
    let back: DecimateOptions = serde_json::from_str(&s).unwrap();
    assert_eq!(o, back);
    let partial: DecimateOptions = serde_json::from_str(r#"{"ratio": 0.2}"#).unwrap();
    assert_eq!(partial, DecimateOptions::default().ratio(Some(0.2)));
}

/// Distance from `p` to triangle `t`, written independently of the crate's code: the
/// plane distance when the projection falls inside (barycentric signs), else the nearest
/// of the three edges.
fn brute_point_triangle(p: [f64; 3], t: [[f64; 3]; 3]) -> f64 {
    let sub = |a: [f64; 3], b: [f64; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let cross = |a: [f64; 3], b: [f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let seg = |a: [f64; 3], b: [f64; 3]| {
        let d = sub(b, a);
        let l2 = dot(d, d);
        let s = if l2 > 0.0 {
            (dot(sub(p, a), d) / l2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let q = [a[0] + s * d[0], a[1] + s * d[1], a[2] + s * d[2]];
        dot(sub(p, q), sub(p, q)).sqrt()
    };
    let n = cross(sub(t[1], t[0]), sub(t[2], t[0]));
    let nn = dot(n, n);
    if nn > 0.0 {
        let inside = (0..3).all(|i| {
            let (a, b) = (t[i], t[(i + 1) % 3]);
            dot(cross(sub(b, a), sub(p, a)), n) >= 0.0
        });
        if inside {
            return dot(sub(p, t[0]), n).abs() / nn.sqrt();
        }
    }
    seg(t[0], t[1]).min(seg(t[1], t[2])).min(seg(t[2], t[0]))
}

fn brute_distance(p: [f64; 3], m: &Mesh) -> f64 {
    (0..m.triangles.len())
        .map(|t| brute_point_triangle(p, m.corners(t).map(|c| c.as_dvec3().to_array())))
        .fold(f64::INFINITY, f64::min)
}

/// Every output point (vertices and a 12-fold grid on every triangle) within `e` of the
/// input and every input vertex within `e` of the output, by brute force over all
/// triangles, with no code of the crate involved.
fn assert_within_brute_force(input: &Mesh, out: &Mesh, e: f64) {
    let k = 12usize;
    let mut worst = 0.0f64;
    for t in 0..out.triangles.len() {
        let [a, b, c] = out.corners(t).map(|p| p.as_dvec3());
        for i in 0..=k {
            for j in 0..=k - i {
                let l = k - i - j;
                let p = (a * i as f64 + b * j as f64 + c * l as f64) / k as f64;
                worst = worst.max(brute_distance(p.to_array(), input));
            }
        }
    }
    assert!(worst <= e + 1e-9, "output → input {worst} > {e}");
    let back = input
        .positions
        .iter()
        .map(|p| brute_distance(p.as_dvec3().to_array(), out))
        .fold(0.0f64, f64::max);
    assert!(back <= e + 1e-9, "input → output {back} > {e}");
}

#[test]
fn error_bound_holds_by_brute_force_on_a_staircase_and_a_bumpy_ball() {
    // A terrace (the voxel staircase of CT meshes, steps 0.25 mm high, 1 mm wide) with a
    // slight tilt, open at its border.
    let terrace = grid(20, 10.0, |x, y| 0.25 * x.floor() + 0.02 * y);
    // A closed ball with bumps of ±0.15 mm.
    let ball = icosphere(3, 6.0).map_positions(|p| {
        let n = p.normalize();
        p + n * (0.15 * (3.0 * n.x).sin() * (4.0 * n.y).cos())
    });
    // A closed, gently curved and tilted shape (a flattened ellipsoid, off the axes): its
    // fans are height fields whose spread is below e, the case of the height-field bound.
    let lens = icosphere(3, 8.0).map_positions(|p| {
        let q = Vec3::new(p.x, p.y, 0.15 * p.z);
        Vec3::new(q.x + 0.3 * q.z, q.y, q.z - 0.2 * q.x) + Vec3::splat(100.3)
    });
    for (m, e) in [
        (&terrace, 0.05),
        (&terrace, 0.2),
        (&ball, 0.05),
        (&ball, 0.2),
        (&lens, 0.1),
    ] {
        let (out, rep) = run(m, &DecimateOptions::default().max_error_mm(Some(e)));
        assert!(
            out.triangles.len() < m.triangles.len(),
            "e = {e}: nothing decimated ({rep:?})"
        );
        assert_within_brute_force(m, &out, e);
        let r = report(&out).unwrap();
        assert!(r.manifold && r.oriented, "{r}");
        assert_eq!(r.self_intersecting_faces, Some(0), "{r}");
        assert_eq!(rep.genus_before, rep.genus_after);
    }
}

/// A hollow ball with a wall 0.1 mm thick: at 4 % the chords of each sphere sag far more
/// than the wall, so the two sheets cross unless the output is searched and decimated
/// again (no collapse brings them topologically close, so only the whole-output search can
/// see it).
#[test]
fn thin_shell_sheets_do_not_cross() {
    let outer = icosphere(4, 10.0);
    let inner = icosphere(4, 9.9);
    let mut m = outer.clone();
    let n = m.positions.len() as u32;
    m.positions.extend(&inner.positions);
    // Reversed: the inner sphere bounds the cavity, facing inwards.
    m.triangles.extend(
        inner
            .triangles
            .iter()
            .map(|t| [t[0] + n, t[2] + n, t[1] + n]),
    );
    let opts = DecimateOptions::default().ratio(Some(0.04));
    let (off, _) = run(&m, &opts.clone().prevent_self_intersections(false));
    assert!(
        !osteon_mesh::self_intersections(&off).is_empty(),
        "the unguarded result should cross, or this test proves nothing"
    );
    let (out, rep) = run(&m, &opts);
    assert!(rep.intersection_reruns >= 1, "{rep:?}");
    assert_eq!(rep.self_intersecting_faces, Some(0), "{rep:?}");
    assert!(osteon_mesh::self_intersections(&out).is_empty());
    let r = report(&out).unwrap();
    assert!(r.watertight && r.manifold, "{r}");
    assert_eq!(rep.genus_before, rep.genus_after);
}

/// Mean edge length of the triangles of `m` whose centroid `keep` accepts.
fn mean_edge(m: &Mesh, keep: impl Fn(Vec3) -> bool) -> f32 {
    let (mut sum, mut n) = (0.0, 0);
    for t in 0..m.triangles.len() {
        let [a, b, c] = m.corners(t);
        if keep((a + b + c) / 3.0) {
            sum += (a - b).length() + (b - c).length() + (c - a).length();
            n += 3;
        }
    }
    sum / n as f32
}

#[test]
fn halves_decimated_at_once_join_into_one_surface() {
    // 20 480 triangles: the ratio run decimates the two halves (x < 0 and x > 0: the
    // torus lies in the xy-plane, x its first longest axis) at once, then the whole.
    let m = torus(10.0, 3.0, 160, 64);
    let opts = DecimateOptions::default().ratio(Some(0.1));
    let (out, rep) = run(&m, &opts);
    let r = report(&out).unwrap();
    assert!(r.watertight && r.manifold && r.oriented && r.outward, "{r}");
    assert_eq!((r.genus, r.components), (Some(1), 1), "{r}");
    assert_eq!(r.degenerate_triangles, 0);
    assert_eq!(rep.self_intersecting_faces, Some(0), "{rep:?}");
    assert_eq!(rep.stopped_by, "target");
    assert!(out.triangles.len() <= m.triangles.len() / 10 + 1, "{rep:?}");
    assert!(rep.volume_change_pct.abs() < 2.0, "{rep:?}");
    // The band along the split, held while the halves ran, was decimated afterwards like
    // the rest (left at the input's resolution its edges would be a third as long).
    let near = mean_edge(&out, |c| c.x.abs() < 1.0);
    let all = mean_edge(&out, |_| true);
    assert!(
        near > 0.6 * all,
        "edges near the split {near} mm, all {all} mm"
    );
    // And the same on any thread count (the halves run on one thread or two).
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| run(&m, &opts));
    assert_eq!(one, (out, rep));
}

#[test]
fn split_run_with_one_ball_on_each_side() {
    // Two balls, one in each half: nothing crosses the split (an empty band).
    let ball = icosphere(5, 10.0);
    let mut m = ball.clone();
    m.append(&ball.map_positions(|p| p + Vec3::X * 30.0));
    let (out, rep) = run(&m, &DecimateOptions::default().target_triangles(Some(2000)));
    let r = report(&out).unwrap();
    assert!(r.watertight && r.manifold && r.outward, "{r}");
    assert_eq!((r.components, r.genus), (2, Some(0)), "{r}");
    assert!(out.triangles.len() <= 2001, "{rep:?}");
    // Both balls got their share.
    let left = out
        .triangles
        .iter()
        .filter(|t| out.positions[t[0] as usize].x < 15.0)
        .count();
    assert!(
        (900..=1100).contains(&left),
        "{left} of {}",
        out.triangles.len()
    );
}

#[test]
fn regions_kept_for_crossings_do_not_crush_the_rest() {
    // A thin shell that crosses itself when decimated (kept in place on the rerun) beside a
    // fine ball: the ball still gets its share of the target, not what is left of it once
    // the kept shell's triangles are counted.
    let outer = icosphere(3, 2.0);
    let inner = icosphere(3, 1.98);
    let ball = icosphere(5, 10.0);
    let mut m = outer.clone();
    // Reversed: the inner sphere bounds the cavity, facing inwards.
    m.append(&inner.flipped());
    m.append(&ball.map_positions(|p| p + Vec3::X * 30.0));
    let opts = DecimateOptions::default().ratio(Some(0.05));
    let (out, rep) = run(&m, &opts);
    assert!(rep.intersection_reruns >= 1, "{rep:?}");
    assert_eq!(rep.self_intersecting_faces, Some(0), "{rep:?}");
    let on_ball = out
        .triangles
        .iter()
        .filter(|t| out.positions[t[0] as usize].x > 15.0)
        .count();
    // 5 % of the ball's 20 480 triangles is 1 024.
    assert!(on_ball >= 800, "the ball kept {on_ball} triangles: {rep:?}");
    let r = report(&out).unwrap();
    assert!(r.watertight && r.manifold, "{r}");
    // Counting the kept triangles inside the target crushed the ball to 4 triangles (−95 %
    // of the volume).
    assert!(rep.volume_change_pct.abs() < 10.0, "{rep:?}");
}
