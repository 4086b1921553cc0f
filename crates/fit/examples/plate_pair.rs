//! Writes plates laid on a bone for benchmarks and peer comparisons.
//!
//! `cargo run --release -p osteon-fit --example plate_pair -- BONE OUT_DIR [RADIUS_MM]`
//!
//! Picks the bone vertex nearest to the +x side of the bone at 30 % of its height, lays a plate of
//! radius RADIUS_MM (default 6) on the surface there with `phantom::plate_on_surface` (gap
//! 0.3 mm, thickness 2 mm) and writes `OUT_DIR/plate_gap.stl`, and the same plate moved
//! 0.8 mm toward the bone (about 0.5 mm into it) as `OUT_DIR/plate_pushed.stl`; also the
//! plate-on-block phantom (`phantom_plate.stl`, `phantom_block.stl`) and two overlapping
//! spheres (`sphere_a.stl`, `sphere_b.stl`).

use osteon_fit::phantom::plate_on_surface;
use osteon_geom::Vec3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: plate_pair BONE OUT_DIR [RADIUS_MM]".into());
    }
    let bone = osteon_io::read_mesh(args[1].as_ref())?;
    let out = std::path::Path::new(&args[2]);
    let radius: f32 = args.get(3).map_or(Ok(6.0), |s| s.parse())?;
    let b = bone.bounds().ok_or("empty bone")?;
    let target = Vec3::new(
        b.max.x,
        0.5 * (b.min.y + b.max.y),
        b.min.z + 0.3 * (b.max.z - b.min.z),
    );
    let centre = *bone
        .positions
        .iter()
        .min_by(|p, q| p.distance(target).total_cmp(&q.distance(target)))
        .ok_or("no vertex")?;
    let plate = plate_on_surface(&bone, centre, radius, 0.3, 2.0).ok_or("no patch")?;
    // Mean outward direction of the patch: push against it.
    let n = plate.positions.len() / 2;
    let dir: Vec3 = plate.positions[n..]
        .iter()
        .zip(&plate.positions[..n])
        .map(|(t, b)| (*t - *b).normalize_or_zero())
        .sum::<Vec3>()
        .normalize();
    let pushed = plate.map_positions(|p| p - dir * 0.8);
    osteon_io::write_mesh(&out.join("plate_gap.stl"), &plate, &Default::default())?;
    // The analytic phantoms too, for the boolean peer.
    let (pp, pb) = osteon_fit::phantom::PlateOnBlock::default().meshes();
    osteon_io::write_mesh(&out.join("phantom_plate.stl"), &pp, &Default::default())?;
    osteon_io::write_mesh(&out.join("phantom_block.stl"), &pb, &Default::default())?;
    let sa = osteon_mesh::shapes::icosphere(5, 5.0);
    let sb = sa.map_positions(|p| p + Vec3::new(6.0, 0.0, 0.0));
    osteon_io::write_mesh(&out.join("sphere_a.stl"), &sa, &Default::default())?;
    osteon_io::write_mesh(&out.join("sphere_b.stl"), &sb, &Default::default())?;
    osteon_io::write_mesh(&out.join("plate_pushed.stl"), &pushed, &Default::default())?;
    println!(
        "bone {} triangles; plate {} triangles at {centre}, push direction {dir}",
        bone.triangles.len(),
        plate.triangles.len()
    );
    Ok(())
}
