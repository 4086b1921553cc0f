//! A small software rasteriser for report pictures: orthographic standard views of a mesh,
//! z-buffered, Gouraud-shaded (per-vertex normals, intensity interpolated), optionally
//! coloured by a per-vertex scalar (a signed distance map) with a diverging colour map.
//!
//! Single-threaded and pure: the same mesh gives the same pixels whatever the thread count,
//! so the PNGs embedded in `report.html` are byte-identical between runs.

use osteon_geom::{Frame, Vec3};
use osteon_mesh::Mesh;

/// A standard view direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// From the front (anterior), head up.
    Anterior,
    /// From the patient's left, head up.
    Left,
    /// From above (superior), anterior up.
    Superior,
    /// An oblique view from anterior-left-above.
    Oblique,
}

impl View {
    /// The four standard views.
    pub const ALL: [View; 4] = [View::Anterior, View::Left, View::Superior, View::Oblique];

    /// Caption, in the mesh's frame (`NONE`: axis names instead of anatomy).
    pub fn caption(self, frame: Frame) -> &'static str {
        match (self, frame) {
            (View::Anterior, Frame::None) => "from -y, z up",
            (View::Left, Frame::None) => "from +x, z up",
            (View::Superior, Frame::None) => "from +z, -y up",
            (View::Oblique, Frame::None) => "oblique",
            (View::Anterior, _) => "anterior",
            (View::Left, _) => "left lateral",
            (View::Superior, _) => "superior",
            (View::Oblique, _) => "oblique (anterior-left-superior)",
        }
    }

    /// Viewing direction and up vector in LPS (x left, y posterior, z superior).
    fn camera_lps(self) -> (Vec3, Vec3) {
        match self {
            View::Anterior => (Vec3::Y, Vec3::Z),
            View::Left => (-Vec3::X, Vec3::Z),
            View::Superior => (-Vec3::Z, -Vec3::Y),
            View::Oblique => (Vec3::new(-0.55, 0.65, -0.45).normalize(), Vec3::Z),
        }
    }

    fn camera(self, frame: Frame) -> (Vec3, Vec3) {
        let (d, u) = self.camera_lps();
        if frame == Frame::Ras {
            (Vec3::new(-d.x, -d.y, d.z), Vec3::new(-u.x, -u.y, u.z))
        } else {
            (d, u)
        }
    }
}

/// Base colour of a bone surface (warm ivory).
pub const BONE: [f32; 3] = [236.0, 218.0, 178.0];
/// Base colour of a second (implant, offset) surface (steel blue).
pub const IMPLANT: [f32; 3] = [120.0, 160.0, 215.0];

/// Per-vertex colouring.
pub enum Colouring<'a> {
    /// One colour.
    Solid([f32; 3]),
    /// A colour per vertex.
    PerVertex(&'a [[f32; 3]]),
    /// A scalar per vertex mapped with [`diverging`] over `[-limit, +limit]`.
    Scalar {
        /// One value per vertex.
        values: &'a [f32],
        /// Magnitude mapped to the ends of the colour map.
        limit: f32,
    },
}

