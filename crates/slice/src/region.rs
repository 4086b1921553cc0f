//! Planar regions (outer loops counter-clockwise, holes clockwise) and their offsets,
//! booleans and line clipping, through i_overlay. i_overlay's types stay in this module.
//!
//! i_overlay snaps float input to an integer grid chosen from the bounds (about 2⁻³⁰ of the
//! extent, well below a micrometre for parts under a metre), computes exactly there, and
//! converts back.

use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::float::clip::FloatClip;
use i_overlay::float::single::SingleFloatOverlay;
use i_overlay::mesh::float::outline::offset::OutlineOffset;
use i_overlay::mesh::float::style::{LineJoin, OutlineStyle};
use i_overlay::string::clip::ClipRule;

use crate::slicer::{contains, signed_area};
use crate::Loop;

type Pt = [f64; 2];

/// A region of the plane: polygons with holes. Each shape is its outer loop
/// (counter-clockwise) followed by its holes (clockwise).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Region {
    pub(crate) shapes: Vec<Vec<Vec<Pt>>>,
}

impl Region {
    /// The region bounded by a layer's closed loops (nesting taken from the loops' tree:
    /// an island inside a hole is its own shape).
    pub fn from_loops(loops: &[Loop]) -> Region {
        let mut shapes: Vec<Vec<Vec<Pt>>> = Vec::new();
        let mut slot = vec![usize::MAX; loops.len()];
        for (i, l) in loops.iter().enumerate() {
            if l.depth % 2 == 0 {
                slot[i] = shapes.len();
                shapes.push(vec![l.points.clone()]);
            }
        }
        for l in loops.iter() {
            if l.depth % 2 == 1 {
                if let Some(p) = l.parent {
                    if slot[p] != usize::MAX {
                        shapes[slot[p]].push(l.points.clone());
                    }
                }
            }
        }
        Region { shapes }
    }

    /// No area.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// Area, mm².
    pub fn area(&self) -> f64 {
        self.shapes
            .iter()
            .flat_map(|s| s.iter())
            .map(|c| signed_area(c))
            .sum()
    }

    /// Every boundary loop (outer and holes).
    pub fn loops(&self) -> impl Iterator<Item = &Vec<Pt>> {
        self.shapes.iter().flat_map(|s| s.iter())
    }

    /// True when `q` lies inside the region (even–odd over all loops).
    pub fn contains(&self, q: Pt) -> bool {
        self.loops().filter(|c| contains(c, q)).count() % 2 == 1
    }

    /// Distance from `q` to the region's boundary, mm.
    pub fn boundary_distance(&self, q: Pt) -> f64 {
        let mut best = f64::INFINITY;
        for c in self.loops() {
            for i in 0..c.len() {
                best = best.min(seg_dist(q, c[i], c[(i + 1) % c.len()]));
            }
        }
        best
    }

    /// The region grown (`d > 0`) or shrunk (`d < 0`) by `|d|` mm, with round corners.
    pub fn offset(&self, d: f64) -> Region {
        if self.shapes.is_empty() || d == 0.0 {
            return self.clone();
        }
        // Round joins: the exact offset (Minkowski sum with a disc), arcs in 0.1 rad steps.
        let style = OutlineStyle::new(d).line_join(LineJoin::Round(0.1));
        let shapes: Vec<Vec<Vec<Pt>>> = self.shapes.outline(&style);
        Region::clean(shapes)
    }

    /// `self − other`.
    pub fn difference(&self, other: &Region) -> Region {
        self.op(other, OverlayRule::Difference)
    }

    /// `self ∩ other`.
    pub fn intersection(&self, other: &Region) -> Region {
        self.op(other, OverlayRule::Intersect)
    }

    /// `self ∪ other`.
    pub fn union(&self, other: &Region) -> Region {
        self.op(other, OverlayRule::Union)
    }

    fn op(&self, other: &Region, rule: OverlayRule) -> Region {
        if self.shapes.is_empty() {
            return match rule {
                OverlayRule::Union => other.clone(),
                _ => Region::default(),
            };
        }
        if other.shapes.is_empty() {
            return match rule {
                OverlayRule::Intersect => Region::default(),
                _ => self.clone(),
            };
        }
        let r: Vec<Vec<Vec<Pt>>> = self.shapes.overlay(&other.shapes, rule, FillRule::NonZero);
        Region::clean(r)
    }

    /// The parts of the polylines `lines` inside the region (boundary excluded).
    pub fn clip_lines(&self, lines: &[Vec<Pt>]) -> Vec<Vec<Pt>> {
        if self.shapes.is_empty() || lines.is_empty() {
            return Vec::new();
        }
        let rule = ClipRule {
            invert: false,
            boundary_included: false,
        };
        let lines: Vec<Vec<Pt>> = lines.to_vec();
        let out: Vec<Vec<Pt>> = lines.clip_by(&self.shapes, FillRule::NonZero, rule);
        out.into_iter().filter(|p| p.len() >= 2).collect()
    }

    fn clean(shapes: Vec<Vec<Vec<Pt>>>) -> Region {
        let mut out = Vec::with_capacity(shapes.len());
        for shape in shapes {
            let mut shape: Vec<Vec<Pt>> = shape
                .into_iter()
                .map(|mut c| {
                    remove_needles(&mut c);
                    c
                })
                .collect();
            if shape.is_empty() || shape[0].len() < 3 {
                continue;
            }
            shape.retain(|c| c.len() >= 3);
            out.push(shape);
        }
        Region { shapes: out }
    }
}

