//! Exact signed distance to a triangle mesh at arbitrary points.
//!
//! **In:** a [`Mesh`] (millimetres, counter-clockwise seen from outside). **Out:** for a point,
//! the exact Euclidean distance to the surface (f32 mm), its sign (negative inside), the
//! closest point and triangle.
//!
//! Distance: a BVH closest-point query (see `bvh`). Sign, per [`SignMethod`]:
//! * **pseudo-normal** — Bærentzen & Aanæs, "Signed distance computation using the angle
//!   weighted pseudonormal", IEEE TVCG 11(3) 2005: the sign of `(p − closest) · n` where `n` is
//!   the face normal, the sum of the two face normals of an edge, or the angle-weighted vertex
//!   normal, whichever feature the closest point lies on. Exact for closed, manifold,
//!   consistently oriented meshes, and free (it comes with the closest point).
//! * **winding number** — inside where the generalised winding number is ≥ ½ (Jacobson et
//!   al. 2013, fast hierarchical evaluation of Barill et al. 2018): robust to holes,
//!   flipped patches, overlapping shells and self-intersections, at the cost of one more
//!   tree walk per signed query.

use osteon_geom::Vec3;
use osteon_mesh::Mesh;

use crate::batch::PreparedTri;
use crate::bvh::{Bvh, Feature, Hit};
use crate::{SdfError, SignMethod};

/// A mesh prepared for exact (signed) distance queries: BVH, pseudo-normals and winding
/// number dipoles. Build once, query from many threads (`Sync`).
///
/// ```
/// use osteon_geom::Vec3;
/// use osteon_mesh::Mesh;
/// use osteon_sdf::SignedDistance;
/// let tet = Mesh::new(
///     vec![Vec3::ZERO, Vec3::X, Vec3::Y, Vec3::Z],
///     vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
/// ).unwrap();
/// let sd = SignedDistance::new(&tet).unwrap();
/// assert!((sd.signed_distance(Vec3::new(0.1, 0.1, -2.0)) - 2.0).abs() < 1e-6);
/// assert!(sd.signed_distance(Vec3::splat(0.1)) < 0.0);
/// ```
pub struct SignedDistance {
    bvh: Bvh,
    /// Unit face normal per BVH-order triangle (zero for degenerate triangles).
    face_normals: Vec<Vec3>,
    /// Edge pseudo-normal per BVH-order triangle and edge (edge i: corner i → i+1).
    edge_normals: Vec<[Vec3; 3]>,
    /// Original vertex index per BVH-order triangle corner.
    corners: Vec<[u32; 3]>,
    /// Angle-weighted vertex pseudo-normals.
    vertex_normals: Vec<Vec3>,
    /// Triangles prepared for batched distances (BVH order, relative to the origin).
    prepared: Vec<PreparedTri>,
    method: SignMethod,
}

impl std::fmt::Debug for SignedDistance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedDistance")
            .field("triangles", &self.bvh.tris.len())
            .field("method", &self.method)
            .finish()
    }
}

/// The sign method [`SignMethod::Auto`] resolves to for `mesh`: pseudo-normals when the mesh
/// is watertight, manifold and consistently oriented, the winding number otherwise.
/// Self-intersections and overlapping closed shells are not detected here (the mesh report
/// does not list them): ask for [`SignMethod::WindingNumber`] for such input.
pub fn auto_sign_method(mesh: &Mesh) -> Result<SignMethod, SdfError> {
    // Only the topology matters here: skip the report's self-intersection search.
    let opts = osteon_mesh::ReportOptions::default().self_intersections(false);
    let r = osteon_mesh::report_with(mesh, &opts).map_err(SdfError::Mesh)?;
    Ok(if r.watertight && r.manifold && r.oriented {
        SignMethod::PseudoNormal
    } else {
        SignMethod::WindingNumber
    })
}

