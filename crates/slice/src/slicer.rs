//! Planar slicing: a triangle mesh in, closed layer contours out.
//!
//! Layer `k` (0-based) covers `z_min + k·h .. z_min + (k+1)·h` and is cut by the plane
//! `z_k = z_min + (k + ½)·h` (mid-layer). Coordinates are millimetres, computed in `f64`.
//!
//! **Tie rule.** A vertex whose `z` equals the plane counts as *above* it (a symbolic
//! perturbation of the plane by −ε). An edge crosses the plane exactly when one end is below
//! and the other above, so every crossing edge yields one point, even when vertices, edges or
//! whole faces lie in the plane, and every triangle that crosses yields exactly one segment.
//!
//! **Chaining by edge identity.** Each segment runs from one crossing edge to another; the
//! point of an edge is computed once from the edge's two vertices in a fixed order, so the two
//! triangles sharing the edge agree on it bit for bit. Segments are chained through shared
//! edge ids (never by comparing coordinates), so on a closed mesh every contour closes
//! exactly; on an open mesh the chains that start or end on a boundary edge are returned as
//! open polylines.
//!
//! **Orientation and nesting.** On an outward-oriented mesh the segments already run
//! counter-clockwise around material seen from +z. The nesting tree is rebuilt per layer by
//! point-in-polygon tests; outer loops (even depth) are made counter-clockwise and holes (odd
//! depth) clockwise, and any loop that had to be reversed is counted.

use osteon_geom::{Cancel, Progress};
use osteon_mesh::Mesh;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Layer, LayerSink, Loop, SliceError};

/// Options of [`slice`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct SliceOptions {
    /// Layer height, mm (> 0).
    pub layer_height_mm: f64,
    /// Accept open meshes: chains that do not close are returned as open polylines. When
    /// false, an open contour is an error ([`SliceError::OpenContours`]).
    pub allow_open: bool,
    /// Layers handed to the sink per parallel batch (bounds memory).
    pub batch_layers: usize,
}

impl Default for SliceOptions {
    fn default() -> Self {
        SliceOptions {
            layer_height_mm: 0.1,
            allow_open: true,
            batch_layers: 256,
        }
    }
}

impl SliceOptions {
    /// Sets the layer height, mm.
    pub fn with_layer_height_mm(mut self, h: f64) -> Self {
        self.layer_height_mm = h;
        self
    }
    /// Accepts (true) or refuses (false) open contours.
    pub fn with_allow_open(mut self, allow: bool) -> Self {
        self.allow_open = allow;
        self
    }
    /// Sets the number of layers per parallel batch.
    pub fn with_batch_layers(mut self, n: usize) -> Self {
        self.batch_layers = n;
        self
    }
}

/// The layer planes of a mesh: `count` planes at `z_min + (k + ½)·h`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerPlan {
    /// Lowest z of the mesh, mm (the bottom of layer 0).
    pub z_min: f64,
    /// Highest z of the mesh, mm.
    pub z_max: f64,
    /// Layer height, mm.
    pub layer_height_mm: f64,
    /// Number of layers.
    pub count: usize,
}

impl LayerPlan {
    /// The layers covering `mesh` at height `h`.
    pub fn new(mesh: &Mesh, h: f64) -> Result<LayerPlan, SliceError> {
        if !(h.is_finite() && h > 0.0) {
            return Err(SliceError::InvalidLayerHeight(h));
        }
        if mesh.triangles.is_empty() {
            return Err(SliceError::EmptyMesh);
        }
        mesh.validate().map_err(SliceError::Mesh)?;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for t in &mesh.triangles {
            for &v in t {
                let z = mesh.positions[v as usize].z as f64;
                lo = lo.min(z);
                hi = hi.max(z);
            }
        }
        let count = ((hi - lo) / h).ceil().max(1.0);
        if count > 10_000_000.0 {
            return Err(SliceError::InvalidOption(format!(
                "layer height {h} mm gives {count} layers over {:.3} mm",
                hi - lo
            )));
        }
        Ok(LayerPlan {
            z_min: lo,
            z_max: hi,
            layer_height_mm: h,
            count: count as usize,
        })
    }
    /// The cutting plane of layer `k` (mid-layer), mm.
    pub fn z(&self, k: usize) -> f64 {
        self.z_min + (k as f64 + 0.5) * self.layer_height_mm
    }
}

