//! Connected components and keep modes.

use osteon_volume::{
    keep_components, label_components, Connectivity, Grid, Keep, Volume, VolumeError,
};
use proptest::prelude::*;

use crate::support::{bfs_components, count, mask, with_threads};

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

/// `mask` → expected component sizes (in label order) for 26 and 6 connectivity.
fn check(m: &Volume<u8>, c26: &[u64], c6: &[u64]) {
    for (conn, expected) in [(Connectivity::C26, c26), (Connectivity::C6, c6)] {
        let c = label_components(m, conn).unwrap();
        assert_eq!(c.sizes, expected, "{conn:?}");
        assert_eq!(c.count(), expected.len());
        let (labels, sizes) = bfs_components(m, conn);
        assert_eq!(
            c.labels, labels,
            "{conn:?}: labels differ from the BFS oracle"
        );
        assert_eq!(c.sizes, sizes);
    }
}

fn cube(lo: [usize; 3], n: usize) -> impl Fn(usize, usize, usize) -> bool {
    move |i, j, k| {
        (lo[0]..lo[0] + n).contains(&i)
            && (lo[1]..lo[1] + n).contains(&j)
            && (lo[2]..lo[2] + n).contains(&k)
    }
}

#[test]
fn cubes_touching_at_an_edge_or_corner() {
    let d = [8, 8, 8];
    // Corner contact: (1..3)³ and (3..5)³.
    let (a, b) = (cube([1, 1, 1], 2), cube([3, 3, 3], 2));
    check(
        &mask(d, [1.0; 3], |i, j, k| a(i, j, k) || b(i, j, k)),
        &[16],
        &[8, 8],
    );
    // Edge contact: shifted along x and y, same z.
    let (a, b) = (cube([1, 1, 1], 2), cube([3, 3, 1], 2));
    check(
        &mask(d, [1.0; 3], |i, j, k| a(i, j, k) || b(i, j, k)),
        &[16],
        &[8, 8],
    );
    // Face contact: one component either way.
    let (a, b) = (cube([1, 1, 1], 2), cube([3, 1, 1], 2));
    check(
        &mask(d, [1.0; 3], |i, j, k| a(i, j, k) || b(i, j, k)),
        &[16],
        &[16],
    );
    // One voxel apart: two components either way; sizes in raster order of first voxel.
    let (a, b) = (cube([4, 0, 0], 3), cube([0, 0, 4], 2));
    check(
        &mask(d, [1.0; 3], |i, j, k| a(i, j, k) || b(i, j, k)),
        &[27, 8],
        &[27, 8],
    );
    // Empty and full.
    check(&mask(d, [1.0; 3], |_, _, _| false), &[], &[]);
    check(&mask(d, [1.0; 3], |_, _, _| true), &[512], &[512]);
    // A diagonal line of voxels: 1 component (26) or n (6).
    check(
        &mask([5, 5, 5], [1.0; 3], |i, j, k| i == j && j == k),
        &[5],
        &[1; 5],
    );
}

#[test]
fn labels_are_the_same_for_one_and_two_threads() {
    // A ragged pattern over many slices so that several z-slabs and merges happen.
    let m = mask([37, 23, 61], [1.0; 3], |i, j, k| {
        (i * 7 + j * 13 + k * 5) % 11 < 4 || (i + k) % 9 == 0
    });
    let one = with_threads(1, || label_components(&m, Connectivity::C26).unwrap());
    let two = with_threads(2, || label_components(&m, Connectivity::C26).unwrap());
    let four = with_threads(4, || label_components(&m, Connectivity::C6).unwrap());
    let one6 = with_threads(1, || label_components(&m, Connectivity::C6).unwrap());
    assert_eq!(one, two);
    assert_eq!(one6, four);
    assert_eq!(one.labels, bfs_components(&m, Connectivity::C26).0);
    assert_eq!(one6.labels, bfs_components(&m, Connectivity::C6).0);
    let k1 = with_threads(1, || {
        keep_components(&m, Connectivity::C26, &Keep::NLargest(3))
    });
    let k2 = with_threads(2, || {
        keep_components(&m, Connectivity::C26, &Keep::NLargest(3))
    });
    assert_eq!(k1.unwrap(), k2.unwrap());
}

/// Three separated blocks of 1, 8 and 27 voxels, plus a 4-voxel bar, in raster order
/// [27, 1, 4, 8] (first voxels at k = 0, 0, 4, 6).
fn blocks(spacing: [f64; 3]) -> Volume<u8> {
    let (a, b, c) = (cube([0, 0, 0], 3), cube([6, 0, 0], 1), cube([0, 0, 6], 2));
    mask([8, 8, 8], spacing, move |i, j, k| {
        a(i, j, k) || b(i, j, k) || c(i, j, k) || (k == 4 && j == 5 && i < 4)
    })
}