/// Blue (−1) → white (0) → red (+1), clamped: the colour map of signed distances.
pub fn diverging(t: f32) -> [f32; 3] {
    let t = if t.is_finite() {
        t.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let white = [247.0, 247.0, 247.0];
    let (end, a) = if t < 0.0 {
        ([33.0, 102.0, 172.0], -t)
    } else {
        ([178.0, 24.0, 43.0], t)
    };
    [
        white[0] + (end[0] - white[0]) * a,
        white[1] + (end[1] - white[1]) * a,
        white[2] + (end[2] - white[2]) * a,
    ]
}

/// Background shade of row `y` of an image `size` pixels high (a faint cool gradient).
pub fn background(y: u32, size: u32) -> [u8; 3] {
    let t = y as f32 / size.max(1) as f32;
    let c = |a: f32, b: f32| (a + (b - a) * t).round() as u8;
    [c(246.0, 226.0), c(248.0, 231.0), c(252.0, 240.0)]
}

/// Renders `mesh` seen from `view`, fitted into a `size`×`size` RGB image (row-major,
/// 3 bytes per pixel). `frame` is the frame of the mesh's coordinates.
pub fn render(
    mesh: &Mesh,
    view: View,
    frame: Frame,
    size: u32,
    colouring: &Colouring<'_>,
) -> Vec<u8> {
    let n = size as usize;
    let mut rgb = vec![0u8; n * n * 3];
    for y in 0..n {
        let bg = background(y as u32, size);
        for x in 0..n {
            rgb[(y * n + x) * 3..(y * n + x) * 3 + 3].copy_from_slice(&bg);
        }
    }
    if mesh.triangles.is_empty() {
        return rgb;
    }
    let (d, up) = view.camera(frame);
    let up = (up - d * up.dot(d)).normalize();
    let right = d.cross(up);
    // Screen coordinates of every vertex and the fit of the used vertices' extent.
    let proj: Vec<Vec3> = mesh
        .positions
        .iter()
        .map(|p| Vec3::new(p.dot(right), p.dot(up), p.dot(d)))
        .collect();
    let mut lo = Vec3::splat(f32::INFINITY);
    let mut hi = Vec3::splat(f32::NEG_INFINITY);
    for t in &mesh.triangles {
        for &i in t {
            lo = lo.min(proj[i as usize]);
            hi = hi.max(proj[i as usize]);
        }
    }
    let extent = (hi.x - lo.x).max(hi.y - lo.y).max(1e-6);
    let scale = 0.9 * size as f32 / extent;
    let cx = 0.5 * (lo.x + hi.x);
    let cy = 0.5 * (lo.y + hi.y);
    let half = 0.5 * size as f32;
    let screen: Vec<[f32; 3]> = proj
        .iter()
        .map(|p| [(p.x - cx) * scale + half, half - (p.y - cy) * scale, p.z])
        .collect();
    // Area-weighted vertex normals, accumulated in triangle order (deterministic).
    let mut normals = vec![Vec3::ZERO; mesh.positions.len()];
    for t in &mesh.triangles {
        let [a, b, c] = t.map(|i| mesh.positions[i as usize]);
        let nrm = (b - a).cross(c - a);
        for &i in t {
            normals[i as usize] += nrm;
        }
    }
    // Light from the viewer, a little above and to the left.
    let light = (-d + up * 0.45 - right * 0.3).normalize();
    let shade: Vec<f32> = normals
        .iter()
        .map(|nv| {
            let nv = nv.normalize_or_zero();
            0.28 + 0.72 * nv.dot(light).abs()
        })
        .collect();
    let base: Vec<[f32; 3]> = match colouring {
        Colouring::Solid(c) => vec![*c; mesh.positions.len()],
        Colouring::PerVertex(c) => (0..mesh.positions.len())
            .map(|i| c.get(i).copied().unwrap_or(BONE))
            .collect(),
        Colouring::Scalar { values, limit } => (0..mesh.positions.len())
            .map(|i| {
                let v = values.get(i).copied().unwrap_or(0.0);
                diverging(if *limit > 0.0 { v / limit } else { 0.0 })
            })
            .collect(),
    };
    let mut depth = vec![f32::INFINITY; n * n];
    for t in &mesh.triangles {
        let [i0, i1, i2] = t.map(|i| i as usize);
        let (p0, p1, p2) = (screen[i0], screen[i1], screen[i2]);
        let area = (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p1[1] - p0[1]) * (p2[0] - p0[0]);
        if area.abs() < 1e-12 {
            continue;
        }
        let minx = p0[0].min(p1[0]).min(p2[0]).floor().max(0.0) as usize;
        let maxx = (p0[0].max(p1[0]).max(p2[0]).ceil() as isize).min(n as isize - 1);
        let miny = p0[1].min(p1[1]).min(p2[1]).floor().max(0.0) as usize;
        let maxy = (p0[1].max(p1[1]).max(p2[1]).ceil() as isize).min(n as isize - 1);
        if maxx < 0 || maxy < 0 {
            continue;
        }
        let inv = 1.0 / area;
        for y in miny..=maxy as usize {
            let py = y as f32 + 0.5;
            for x in minx..=maxx as usize {
                let px = x as f32 + 0.5;
                let w0 = ((p1[0] - px) * (p2[1] - py) - (p1[1] - py) * (p2[0] - px)) * inv;
                let w1 = ((p2[0] - px) * (p0[1] - py) - (p2[1] - py) * (p0[0] - px)) * inv;
                let w2 = 1.0 - w0 - w1;
                if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                    continue;
                }
                let z = w0 * p0[2] + w1 * p1[2] + w2 * p2[2];
                let k = y * n + x;
                if z >= depth[k] {
                    continue;
                }
                depth[k] = z;
                let s = w0 * shade[i0] + w1 * shade[i1] + w2 * shade[i2];
                for ch in 0..3 {
                    let c = w0 * base[i0][ch] + w1 * base[i1][ch] + w2 * base[i2][ch];
                    rgb[k * 3 + ch] = (c * s).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    rgb
}

/// PNG bytes of a `size`×`size` RGB image.
pub fn png(rgb: &[u8], size: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, size, size, image::ExtendedColorType::Rgb8)
        .expect("an RGB buffer of the right size encodes to memory");
    out
}

/// Standard base64 (RFC 4648, with padding), for data URIs.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                s.push(A[((v >> shift) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    fn covered(rgb: &[u8], size: u32) -> usize {
        (0..(size * size) as usize)
            .filter(|&k| {
                let bg = background(k as u32 / size, size);
                rgb[k * 3..k * 3 + 3] != bg
            })
            .count()
    }

    #[test]
    fn a_sphere_covers_a_disk() {
        let sphere = osteon_mesh::shapes::icosphere(4, 10.0);
        let size = 200;
        for view in View::ALL {
            let rgb = render(&sphere, view, Frame::Lps, size, &Colouring::Solid(BONE));
            // The sphere fills 90 % of the width: a disk of radius 90 px.
            let expected = std::f64::consts::PI * 90.0 * 90.0;
            let got = covered(&rgb, size) as f64;
            assert!(
                (got / expected - 1.0).abs() < 0.03,
                "{view:?}: {got} px vs {expected}"
            );
            // Shaded: brightest near the light, darker at the rim.
            let centre = &rgb[(100 * 200 + 100) * 3..(100 * 200 + 100) * 3 + 3];
            assert!(centre[0] > 150 && centre[0] > centre[2], "{centre:?}");
        }
    }

    #[test]
    fn a_box_seen_from_the_front_is_its_front_face() {
        // A 10 × 4 × 2 mm box (x, y, z): from anterior, a 10 × 2 rectangle (5:1).
        let p: Vec<Vec3> = (0..8)
            .map(|i| {
                Vec3::new(
                    (i & 1) as f32 * 10.0,
                    ((i >> 1) & 1) as f32 * 4.0,
                    (i >> 2) as f32 * 2.0,
                )
            })
            .collect();
        let t = vec![
            [0, 2, 1],
            [1, 2, 3],
            [4, 5, 6],
            [5, 7, 6],
            [0, 1, 4],
            [1, 5, 4],
            [2, 6, 3],
            [3, 6, 7],
            [0, 4, 2],
            [2, 4, 6],
            [1, 3, 5],
            [3, 7, 5],
        ];
        let b = Mesh::new(p, t).unwrap();
        let rgb = render(&b, View::Anterior, Frame::Lps, 100, &Colouring::Solid(BONE));
        let c = covered(&rgb, 100) as f64;
        assert!((c / (90.0 * 18.0) - 1.0).abs() < 0.06, "{c}");
        let rgb = render(&b, View::Superior, Frame::Lps, 100, &Colouring::Solid(BONE));
        let c = covered(&rgb, 100) as f64;
        assert!((c / (90.0 * 36.0) - 1.0).abs() < 0.06, "{c}");
    }

    #[test]
    fn the_nearer_surface_wins() {
        // Two spheres along the viewing axis: from anterior (looking +y) the one at −y
        // hides the other; colour them apart with a scalar.
        let a = osteon_mesh::shapes::icosphere(3, 5.0);
        let mut pos = a.positions.clone();
        let mut tri = a.triangles.clone();
        let off = pos.len() as u32;
        let near: Vec<Vec3> = pos
            .iter()
            .map(|p| *p + Vec3::new(0.0, -20.0, 0.0))
            .collect();
        pos = near.into_iter().chain(pos).collect();
        tri = tri
            .iter()
            .copied()
            .chain(tri.iter().map(|t| t.map(|i| i + off)))
            .collect();
        let m = Mesh::new(pos, tri).unwrap();
        let values: Vec<f32> = (0..m.positions.len())
            .map(|i| if (i as u32) < off { -1.0 } else { 1.0 })
            .collect();
        let rgb = render(
            &m,
            View::Anterior,
            Frame::Lps,
            100,
            &Colouring::Scalar {
                values: &values,
                limit: 1.0,
            },
        );
        let c = &rgb[(50 * 100 + 50) * 3..(50 * 100 + 50) * 3 + 3];
        assert!(
            c[2] > c[0],
            "the near (blue) sphere must be in front: {c:?}"
        );
    }
}
