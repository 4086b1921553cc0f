//! Exact Euclidean distance transform against brute force.

use osteon_volume::{distance_transform, Grid, Volume};
use proptest::prelude::*;

use crate::support::{brute_edt, mask, with_threads};

fn check(m: &Volume<u8>) {
    let fast = distance_transform(m).unwrap();
    let slow = brute_edt(m);
    assert_eq!(fast.grid, m.grid);
    for (p, (&a, &b)) in fast.data.iter().zip(&slow).enumerate() {
        if b.is_infinite() {
            assert!(a.is_infinite(), "voxel {p}: {a} vs inf");
        } else {
            assert!((a - b).abs() <= 1e-9 * b.max(1.0), "voxel {p}: {a} vs {b}");
        }
    }
}

#[test]
fn single_voxel_and_empty() {
    let m = mask([5, 4, 3], [0.5, 1.0, 2.5], |i, j, k| (i, j, k) == (1, 2, 0));
    let d = distance_transform(&m).unwrap();
    assert_eq!(d.get(1, 2, 0), 0.0);
    assert_eq!(d.get(4, 0, 2), (3.0f64 * 0.5).powi(2) + 4.0 + 25.0);
    check(&m);
    let empty = mask([3, 3, 3], [1.0; 3], |_, _, _| false);
    assert!(distance_transform(&empty)
        .unwrap()
        .data
        .iter()
        .all(|v| v.is_infinite()));
    let full = mask([3, 3, 3], [1.0; 3], |_, _, _| true);
    assert!(distance_transform(&full)
        .unwrap()
        .data
        .iter()
        .all(|&v| v == 0.0));
}

#[test]
fn wide_volume_uses_several_tiles_and_threads() {
    // nx > 32 so the y and z passes split lines into tiles; same answer on 1 and 2 threads.
    let m = mask([70, 9, 11], [0.7, 1.3, 0.9], |i, j, k| {
        (i * 31 + j * 7 + k * 3) % 97 == 0
    });
    check(&m);
    let a = with_threads(1, || distance_transform(&m).unwrap());
    let b = with_threads(2, || distance_transform(&m).unwrap());
    assert_eq!(a, b);
}

fn arb_case() -> impl Strategy<Value = Volume<u8>> {
    (
        [1usize..10, 1usize..10, 1usize..10],
        [0.2f64..3.0, 0.2f64..3.0, 0.2f64..3.0],
        0.0f64..0.3,
    )
        .prop_flat_map(|(dims, spacing, density)| {
            let n = dims[0] * dims[1] * dims[2];
            proptest::collection::vec(proptest::bool::weighted(density), n).prop_map(move |bits| {
                Volume::new(
                    Grid::new(dims, spacing),
                    bits.into_iter().map(u8::from).collect(),
                )
                .unwrap()
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn edt_matches_brute_force(m in arb_case()) {
        check(&m);
    }
}