/// Edge ids of a mesh: `corner_edge[3·t + i]` is the id of the edge from corner `i` to
/// corner `i+1` of triangle `t`; `edges[id]` its vertices, smaller index first.
pub(crate) struct EdgeIndex {
    pub corner_edge: Vec<u32>,
    pub edges: Vec<[u32; 2]>,
}

impl EdgeIndex {
    pub fn new(mesh: &Mesh) -> EdgeIndex {
        let n = mesh.triangles.len() * 3;
        let mut keys: Vec<(u64, u32)> = (0..n)
            .into_par_iter()
            .map(|c| {
                let t = &mesh.triangles[c / 3];
                let (a, b) = (t[c % 3], t[(c + 1) % 3]);
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                (((lo as u64) << 32) | hi as u64, c as u32)
            })
            .collect();
        keys.par_sort_unstable();
        let mut corner_edge = vec![0u32; n];
        let mut edges = Vec::with_capacity(n / 2 + 1);
        let mut prev = u64::MAX;
        for &(k, c) in &keys {
            if k != prev {
                edges.push([(k >> 32) as u32, k as u32]);
                prev = k;
            }
            corner_edge[c as usize] = (edges.len() - 1) as u32;
        }
        EdgeIndex { corner_edge, edges }
    }
}

struct Segment {
    from: u32,
    to: u32,
}

/// Slices `mesh` into layers and hands them, in order, to `sink`. Layers are computed in
/// parallel batches of [`SliceOptions::batch_layers`]. Returns the layer plan.
pub fn slice(
    mesh: &Mesh,
    options: &SliceOptions,
    sink: &mut dyn LayerSink,
    progress: &dyn Progress,
    cancel: &dyn Cancel,
) -> Result<LayerPlan, SliceError> {
    let plan = LayerPlan::new(mesh, options.layer_height_mm)?;
    let ei = EdgeIndex::new(mesh);
    // Layer range [k0, k1) of the planes each triangle crosses.
    let span: Vec<(u32, u32)> = mesh
        .triangles
        .par_iter()
        .map(|t| {
            let zs = t.map(|v| mesh.positions[v as usize].z as f64);
            let lo = zs[0].min(zs[1]).min(zs[2]);
            let hi = zs[0].max(zs[1]).max(zs[2]);
            // Plane k is crossed iff lo < z_k <= hi (a vertex on the plane counts as above).
            let k0 = first_plane_above(&plan, lo, false);
            let k1 = first_plane_above(&plan, hi, true);
            (k0 as u32, k1.max(k0) as u32)
        })
        .collect();
    // Counting sort of triangles by first layer; long triangles kept apart.
    const SHORT: u32 = 16;
    let mut start = vec![0u32; plan.count + 2];
    for &(k0, k1) in &span {
        if k1 > k0 && k1 - k0 <= SHORT {
            start[k0 as usize + 1] += 1;
        }
    }
    for k in 0..=plan.count {
        start[k + 1] += start[k];
    }
    let mut fill = start.clone();
    let mut order = vec![0u32; start[plan.count + 1] as usize];
    let mut long: Vec<u32> = Vec::new();
    for (t, &(k0, k1)) in span.iter().enumerate() {
        if k1 <= k0 {
            continue;
        }
        if k1 - k0 <= SHORT {
            order[fill[k0 as usize] as usize] = t as u32;
            fill[k0 as usize] += 1;
        } else {
            long.push(t as u32);
        }
    }
    long.sort_by_key(|&t| span[t as usize].0);
    let ctx = Ctx {
        mesh,
        plan: &plan,
        ei: &ei,
        span: &span,
        start: &start,
        order: &order,
        long: &long,
        short: SHORT,
    };
    progress.begin("slice", plan.count as u64);
    let batch = options.batch_layers.max(1);
    let mut k = 0;
    while k < plan.count {
        if cancel.is_cancelled() {
            return Err(SliceError::Cancelled);
        }
        let end = (k + batch).min(plan.count);
        let layers: Vec<Layer> = (k..end).into_par_iter().map(|k| ctx.layer(k)).collect();
        for layer in layers {
            if !options.allow_open && !layer.open.is_empty() {
                return Err(SliceError::OpenContours {
                    layer: layer.index,
                    z_mm: layer.z_mm,
                    open_polylines: layer.open.len(),
                });
            }
            sink.layer(layer)?;
        }
        progress.advance((end - k) as u64);
        k = end;
    }
    progress.finish();
    Ok(plan)
}