impl SignedDistance {
    /// Prepares `mesh`, picking the sign method automatically ([`auto_sign_method`]).
    pub fn new(mesh: &Mesh) -> Result<SignedDistance, SdfError> {
        Self::with_sign(mesh, SignMethod::Auto)
    }

    /// Prepares `mesh` with the given sign method.
    pub fn with_sign(mesh: &Mesh, sign: SignMethod) -> Result<SignedDistance, SdfError> {
        mesh.validate().map_err(SdfError::Mesh)?;
        if mesh.triangles.is_empty() {
            return Err(SdfError::Empty);
        }
        let method = match sign {
            SignMethod::Auto => auto_sign_method(mesh)?,
            m => m,
        };
        let tris: Vec<[Vec3; 3]> = (0..mesh.triangles.len()).map(|t| mesh.corners(t)).collect();
        let bvh = Bvh::build(&tris);
        let n = bvh.tris.len();
        let corners: Vec<[u32; 3]> = bvh
            .ids
            .iter()
            .map(|&i| mesh.triangles[i as usize])
            .collect();
        let face_normals: Vec<Vec3> = bvh
            .tris
            .iter()
            .map(|t| (t[1] - t[0]).cross(t[2] - t[0]).normalize_or_zero())
            .collect();
        // Vertex pseudo-normals: face normals weighted by the corner angle.
        let mut vertex_normals = vec![Vec3::ZERO; mesh.positions.len()];
        for (t, c) in corners.iter().enumerate() {
            let p = bvh.tris[t];
            for k in 0..3 {
                let e1 = (p[(k + 1) % 3] - p[k]).normalize_or_zero();
                let e2 = (p[(k + 2) % 3] - p[k]).normalize_or_zero();
                let angle = e1.dot(e2).clamp(-1.0, 1.0).acos();
                vertex_normals[c[k] as usize] += angle * face_normals[t];
            }
        }
        // Edge pseudo-normals: sum of the normals of the faces sharing the edge (by sorted
        // vertex pair; a non-manifold edge sums all its faces).
        let mut keys: Vec<(u32, u32, u32)> = Vec::with_capacity(3 * n);
        for (t, c) in corners.iter().enumerate() {
            for e in 0..3 {
                let (a, b) = (c[e], c[(e + 1) % 3]);
                keys.push((a.min(b), a.max(b), (3 * t + e) as u32));
            }
        }
        keys.sort_unstable();
        let mut edge_normals = vec![[Vec3::ZERO; 3]; n];
        let mut s = 0;
        while s < keys.len() {
            let mut e = s;
            let mut sum = Vec3::ZERO;
            while e < keys.len() && (keys[e].0, keys[e].1) == (keys[s].0, keys[s].1) {
                sum += face_normals[(keys[e].2 / 3) as usize];
                e += 1;
            }
            for k in &keys[s..e] {
                edge_normals[(k.2 / 3) as usize][(k.2 % 3) as usize] = sum;
            }
            s = e;
        }
        let prepared = bvh
            .tris
            .iter()
            .map(|&t| PreparedTri::new(t, Vec3::ZERO))
            .collect();
        Ok(SignedDistance {
            prepared,
            bvh,
            face_normals,
            edge_normals,
            corners,
            vertex_normals,
            method,
        })
    }

    /// The sign method in use (never `Auto`).
    pub fn sign_method(&self) -> SignMethod {
        self.method
    }

    /// Unsigned distance from `p` to the surface, mm.
    pub fn distance(&self, p: Vec3) -> f32 {
        self.hit(p, None).map_or(f32::INFINITY, |h| h.dist2.sqrt())
    }

    /// Signed distance from `p` to the surface, mm: negative inside.
    pub fn signed_distance(&self, p: Vec3) -> f32 {
        match self.hit(p, None) {
            Some(h) => {
                let d = h.dist2.sqrt();
                if self.inside(p, &h) {
                    -d
                } else {
                    d
                }
            }
            None => f32::INFINITY,
        }
    }

