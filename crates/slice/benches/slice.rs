//! Contour slicing speed: a 327 680-triangle sphere of radius 20 mm at 0.1 mm layers (400
//! layers), and with `OSTEON_SLICE_MESH=a.stl,...` each real mesh at 0.1 mm.
//!
//! ```sh
//! cargo bench -p osteon-slice
//! OSTEON_SLICE_MESH=bone.stl cargo bench -p osteon-slice
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use osteon_slice::{slice_to_vec, SliceOptions};

fn bench(c: &mut Criterion) {
    let opts = SliceOptions::default().with_layer_height_mm(0.1);
    let sphere = osteon_mesh::shapes::icosphere(7, 20.0);
    let mut g = c.benchmark_group("slice");
    g.sample_size(10);
    g.bench_function("sphere_327k_0.1mm", |b| {
        b.iter(|| slice_to_vec(&sphere, &opts).expect("slice").1.len())
    });
    if let Ok(paths) = std::env::var("OSTEON_SLICE_MESH") {
        for p in paths.split(',').filter(|p| !p.is_empty()) {
            let mesh = osteon_io::read_mesh(p.as_ref()).expect("mesh");
            let name = std::path::Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            g.bench_function(format!("{name}_0.1mm"), |b| {
                b.iter(|| slice_to_vec(&mesh, &opts).expect("slice").1.len())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