/// Slices `mesh` and returns every layer (convenience over [`slice`] with a `Vec` sink).
pub fn slice_to_vec(
    mesh: &Mesh,
    options: &SliceOptions,
) -> Result<(LayerPlan, Vec<Layer>), SliceError> {
    let mut layers: Vec<Layer> = Vec::new();
    let plan = slice(
        mesh,
        options,
        &mut layers,
        &osteon_geom::NoProgress,
        &osteon_geom::NeverCancel,
    )?;
    Ok((plan, layers))
}

/// Index of the first plane with `z_k > z` (or `>= z` when `inclusive`), clamped to count.
fn first_plane_above(plan: &LayerPlan, z: f64, inclusive: bool) -> usize {
    // Estimate, then fix up with the exact comparison used everywhere else.
    let est = ((z - plan.z_min) / plan.layer_height_mm - 0.5).floor();
    let mut k = if est < 0.0 { 0 } else { est as usize };
    k = k.min(plan.count);
    let below = |k: usize| {
        let zk = plan.z(k);
        if inclusive {
            zk <= z
        } else {
            zk < z
        }
    };
    while k > 0 && !below(k - 1) {
        k -= 1;
    }
    while k < plan.count && below(k) {
        k += 1;
    }
    k
}

struct Ctx<'a> {
    mesh: &'a Mesh,
    plan: &'a LayerPlan,
    ei: &'a EdgeIndex,
    span: &'a [(u32, u32)],
    start: &'a [u32],
    order: &'a [u32],
    long: &'a [u32],
    short: u32,
}

impl Ctx<'_> {
    fn point(&self, e: u32, z: f64) -> [f64; 2] {
        let [a, b] = self.ei.edges[e as usize];
        let pa = self.mesh.positions[a as usize];
        let pb = self.mesh.positions[b as usize];
        let (za, zb) = (pa.z as f64, pb.z as f64);
        let t = (z - za) / (zb - za);
        [
            pa.x as f64 + t * (pb.x as f64 - pa.x as f64),
            pa.y as f64 + t * (pb.y as f64 - pa.y as f64),
        ]
    }

    fn layer(&self, k: usize) -> Layer {
        let z = self.plan.z(k);
        let mut segs: Vec<Segment> = Vec::new();
        let mut visit = |t: u32| {
            let (k0, k1) = self.span[t as usize];
            if (k as u32) < k0 || (k as u32) >= k1 {
                return;
            }
            let tri = self.mesh.triangles[t as usize];
            let above = tri.map(|v| self.mesh.positions[v as usize].z as f64 >= z);
            let n_above = above.iter().filter(|&&a| a).count();
            if n_above == 0 || n_above == 3 {
                return;
            }
            // The lone vertex (the one on its own side), as corner i.
            let lone_above = n_above == 1;
            let i = (0..3).find(|&i| above[i] == lone_above).unwrap_or(0);
            let base = 3 * t as usize;
            let e01 = self.ei.corner_edge[base + i]; // lone -> next
            let e20 = self.ei.corner_edge[base + (i + 2) % 3]; // prev -> lone
                                                               // Outward normals give counter-clockwise loops around material seen from +z.
            let (from, to) = if lone_above { (e01, e20) } else { (e20, e01) };
            segs.push(Segment { from, to });
        };
        let lo = k.saturating_sub(self.short as usize);
        for &t in &self.order[self.start[lo] as usize..self.start[k + 1] as usize] {
            visit(t);
        }
        for &t in self.long {
            if self.span[t as usize].0 as usize > k {
                break;
            }
            visit(t);
        }
        // Deterministic order independent of how candidates were gathered.
        segs.sort_unstable_by_key(|s| (s.from, s.to));
        // Segments sorted by starting edge: the successor of a segment ending at edge e is
        // found by binary search for `from == e`; arrivals by search in the sorted `to`s.
        let mut tos: Vec<u32> = segs.iter().map(|s| s.to).collect();
        tos.sort_unstable();
        let arrives = |e: u32| tos.binary_search(&e).is_ok();
        let mut used = vec![false; segs.len()];
        let take_from = |e: u32, used: &mut [bool]| -> Option<usize> {
            let mut j = segs.partition_point(|s| s.from < e);
            while j < segs.len() && segs[j].from == e {
                if !used[j] {
                    used[j] = true;
                    return Some(j);
                }
                j += 1;
            }
            None
        };
        let mut loops = Vec::new();
        let mut open = Vec::new();
        // Open chains first: they start at an edge nothing arrives at.
        for j in 0..segs.len() {
            if used[j] || arrives(segs[j].from) {
                continue;
            }
            used[j] = true;
            let mut pts = vec![self.point(segs[j].from, z)];
            let mut e = segs[j].to;
            loop {
                pts.push(self.point(e, z));
                match take_from(e, &mut used) {
                    Some(n) => e = segs[n].to,
                    None => break,
                }
            }
            pts.dedup();
            open.push(pts);
        }
        // Then closed loops.
        for j in 0..segs.len() {
            if used[j] {
                continue;
            }
            used[j] = true;
            let first = segs[j].from;
            let mut pts = vec![self.point(first, z)];
            let mut e = segs[j].to;
            let mut closed = false;
            loop {
                if e == first {
                    closed = true;
                    break;
                }
                pts.push(self.point(e, z));
                match take_from(e, &mut used) {
                    Some(n) => e = segs[n].to,
                    None => break,
                }
            }
            pts.dedup();
            if closed {
                if pts.len() > 1 && pts[0] == pts[pts.len() - 1] {
                    pts.pop();
                }
                if pts.len() >= 3 {
                    loops.push(pts);
                }
            } else {
                open.push(pts);
            }
        }
        let (loops, reoriented) = nest(loops);
        Layer {
            index: k,
            z_mm: z,
            loops,
            open,
            reoriented,
        }
    }
}