    /// Closest point on the surface to `p` and the (input-order) triangle it lies on.
    pub fn closest_point(&self, p: Vec3) -> (Vec3, u32) {
        match self.hit(p, None) {
            Some(h) => (h.point, self.bvh.ids[h.tri as usize]),
            None => (p, 0),
        }
    }

    /// Generalised winding number of the surface at `p` (≈1 inside, ≈0 outside).
    pub fn winding_number(&self, p: Vec3) -> f32 {
        self.bvh.winding(p)
    }

    /// Closest-point query with a BVH-order hint triangle.
    #[inline]
    pub(crate) fn hit(&self, p: Vec3, hint: Option<u32>) -> Option<Hit> {
        self.bvh.closest(p, hint)
    }

    /// BVH-order triangle `t` prepared for batched distances, relative to `origin`.
    #[inline]
    pub(crate) fn prepared(&self, t: u32, origin: Vec3) -> PreparedTri {
        self.prepared[t as usize].moved(origin)
    }

    /// The closest point to `p` on BVH-order triangle `t`, as a [`Hit`].
    #[inline]
    pub(crate) fn hit_on(&self, p: Vec3, t: u32) -> Hit {
        let [a, b, c] = self.bvh.tris[t as usize];
        let (q, feature) = crate::bvh::closest_on_triangle(p, a, b, c);
        Hit {
            point: q,
            dist2: p.distance_squared(q),
            tri: t,
            feature,
        }
    }

    /// Triangles (BVH order) whose bounding box is within `sqrt(r2)` of `p` (a superset of
    /// the triangles within that distance), in tree order (deterministic), replacing the
    /// contents of `out`.
    pub(crate) fn candidates_unsorted(&self, p: Vec3, r2: f32, out: &mut Vec<(f32, u32)>) {
        out.clear();
        self.bvh.within_boxes(p, r2, out);
    }

    /// Triangles (BVH order) within `sqrt(r2)` of `p`, sorted by squared distance.
    pub(crate) fn candidates(&self, p: Vec3, r2: f32, out: &mut Vec<(f32, u32)>) {
        out.clear();
        self.bvh.within(p, r2, out);
        out.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }

    /// Exact closest point to `p` among `cands` (from [`Self::candidates`] around a centre
    /// `c` with `|p − c| ≤ rb`, radius at least `u(c) + 2 rb`, which then holds the closest
    /// triangle of `p`). Candidates farther from `c` than `rb` + the best distance are skipped.
    pub(crate) fn hit_among(&self, p: Vec3, cands: &[(f32, u32)], rb: f32) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        let mut best_d = f32::INFINITY;
        for &(dc2, t) in cands {
            if dc2.sqrt() - rb > best_d {
                break;
            }
            let [a, b, c] = self.bvh.tris[t as usize];
            let (q, f) = crate::bvh::closest_on_triangle(p, a, b, c);
            let d2 = p.distance_squared(q);
            if best.is_none_or(|h| d2 < h.dist2) {
                best = Some(Hit {
                    point: q,
                    dist2: d2,
                    tri: t,
                    feature: f,
                });
                best_d = d2.sqrt();
            }
        }
        best
    }

    /// Pseudo-normal of the feature of `h` (not normalised).
    #[inline]
    pub(crate) fn pseudo_normal(&self, h: &Hit) -> Vec3 {
        let t = h.tri as usize;
        match h.feature {
            Feature::Face => self.face_normals[t],
            Feature::Edge(e) => self.edge_normals[t][e as usize],
            Feature::Vertex(v) => self.vertex_normals[self.corners[t][v as usize] as usize],
        }
    }

    /// Whether `p`, whose closest point is `h`, is inside.
    #[inline]
    pub(crate) fn inside(&self, p: Vec3, h: &Hit) -> bool {
        match self.method {
            SignMethod::WindingNumber => self.bvh.winding(p) >= 0.5,
            _ => (p - h.point).dot(self.pseudo_normal(h)) < 0.0,
        }
    }
}
