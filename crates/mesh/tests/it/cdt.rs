//! Constrained Delaunay triangulation against brute force: every constraint present, every
//! unconstrained edge locally Delaunay, area equal to the domain's, counter-clockwise.

use std::collections::HashMap;

use osteon_geom::Lcg;
use osteon_mesh::cdt::{triangulate, CdtError, Domain};
use robust::{incircle, orient2d, Coord};

fn c(p: [f64; 2]) -> Coord<f64> {
    Coord { x: p[0], y: p[1] }
}

fn area(p: &[[f64; 2]], t: &[[u32; 3]]) -> f64 {
    t.iter()
        .map(|t| {
            let [a, b, d] = t.map(|i| p[i as usize]);
            0.5 * ((b[0] - a[0]) * (d[1] - a[1]) - (b[1] - a[1]) * (d[0] - a[0]))
        })
        .sum()
}

fn polygon_area(p: &[[f64; 2]], lp: &[u32]) -> f64 {
    let n = lp.len();
    (0..n)
        .map(|i| {
            let (a, b) = (p[lp[i] as usize], p[lp[(i + 1) % n] as usize]);
            0.5 * (a[0] * b[1] - b[0] * a[1])
        })
        .sum()
}

/// Convex hull area by brute force (every pair of points whose line has all others on one
/// side is a hull edge).
fn hull_area(p: &[[f64; 2]]) -> f64 {
    let mut a = 0.0;
    for i in 0..p.len() {
        for j in 0..p.len() {
            if i == j || p[i] == p[j] {
                continue;
            }
            let all_left = (0..p.len()).all(|k| orient2d(c(p[i]), c(p[j]), c(p[k])) >= 0.0);
            // Collinear points on a hull side: count only the maximal edge.
            let maximal = (0..p.len()).all(|k| {
                orient2d(c(p[i]), c(p[j]), c(p[k])) != 0.0 || {
                    let d = |q: [f64; 2]| {
                        (q[0] - p[i][0]) * (p[j][0] - p[i][0])
                            + (q[1] - p[i][1]) * (p[j][1] - p[i][1])
                    };
                    d(p[k]) >= 0.0 && d(p[k]) <= d(p[j])
                }
            });
            if all_left && maximal {
                a += 0.5 * (p[i][0] * p[j][1] - p[j][0] * p[i][1]);
            }
        }
    }
    a
}

