//! Helpers shared by the test modules: the public meshes and an independent closedness count.

use osteon_mesh::Mesh;

/// `../shared/scans/meshes` beside the checkout.
fn meshes_dir() -> std::path::PathBuf {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scans/meshes").into()
}

/// A public mesh by file name.
pub fn read(name: &str) -> Mesh {
    osteon_io::read_mesh(&meshes_dir().join(name)).expect("public mesh reads")
}

/// Closed and consistently oriented by a count independent of the crate's topology code:
/// every directed edge appears once and its reverse once.
pub fn assert_directed_edges_paired(m: &Mesh, what: &str) {
    let mut directed: Vec<(u32, u32)> = m
        .triangles
        .iter()
        .flat_map(|t| (0..3).map(move |k| (t[k], t[(k + 1) % 3])))
        .collect();
    directed.sort_unstable();
    assert!(
        directed.windows(2).all(|w| w[0] != w[1]),
        "{what}: a directed edge twice"
    );
    for &(a, b) in &directed {
        assert!(
            directed.binary_search(&(b, a)).is_ok(),
            "{what}: edge {a}-{b} open"
        );
    }
}