/// Signed area (shoelace, counter-clockwise positive), mm².
pub fn signed_area(p: &[[f64; 2]]) -> f64 {
    if p.len() < 3 {
        return 0.0;
    }
    let o = p[0];
    let mut a = 0.0;
    for w in p[1..].windows(2) {
        a += (w[0][0] - o[0]) * (w[1][1] - o[1]) - (w[1][0] - o[0]) * (w[0][1] - o[1]);
    }
    0.5 * a
}

/// True when `q` is inside the closed polygon `p` (crossing number).
pub(crate) fn contains(p: &[[f64; 2]], q: [f64; 2]) -> bool {
    let mut inside = false;
    let n = p.len();
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (p[i], p[j]);
        if (a[1] > q[1]) != (b[1] > q[1]) {
            let x = a[0] + (q[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if q[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Builds the nesting tree: parent = the smallest loop containing this one. Outer loops
/// (even depth) come out counter-clockwise, holes clockwise. Returns the number reversed.
fn nest(raw: Vec<Vec<[f64; 2]>>) -> (Vec<Loop>, usize) {
    let n = raw.len();
    let areas: Vec<f64> = raw.iter().map(|p| signed_area(p)).collect();
    let boxes: Vec<[f64; 4]> = raw
        .iter()
        .map(|p| {
            p.iter().fold(
                [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ],
                |b, q| {
                    [
                        b[0].min(q[0]),
                        b[1].min(q[1]),
                        b[2].max(q[0]),
                        b[3].max(q[1]),
                    ]
                },
            )
        })
        .collect();
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut depth = vec![0usize; n];
    for i in 0..n {
        // A point of loop i: loops of a valid section do not cross, so any vertex decides,
        // unless it touches the other loop; the midpoint of the first edge is safer.
        let q = [
            0.5 * (raw[i][0][0] + raw[i][1][0]),
            0.5 * (raw[i][0][1] + raw[i][1][1]),
        ];
        let mut best: Option<usize> = None;
        for j in 0..n {
            if i == j || areas[j].abs() <= areas[i].abs() {
                continue;
            }
            let b = boxes[j];
            if q[0] < b[0] || q[0] > b[2] || q[1] < b[1] || q[1] > b[3] {
                continue;
            }
            if contains(&raw[j], q) {
                depth[i] += 1;
                if best.is_none_or(|b| areas[j].abs() < areas[b].abs()) {
                    best = Some(j);
                }
            }
        }
        parent[i] = best;
    }
    let mut reoriented = 0;
    let loops = raw
        .into_iter()
        .enumerate()
        .map(|(i, mut points)| {
            let hole = depth[i] % 2 == 1;
            let mut area = areas[i];
            if (area < 0.0) != hole && area != 0.0 {
                points.reverse();
                area = -area;
                reoriented += 1;
            }
            Loop {
                points,
                area_mm2: area,
                parent: parent[i],
                depth: depth[i],
            }
        })
        .collect();
    (loops, reoriented)
}