/// Checks the triangulation: CCW, constraints covered (as chains of collinear edges),
/// unconstrained interior edges locally Delaunay.
fn check(p: &[[f64; 2]], cons: &[[u32; 2]], t: &[[u32; 3]]) {
    let mut edges: HashMap<(u32, u32), u32> = HashMap::new();
    for (k, tri) in t.iter().enumerate() {
        let [a, b, d] = tri.map(|i| c(p[i as usize]));
        assert!(
            orient2d(a, b, d) > 0.0,
            "triangle {tri:?} not counter-clockwise"
        );
        for e in 0..3 {
            assert!(
                edges.insert((tri[e], tri[(e + 1) % 3]), k as u32).is_none(),
                "edge twice"
            );
        }
    }
    // Constrained pieces: edges lying on a constraint segment.
    let on_constraint = |u: u32, v: u32| {
        cons.iter().any(|s| {
            let (a, b) = (p[s[0] as usize], p[s[1] as usize]);
            let (pu, pv) = (p[u as usize], p[v as usize]);
            let inside = |q: [f64; 2]| {
                orient2d(c(a), c(b), c(q)) == 0.0
                    && q[0] >= a[0].min(b[0])
                    && q[0] <= a[0].max(b[0])
                    && q[1] >= a[1].min(b[1])
                    && q[1] <= a[1].max(b[1])
            };
            inside(pu) && inside(pv)
        })
    };
    for s in cons {
        // The segment is covered: total length of edges on it equals its length.
        let (a, b) = (p[s[0] as usize], p[s[1] as usize]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let mut covered = 0.0;
        for &(u, v) in edges.keys() {
            if u < v || !edges.contains_key(&(v, u)) {
                let on = {
                    let on_seg = |q: [f64; 2]| {
                        orient2d(c(a), c(b), c(q)) == 0.0
                            && q[0] >= a[0].min(b[0])
                            && q[0] <= a[0].max(b[0])
                            && q[1] >= a[1].min(b[1])
                            && q[1] <= a[1].max(b[1])
                    };
                    on_seg(p[u as usize]) && on_seg(p[v as usize])
                };
                if on {
                    let (pu, pv) = (p[u as usize], p[v as usize]);
                    covered += ((pv[0] - pu[0]).powi(2) + (pv[1] - pu[1]).powi(2)).sqrt();
                }
            }
        }
        assert!(
            (covered - len).abs() <= 1e-9 * len,
            "constraint {s:?} covered {covered} of {len}"
        );
    }
    for (&(u, v), &k) in &edges {
        if let Some(&m) = edges.get(&(v, u)) {
            if on_constraint(u, v) {
                continue;
            }
            let tk = t[k as usize];
            let opp = t[m as usize]
                .iter()
                .copied()
                .find(|&x| x != u && x != v)
                .unwrap();
            let [a, b, d] = tk.map(|i| c(p[i as usize]));
            assert!(
                incircle(a, b, d, c(p[opp as usize])) <= 0.0,
                "edge ({u}, {v}) not locally Delaunay"
            );
        }
    }
}

#[test]
fn random_points_delaunay_and_hull() {
    let mut g = Lcg::new(3);
    for round in 0..30 {
        let n = 3 + round * 3;
        let mut p: Vec<[f64; 2]> = (0..n).map(|_| [g.next_f64(), g.next_f64()]).collect();
        if round % 3 == 0 {
            // Grid points: many collinear and cocircular quadruples.
            for q in &mut p {
                *q = [(q[0] * 5.0).round(), (q[1] * 5.0).round()];
            }
        }
        let t = match triangulate(&p, &[], Domain::Hull) {
            Ok(t) => t,
            Err(CdtError::Degenerate) => continue,
            Err(e) => panic!("{e}"),
        };
        check(&p, &[], &t);
        let mut unique = p.clone();
        unique.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
        unique.dedup();
        let want = hull_area(&unique);
        assert!(
            (area(&p, &t) - want).abs() < 1e-9,
            "round {round}: {} vs {want}",
            area(&p, &t)
        );
    }
}

#[test]
fn polygon_with_chords_and_inner_points() {
    let mut g = Lcg::new(11);
    for round in 0..40 {
        // A star-shaped polygon (random radii), points inside, chords from a centre.
        let m = 5 + round % 17;
        let mut p: Vec<[f64; 2]> = (0..m)
            .map(|i| {
                let a = i as f64 / m as f64 * std::f64::consts::TAU;
                let r = 0.5 + g.next_f64();
                [r * a.cos(), r * a.sin()]
            })
            .collect();
        let ring: Vec<u32> = (0..m as u32).collect();
        let mut cons: Vec<[u32; 2]> = (0..m as u32).map(|i| [i, (i + 1) % m as u32]).collect();
        let centre = p.len() as u32;
        p.push([0.0, 0.0]);
        for i in (0..m as u32).step_by(3) {
            cons.push([centre, i]);
        }
        for _ in 0..round {
            let a = g.next_f64() * std::f64::consts::TAU;
            let r = 0.45 * g.next_f64();
            p.push([r * a.cos(), r * a.sin()]);
        }
        let t = triangulate(&p, &cons, Domain::Enclosed).unwrap();
        check(&p, &cons, &t);
        let want = polygon_area(&p, &ring);
        assert!((area(&p, &t) - want).abs() < 1e-9 * want, "round {round}");
    }
}

#[test]
fn points_on_constraints_and_holes() {
    // A square with points on its sides (collinear boundary), a square hole, and a
    // constraint passing exactly through an input point.
    let p = vec![
        [0.0, 0.0],
        [4.0, 0.0],
        [4.0, 4.0],
        [0.0, 4.0],
        [2.0, 0.0], // on the bottom side
        [4.0, 2.0], // on the right side
        [1.0, 1.0],
        [3.0, 1.0],
        [3.0, 3.0],
        [1.0, 3.0],
        [0.5, 2.0],
        [0.25, 3.0], // on the segment 10-3
    ];
    let cons = vec![
        [0, 1],
        [1, 2],
        [2, 3],
        [3, 0],
        [6, 9],
        [9, 8],
        [8, 7],
        [7, 6],
        [10, 3], // passes exactly through point 11: split there
        [0, 6],
        [4, 5],
    ];
    let t = triangulate(&p, &cons, Domain::Enclosed).unwrap();
    assert!(t.iter().any(|t| t.contains(&11) && t.contains(&3)));
    check(&p, &cons, &t);
    // Square minus hole.
    assert!((area(&p, &t) - (16.0 - 4.0)).abs() < 1e-12);
}

#[test]
fn crossing_constraints_and_bad_input_are_errors() {
    let p = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    assert!(matches!(
        triangulate(&p, &[[0, 2], [1, 3]], Domain::Hull),
        Err(CdtError::Crossing(..))
    ));
    assert!(matches!(
        triangulate(
            &[[0.0, f64::NAN], [1.0, 0.0], [0.0, 1.0]],
            &[],
            Domain::Hull
        ),
        Err(CdtError::NonFinite(0))
    ));
    assert!(matches!(
        triangulate(&p, &[[0, 7]], Domain::Hull),
        Err(CdtError::BadConstraint(0))
    ));
    assert!(matches!(
        triangulate(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], &[], Domain::Hull),
        Err(CdtError::Degenerate)
    ));
    // Duplicates are merged.
    let q = vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]];
    let t = triangulate(&q, &[[3, 2]], Domain::Hull).unwrap();
    assert_eq!(t.len(), 1);
    assert!(t[0].contains(&1) && !t[0].contains(&3));
}