/// (keep, voxel spacing, kept sizes largest first, largest dropped)
type Case = (Keep, [f64; 3], &'static [u64], Option<u64>);

#[test]
fn keep_modes() {
    // (keep, voxel spacing, kept sizes largest first, largest dropped)
    let aniso = [0.5, 1.0, 2.0]; // 1 mm³ per voxel
    let small = [0.5, 0.5, 0.5]; // 0.125 mm³ per voxel
    let cases: [Case; 9] = [
        (Keep::All, [1.0; 3], &[27, 8, 4, 1], None),
        (Keep::Largest, [1.0; 3], &[27], Some(8)),
        (Keep::NLargest(2), [1.0; 3], &[27, 8], Some(4)),
        (Keep::NLargest(10), [1.0; 3], &[27, 8, 4, 1], None),
        (Keep::MinVolume(4.0), aniso, &[27, 8, 4], Some(1)),
        (Keep::MinVolume(4.5), aniso, &[27, 8], Some(4)),
        (Keep::MinVolume(1.0), small, &[27, 8], Some(4)),
        (Keep::MinVolume(3.375), small, &[27], Some(8)),
        (Keep::MinVolume(3.4), small, &[], Some(27)),
    ];
    for (keep, spacing, kept, dropped) in cases {
        let m = blocks(spacing);
        let (out, stats) = keep_components(&m, Connectivity::C26, &keep).unwrap();
        assert_eq!(stats.components_found, 4);
        assert_eq!(stats.kept_voxels, kept, "{keep}");
        assert_eq!(stats.largest_dropped_voxels, dropped, "{keep}");
        assert_eq!(count(&out) as u64, kept.iter().sum::<u64>(), "{keep}");
        assert!(out.data.iter().all(|&v| v <= 1));
        // Every kept voxel was in the input.
        assert!(out
            .data
            .iter()
            .zip(&m.data)
            .all(|(&o, &i)| o == 0 || i != 0));
    }
    // Largest keeps the right one: the 3³ block at the origin.
    let (out, _) = keep_components(&blocks([1.0; 3]), Connectivity::C26, &Keep::Largest).unwrap();
    assert_eq!(out.get(1, 1, 1), 1);
    assert_eq!(out.get(6, 0, 0), 0);
}

#[test]
fn ties_keep_raster_order() {
    let m = mask([7, 1, 1], [1.0; 3], |i, _, _| i % 2 == 0);
    let (out, stats) = keep_components(&m, Connectivity::C26, &Keep::NLargest(2)).unwrap();
    assert_eq!(out.data, vec![1, 0, 1, 0, 0, 0, 0]);
    assert_eq!(stats.kept_voxels, vec![1, 1]);
}

#[test]
fn keep_parses_and_validates() {
    let ok = [
        ("all", Keep::All),
        ("Largest", Keep::Largest),
        ("3-largest", Keep::NLargest(3)),
        ("3", Keep::NLargest(3)),
        ("1-largest", Keep::NLargest(1)),
        ("min-volume:50", Keep::MinVolume(50.0)),
        ("min-volume=0.5", Keep::MinVolume(0.5)),
        ("min-volume:0", Keep::MinVolume(0.0)),
    ];
    for (text, keep) in ok {
        assert_eq!(text.parse::<Keep>().unwrap(), keep, "{text}");
        assert_eq!(keep.to_string().parse::<Keep>().unwrap(), keep);
        let json = serde_json::to_string(&keep).unwrap();
        assert_eq!(serde_json::from_str::<Keep>(&json).unwrap(), keep);
    }
    assert_eq!(
        serde_json::to_string(&Keep::NLargest(3)).unwrap(),
        r#"{"n-largest":3}"#
    );
    for bad in [
        "",
        "0",
        "0-largest",
        "-1",
        "largest-3",
        "min-volume:-1",
        "min-volume:nan",
        "some",
    ] {
        assert!(
            matches!(bad.parse::<Keep>(), Err(VolumeError::InvalidOption(_))),
            "{bad:?}"
        );
    }
    let m = mask([2, 2, 2], [1.0; 3], |_, _, _| true);
    for bad in [
        Keep::NLargest(0),
        Keep::MinVolume(-1.0),
        Keep::MinVolume(f64::NAN),
    ] {
        assert!(matches!(
            keep_components(&m, Connectivity::C26, &bad),
            Err(VolumeError::InvalidOption(_))
        ));
    }
}

#[test]
fn grid_of_one_voxel_and_thin_grids() {
    for dims in [[1, 1, 1], [1, 1, 9], [9, 1, 1], [1, 9, 1], [3, 1, 5]] {
        let m = mask(dims, [1.0; 3], |i, j, k| (i + j + k) % 2 == 0);
        check_oracle(&m);
    }
}

fn check_oracle(m: &Volume<u8>) {
    for conn in [Connectivity::C26, Connectivity::C6] {
        let c = label_components(m, conn).unwrap();
        let (labels, sizes) = bfs_components(m, conn);
        assert_eq!(c.labels, labels, "{conn:?} {:?}", m.grid.dims);
        assert_eq!(sorted(c.sizes), sorted(sizes));
    }
}

fn arb_mask() -> impl Strategy<Value = Volume<u8>> {
    ([1usize..9, 1usize..9, 1usize..9], 0.1f64..0.7).prop_flat_map(|(dims, density)| {
        let n = dims[0] * dims[1] * dims[2];
        proptest::collection::vec(proptest::bool::weighted(density), n).prop_map(move |bits| {
            Volume::new(
                Grid::new(dims, [1.0; 3]),
                bits.into_iter().map(u8::from).collect(),
            )
            .unwrap()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn components_match_bfs(m in arb_mask()) {
        check_oracle(&m);
    }
}