/// Removes zero-width needles (the path turning straight back) and repeated points, which
/// i_overlay's outline leaves where the input has segments shorter than the offset. They
/// enclose no area, so the region is unchanged.
fn remove_needles(c: &mut Vec<Pt>) {
    fn needle(a: Pt, b: Pt, c: Pt) -> bool {
        let (u, v) = ([b[0] - a[0], b[1] - a[1]], [c[0] - b[0], c[1] - b[1]]);
        let (lu, lv) = (u[0].hypot(u[1]), v[0].hypot(v[1]));
        if lu < 1e-6 || lv < 1e-6 {
            return true;
        }
        let cross = u[0] * v[1] - u[1] * v[0];
        let dot = u[0] * v[0] + u[1] * v[1];
        dot < 0.0 && cross.abs() <= 1e-3 * lu * lv
    }
    let mut out: Vec<Pt> = Vec::with_capacity(c.len());
    for &p in c.iter() {
        out.push(p);
        while out.len() >= 3 {
            let n = out.len();
            if needle(out[n - 3], out[n - 2], out[n - 1]) {
                out.remove(n - 2);
            } else {
                break;
            }
        }
    }
    while out.len() >= 3 {
        let n = out.len();
        if needle(out[n - 2], out[n - 1], out[0]) {
            out.pop();
        } else if needle(out[n - 1], out[0], out[1]) {
            out.remove(0);
        } else {
            break;
        }
    }
    *c = out;
}

fn seg_dist(q: Pt, a: Pt, b: Pt) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 {
        (((q[0] - a[0]) * dx + (q[1] - a[1]) * dy) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (x, y) = (a[0] + t * dx - q[0], a[1] + t * dy - q[1]);
    (x * x + y * y).sqrt()
}

/// Parallel lines at `angle_deg` from the x axis, `spacing` mm apart, covering `region`'s
/// bounds; line `i` has phase `i·spacing` from a grid anchored at the origin (so layers
/// line up), and alternate lines run in opposite directions (a zig-zag order).
pub(crate) fn hatch_lines(region: &Region, spacing: f64, angle_deg: f64) -> Vec<Vec<Pt>> {
    let (s, c) = angle_deg.to_radians().sin_cos();
    // Rotate points into the hatch frame: u along the lines, v across.
    let (mut umin, mut umax, mut vmin, mut vmax) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for l in region.loops() {
        for p in l {
            let u = p[0] * c + p[1] * s;
            let v = -p[0] * s + p[1] * c;
            umin = umin.min(u);
            umax = umax.max(u);
            vmin = vmin.min(v);
            vmax = vmax.max(v);
        }
    }
    if !umin.is_finite() || spacing <= 0.0 {
        return Vec::new();
    }
    let (u0, u1) = (umin - 1.0, umax + 1.0);
    let i0 = (vmin / spacing).floor() as i64;
    let i1 = (vmax / spacing).ceil() as i64;
    let mut out = Vec::with_capacity((i1 - i0 + 1).max(0) as usize);
    for i in i0..=i1 {
        // Half a spacing off the grid so lines never run along the axis-aligned walls.
        let v = (i as f64 + 0.5) * spacing;
        if v <= vmin || v >= vmax {
            continue;
        }
        let a = [u0 * c - v * s, u0 * s + v * c];
        let b = [u1 * c - v * s, u1 * s + v * c];
        out.push(if i % 2 == 0 { vec![a, b] } else { vec![b, a] });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, s: f64) -> Vec<Pt> {
        vec![[x0, y0], [x0 + s, y0], [x0 + s, y0 + s], [x0, y0 + s]]
    }

    #[test]
    fn offsets_and_booleans_have_the_analytic_areas() {
        let r = Region {
            shapes: vec![vec![square(0.0, 0.0, 10.0), {
                let mut h = square(4.0, 4.0, 2.0);
                h.reverse();
                h
            }]],
        };
        assert!((r.area() - 96.0).abs() < 1e-9);
        let shrunk = r.offset(-1.0);
        // Outer 8×8; the 2×2 hole grows by 1 with round corners: 4 + 8 + π.
        let want = 64.0 - (12.0 + std::f64::consts::PI);
        assert!((shrunk.area() - want).abs() < 0.01, "{}", shrunk.area());
        assert!(
            shrunk.contains([1.5, 1.5])
                && !shrunk.contains([0.5, 5.0])
                && !shrunk.contains([3.5, 5.0])
        );
        let grown = r.offset(1.0);
        assert!(
            grown.area() > 143.0 && grown.area() <= 144.0 + 1e-6,
            "{}",
            grown.area()
        );
        let other = Region {
            shapes: vec![vec![square(5.0, -5.0, 10.0)]],
        };
        assert!((r.intersection(&other).area() - (25.0 - 1.0)).abs() < 1e-6);
        assert!((r.difference(&other).area() - (96.0 - 24.0)).abs() < 1e-6);
        let lines = hatch_lines(&r, 1.0, 0.0);
        let clipped = r.clip_lines(&lines);
        let len: f64 = clipped.iter().map(|p| (p[1][0] - p[0][0]).abs()).sum();
        assert!((len - 96.0).abs() < 1e-6, "{len}");
    }
}
