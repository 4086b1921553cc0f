//! Same input → byte-identical mesh, whatever the thread count or slab size.

use crate::check::mask;
use osteon_geom::{NeverCancel, NoProgress};
use osteon_iso::{extract_mask, ExtractOptions};

#[test]
fn thread_count_and_slabs_do_not_change_the_output() {
    // Deterministic pseudo-random blobs and shells touching the borders.
    let v = mask([70, 61, 53], |i, j, k| {
        let (x, y, z) = (i as f64, j as f64, k as f64);
        let shell = ((x - 30.0).powi(2) + (y - 30.0).powi(2) + (z - 26.0).powi(2)).sqrt();
        let h = (i * 7919 + j * 104729 + k * 1299709) % 97;
        (shell > 18.0 && shell < 23.0) || h < 3 || (x > 60.0 && z < 10.0)
    });
    let run = |threads: usize, opts: ExtractOptions| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| extract_mask(&v, &opts, &NoProgress, &NeverCancel).unwrap())
    };
    let (one, r1) = run(1, ExtractOptions::default());
    let (two, r2) = run(2, ExtractOptions::default());
    let (four, _) = run(4, ExtractOptions::default().with_slab_cells(1));
    let (big, _) = run(2, ExtractOptions::default().with_slab_cells(1000));
    assert_eq!(r1, r2);
    assert!(one == two && one == four && one == big);
    crate::check::check(&one);
}
