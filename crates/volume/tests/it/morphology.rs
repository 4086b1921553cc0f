//! Closing and cavity filling.

use osteon_volume::{close, fill_cavities, Grid, Volume, VolumeError};
use proptest::prelude::*;

use crate::support::{ball, brute_close, count, mask};

#[test]
fn hollow_sphere_becomes_a_solid_ball() {
    let (d, c) = ([21, 21, 21], [10.0, 10.0, 10.0]);
    let solid = ball(d, c, 8.0);
    let inner = ball(d, c, 6.0);
    let shell = Volume::new(
        solid.grid.clone(),
        solid
            .data
            .iter()
            .zip(&inner.data)
            .map(|(&a, &b)| a & !b & 1)
            .collect(),
    )
    .unwrap();
    assert!(count(&shell) < count(&solid));
    let filled = fill_cavities(&shell).unwrap();
    assert_eq!(filled, solid);
    assert_eq!(count(&filled), count(&solid));
}

#[test]
fn a_shell_closed_only_through_edges_still_encloses() {
    // A diamond (L1 sphere) surface is 26-connected but leaks in 6-connectivity only if
    // background were 26-connected; with 6-connected background its inside is a cavity.
    let d = [11, 11, 11];
    let l1 = |i: usize, j: usize, k: usize| {
        (i as i64 - 5).abs() + (j as i64 - 5).abs() + (k as i64 - 5).abs()
    };
    let shell = mask(d, [1.0; 3], |i, j, k| l1(i, j, k) == 4);
    let filled = fill_cavities(&shell).unwrap();
    assert_eq!(filled, mask(d, [1.0; 3], |i, j, k| l1(i, j, k) <= 4));
}

#[test]
fn c_shape_open_to_the_border_is_not_filled() {
    let d = [9, 9, 9];
    let r = |lo: usize, hi: usize, v: usize| (lo..hi).contains(&v);
    // A box wall whose hollow runs down to the border slice k = 0.
    let open = mask(d, [1.0; 3], |i, j, k| {
        r(1, 8, i) && r(1, 8, j) && k < 8 && !(r(2, 7, i) && r(2, 7, j) && k < 7)
    });
    assert_eq!(fill_cavities(&open).unwrap(), open);
    // The same box closed on every side: its 5×5×5 hollow is filled.
    let closed = |i: usize, j: usize, k: usize| {
        r(1, 8, i) && r(1, 8, j) && r(1, 8, k) && !(r(2, 7, i) && r(2, 7, j) && r(2, 7, k))
    };
    let shut = mask(d, [1.0; 3], closed);
    let filled = fill_cavities(&shut).unwrap();
    assert_eq!(count(&filled), count(&shut) + 125);
    assert_eq!(
        filled,
        mask(d, [1.0; 3], |i, j, k| r(1, 8, i)
            && r(1, 8, j)
            && r(1, 8, k))
    );
    // One missing voxel in the lid makes it leak: nothing is filled.
    let leaky = mask(d, [1.0; 3], |i, j, k| {
        closed(i, j, k) && (i, j, k) != (4, 4, 7)
    });
    assert_eq!(fill_cavities(&leaky).unwrap(), leaky);
}

/// Two 3×3×3 blocks with a gap of two voxels between them along x.
fn two_blocks(spacing: [f64; 3]) -> Volume<u8> {
    mask([14, 7, 7], spacing, |i, j, k| {
        (2..5).contains(&j) && (2..5).contains(&k) && ((2..5).contains(&i) || (7..10).contains(&i))
    })
}

#[test]
fn closing_joins_blocks_two_voxels_apart() {
    let m = two_blocks([1.0; 3]);
    let joined = close(&m, 1.5).unwrap();
    // The gap (i = 5, 6) is filled across the 3×3 faces except at their four corners, where
    // the 1.5 mm ball (face and edge neighbours) does not fit.
    assert_eq!(count(&joined), count(&m) + 2 * 5);
    assert_eq!(
        crate::support::bfs_components(&joined, osteon_volume::Connectivity::C6)
            .1
            .len(),
        1
    );
    assert_eq!(close(&m, 0.5).unwrap(), m);
    assert_eq!(close(&m, 0.0).unwrap(), m);
    assert_eq!(joined.data, brute_close(&m, 1.5));
}

#[test]
fn closing_respects_anisotropic_spacing() {
    // Gap of 2 voxels along x at 2 mm spacing = 4 mm: close(1.5) does not bridge it, but at
    // 0.5 mm spacing along x the same voxel gap is 1 mm and close(1.0) does.
    let coarse = two_blocks([2.0, 1.0, 1.0]);
    assert_eq!(close(&coarse, 1.5).unwrap(), coarse);
    assert_eq!(close(&coarse, 1.5).unwrap().data, brute_close(&coarse, 1.5));
    let fine = two_blocks([0.5, 1.0, 1.0]);
    let joined = close(&fine, 1.0).unwrap();
    assert!(joined.get(5, 3, 3) == 1 && joined.get(6, 3, 3) == 1);
    assert_eq!(joined.data, brute_close(&fine, 1.0));
}

