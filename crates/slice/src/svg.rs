//! SVG for inspection: one layer per file, or all layers as groups of one file.
//!
//! Coordinates are millimetres (`viewBox` in mm, y flipped so +y points up as in the
//! printer frame). Material is filled with the non-zero rule, so holes show as holes; open
//! polylines (open meshes) are drawn in red.

use std::io::Write;

use crate::{Layer, SliceError};

/// The drawing bounds: [xmin, ymin, xmax, ymax], mm (with a margin added by the writer).
pub type Bounds = [f64; 4];

fn header(w: &mut dyn Write, b: Bounds) -> std::io::Result<()> {
    let m = 1.0;
    let (x0, y0, x1, y1) = (b[0] - m, b[1] - m, b[2] + m, b[3] + m);
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.3}mm" height="{:.3}mm" viewBox="{:.4} {:.4} {:.4} {:.4}">"#,
        x1 - x0,
        y1 - y0,
        x0,
        -y1,
        x1 - x0,
        y1 - y0
    )
}

fn layer_group(w: &mut dyn Write, layer: &Layer, visible: bool) -> std::io::Result<()> {
    writeln!(
        w,
        r#"<g id="layer-{}" data-z-mm="{:.6}" transform="scale(1,-1)"{}>"#,
        layer.index,
        layer.z_mm,
        if visible {
            ""
        } else {
            r#" style="display:none""#
        }
    )?;
    if !layer.loops.is_empty() {
        write!(
            w,
            r##"<path fill="#3a6ea5" fill-rule="nonzero" stroke="black" stroke-width="0.05" d=""##
        )?;
        for l in &layer.loops {
            for (i, p) in l.points.iter().enumerate() {
                write!(
                    w,
                    "{}{:.5} {:.5} ",
                    if i == 0 { "M" } else { "L" },
                    p[0],
                    p[1]
                )?;
            }
            write!(w, "Z ")?;
        }
        writeln!(w, r#""/>"#)?;
    }
    for o in &layer.open {
        write!(
            w,
            r#"<polyline fill="none" stroke="red" stroke-width="0.1" points=""#
        )?;
        for p in o {
            write!(w, "{:.5},{:.5} ", p[0], p[1])?;
        }
        writeln!(w, r#""/>"#)?;
    }
    writeln!(w, "</g>")
}

/// Writes one layer as a complete SVG document.
pub fn write_layer(layer: &Layer, bounds: Bounds, w: &mut dyn Write) -> Result<(), SliceError> {
    header(w, bounds)?;
    layer_group(w, layer, true)?;
    writeln!(w, "</svg>")?;
    Ok(())
}

/// Writes every layer into one SVG document, one `<g id="layer-K">` group per layer; only
/// the first is visible (show others by editing the `display` style).
pub fn write_layers(layers: &[Layer], bounds: Bounds, w: &mut dyn Write) -> Result<(), SliceError> {
    header(w, bounds)?;
    for (i, l) in layers.iter().enumerate() {
        layer_group(w, l, i == 0)?;
    }
    writeln!(w, "</svg>")?;
    Ok(())
}

/// The x/y bounds of a set of layers, or `None` when they hold no point.
pub fn bounds(layers: &[Layer]) -> Option<Bounds> {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for l in layers {
        for p in l
            .loops
            .iter()
            .flat_map(|l| l.points.iter())
            .chain(l.open.iter().flatten())
        {
            b = [
                b[0].min(p[0]),
                b[1].min(p[1]),
                b[2].max(p[0]),
                b[3].max(p[1]),
            ];
        }
    }
    b[0].is_finite().then_some(b)
}
