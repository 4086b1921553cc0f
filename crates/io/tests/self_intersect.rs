//! Self-intersections of the public meshes in `shared/scans/meshes`, against the counts in
//! its README (made with another tool): the face counts agree exactly.

use std::path::Path;

use osteon_io::read_mesh;
use osteon_mesh::{report, self_intersections, Mesh};

const MESHES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scans/meshes");

fn read(name: &str) -> Mesh {
    read_mesh(&Path::new(MESHES).join(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// `file` has `expected` self-intersecting faces (`readme` in the README).
fn check(file: &str, expected: usize, readme: usize) {
    let m = read(file);
    let s = self_intersections(&m);
    println!(
        "{file}: {} faces in {} pairs (README: {readme})",
        s.faces.len(),
        s.pairs
    );
    assert_eq!(s.faces.len(), expected, "{file}");
    assert!(s.faces.windows(2).all(|w| w[0] < w[1]));
    assert!(s
        .faces
        .last()
        .is_none_or(|&f| (f as usize) < m.triangles.len()));
    assert_eq!(report(&m).unwrap().self_intersecting_faces, Some(expected));
}

#[test]
fn clean_bones_have_none() {
    check("openforge_leg-right_femur.stl", 0, 0);
    check("openforge_leg-right_tibia.stl", 0, 0);
}

#[test]
fn defective_meshes_match_the_readme() {
    // Exact agreement with the README's counts, duplicate faces (bunny: 87) and coplanar
    // overlaps included.
    check("openforge_skull_b.stl", 1033, 1033);
    check("trimesh_bunny.ply", 170, 170);
    check("trimesh_teapot.stl", 51, 51);
    // Bones that touch or overlap each other.
    check("vtk_footbones.ply", 322, 322);
}

#[test]
fn pair_counts_are_stable() {
    let pairs = |f: &str| self_intersections(&read(f)).pairs;
    assert_eq!(
        [
            pairs("openforge_skull_b.stl"),
            pairs("trimesh_bunny.ply"),
            pairs("trimesh_teapot.stl"),
            pairs("vtk_footbones.ply"),
        ],
        [1210, 97, 56, 381]
    );
}