#[test]
fn closing_with_a_wide_window_uses_the_lower_envelope_and_agrees() {
    // 0.1 mm along x: the ball reaches 15 voxels that way, beyond the direct window.
    for spacing in [[0.1, 1.0, 1.0], [1.0, 0.1, 1.0], [1.0, 1.0, 0.1]] {
        let m = mask([9, 7, 7], spacing, |i, j, k| {
            (i * 3 + j * 5 + k * 7) % 11 < 3
        });
        assert_eq!(
            close(&m, 1.5).unwrap().data,
            brute_close(&m, 1.5),
            "{spacing:?}"
        );
    }
}

#[test]
fn closing_keeps_a_ball_the_same_ball() {
    let b = ball([25, 25, 25], [12.0, 12.0, 12.0], 8.0);
    for r in [1.0, 1.5, 2.0, 3.0] {
        assert_eq!(close(&b, r).unwrap(), b, "r = {r}");
    }
}

#[test]
fn closing_never_erodes_at_the_border() {
    // A slab filling the first three x-layers, touching five faces of the grid.
    let m = mask([6, 5, 5], [1.0; 3], |i, _, _| i < 3);
    assert_eq!(close(&m, 2.0).unwrap(), m);
    // The whole volume stays whole.
    let full = mask([4, 4, 4], [0.7, 1.0, 1.3], |_, _, _| true);
    assert_eq!(close(&full, 3.0).unwrap(), full);
    // A notch in the border face is filled, as in the unbounded closing.
    let notched = mask([8, 8, 8], [1.0; 3], |i, j, k| {
        k < 4 && !(i == 4 && j == 4 && k == 0)
    });
    let closed = close(&notched, 1.5).unwrap();
    assert_eq!(closed.data, brute_close(&notched, 1.5));
    assert_eq!(closed.get(4, 4, 0), 1);
}

#[test]
fn closing_refuses_bad_radii() {
    let m = mask([3, 3, 3], [1.0; 3], |_, _, _| true);
    for r in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(close(&m, r), Err(VolumeError::InvalidOption(_))),
            "{r}"
        );
    }
    let empty = mask([3, 3, 3], [1.0; 3], |_, _, _| false);
    assert_eq!(close(&empty, 2.0).unwrap(), empty);
}

fn arb_case() -> impl Strategy<Value = (Volume<u8>, f64)> {
    (
        [1usize..7, 1usize..7, 1usize..7],
        [0.5f64..2.0, 0.5f64..2.0, 0.5f64..2.0],
        0.05f64..0.5,
        0.0f64..2.5,
    )
        .prop_flat_map(|(dims, spacing, density, r)| {
            let n = dims[0] * dims[1] * dims[2];
            proptest::collection::vec(proptest::bool::weighted(density), n).prop_map(move |bits| {
                let m = Volume::new(
                    Grid::new(dims, spacing),
                    bits.into_iter().map(u8::from).collect(),
                )
                .unwrap();
                (m, r)
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn closing_matches_brute_force((m, r) in arb_case()) {
        let fast = close(&m, r).unwrap();
        prop_assert_eq!(&fast.data, &brute_close(&m, r));
        // Extensive and idempotent.
        prop_assert!(fast.data.iter().zip(&m.data).all(|(&c, &i)| c >= i));
        prop_assert_eq!(close(&fast, r).unwrap(), fast);
    }

    #[test]
    fn cavity_fill_matches_flood_from_the_border(m in arb_case().prop_map(|(m, _)| m)) {
        let filled = fill_cavities(&m).unwrap();
        // Oracle: background reachable (6-conn) from the border stays 0, the rest is 1.
        let d = m.grid.dims;
        let mut outside = vec![false; m.data.len()];
        let mut stack: Vec<usize> = (0..m.data.len())
            .filter(|&p| {
                let (i, j, k) = (p % d[0], (p / d[0]) % d[1], p / (d[0] * d[1]));
                m.data[p] == 0
                    && (i == 0 || j == 0 || k == 0 || i + 1 == d[0] || j + 1 == d[1] || k + 1 == d[2])
            })
            .collect();
        for &p in &stack {
            outside[p] = true;
        }
        while let Some(p) = stack.pop() {
            let (i, j, k) = (p % d[0], (p / d[0]) % d[1], p / (d[0] * d[1]));
            let mut nb = Vec::new();
            if i > 0 { nb.push(p - 1) }
            if i + 1 < d[0] { nb.push(p + 1) }
            if j > 0 { nb.push(p - d[0]) }
            if j + 1 < d[1] { nb.push(p + d[0]) }
            if k > 0 { nb.push(p - d[0] * d[1]) }
            if k + 1 < d[2] { nb.push(p + d[0] * d[1]) }
            for q in nb {
                if m.data[q] == 0 && !outside[q] {
                    outside[q] = true;
                    stack.push(q);
                }
            }
        }
        let expected: Vec<u8> = outside.iter().map(|&o| u8::from(!o)).collect();
        prop_assert_eq!(filled.data, expected);
    }
}
