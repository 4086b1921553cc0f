//! PNG layer stacks for resin printers (DLP, SLA, MSLA).
//!
//! Each layer becomes an 8-bit greyscale image: 255 where the layer has material, 0
//! elsewhere, with partial values on the border when anti-aliasing is on. Row 0 is the
//! largest y (images are seen from above, +y up); column 0 the smallest x.
//!
//! Rasterisation is a scan-line fill with the non-zero winding rule. Without anti-aliasing
//! a pixel is lit when its centre is inside. With anti-aliasing `n`, each pixel row is
//! sampled by `n` scan lines and the covered length of each line inside every pixel is
//! integrated exactly, so the grey level is the pixel's covered fraction (n rows × exact
//! x). In both cases the lit area differs from the contour area by at most about one pixel
//! row along the perimeter.
//!
//! A stack can be bundled into one zip archive with a `header.json` carrying the exposure
//! settings ([`PngOptions`]) and the layer table.

use std::io::{Seek, Write};

use serde::{Deserialize, Serialize};

use crate::{Layer, SliceError};

/// Options of the PNG stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct PngOptions {
    /// Pixel size in the build plane, mm (square pixels).
    pub pixel_size_mm: f64,
    /// Image size in pixels [width, height]; `None` sizes the image to the part plus
    /// `margin_px` on each side. With a size given, the part is centred.
    pub resolution: Option<[u32; 2]>,
    /// Border around the part when the resolution is automatic, pixels.
    pub margin_px: u32,
    /// Anti-aliasing: scan lines per pixel row (1 = off, binary pixels).
    pub anti_alias: u32,
    /// Exposure of normal layers, s (header only).
    pub exposure_s: f64,
    /// Exposure of the first layers, s (header only).
    pub bottom_exposure_s: f64,
    /// Number of bottom layers.
    pub bottom_layers: u32,
    /// Lift distance between layers, mm (header and time estimate).
    pub lift_mm: f64,
    /// Lift speed, mm/min.
    pub lift_speed_mm_min: f64,
    /// Resin density, g/cm³ (material estimate).
    pub resin_density_g_cm3: f64,
}

impl Default for PngOptions {
    fn default() -> Self {
        PngOptions {
            pixel_size_mm: 0.05,
            resolution: None,
            margin_px: 4,
            anti_alias: 4,
            exposure_s: 2.5,
            bottom_exposure_s: 25.0,
            bottom_layers: 4,
            lift_mm: 5.0,
            lift_speed_mm_min: 60.0,
            resin_density_g_cm3: 1.1,
        }
    }
}

impl PngOptions {
    /// Sets the pixel size, mm.
    pub fn with_pixel_size_mm(mut self, p: f64) -> Self {
        self.pixel_size_mm = p;
        self
    }
    /// Sets a fixed image size [width, height] in pixels.
    pub fn with_resolution(mut self, r: Option<[u32; 2]>) -> Self {
        self.resolution = r;
        self
    }
    /// Sets the anti-aliasing (scan lines per pixel row; 1 = off).
    pub fn with_anti_alias(mut self, n: u32) -> Self {
        self.anti_alias = n;
        self
    }
    /// Sets the normal and bottom exposures, s.
    pub fn with_exposure_s(mut self, normal: f64, bottom: f64) -> Self {
        self.exposure_s = normal;
        self.bottom_exposure_s = bottom;
        self
    }
}

/// Where the image lies in the build plane.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PngFrame {
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// x of the left image edge, mm.
    pub x0_mm: f64,
    /// y of the top image edge, mm.
    pub y_top_mm: f64,
    /// Pixel size, mm.
    pub pixel_mm: f64,
}

/// Most pixels of one PNG layer (20 000 × 20 000): a layer is one grey byte per pixel in
/// memory, so a larger frame (a typo in a resolution or a pixel size) would not fit.
pub const MAX_PNG_PIXELS: f64 = 4.0e8;

/// Refuses an explicit frame of `w` × `h` pixels that is empty or larger than
/// [`MAX_PNG_PIXELS`].
pub fn check_resolution(w: u32, h: u32) -> Result<(), SliceError> {
    if w == 0 || h == 0 {
        return Err(SliceError::InvalidOption(
            "resolution must be non-zero".into(),
        ));
    }
    if w as f64 * h as f64 > MAX_PNG_PIXELS {
        return Err(SliceError::InvalidOption(format!(
            "resolution {w} x {h}: more than {MAX_PNG_PIXELS:e} pixels per layer"
        )));
    }
    Ok(())
}

impl PngFrame {
    /// The frame for parts within `bounds` ([xmin, ymin, xmax, ymax], mm).
    pub fn new(bounds: [f64; 4], o: &PngOptions) -> Result<PngFrame, SliceError> {
        let p = o.pixel_size_mm;
        if !(p.is_finite() && p > 0.0) {
            return Err(SliceError::InvalidOption(format!(
                "pixel size must be a positive number of mm, got {p}"
            )));
        }
        if o.anti_alias == 0 || o.anti_alias > 16 {
            return Err(SliceError::InvalidOption(format!(
                "anti-aliasing must be 1..=16 scan lines per pixel, got {}",
                o.anti_alias
            )));
        }
        let (cx, cy) = (0.5 * (bounds[0] + bounds[2]), 0.5 * (bounds[1] + bounds[3]));
        let (w, h) = match o.resolution {
            Some([w, h]) => {
                check_resolution(w, h)?;
                let (need_w, need_h) = ((bounds[2] - bounds[0]) / p, (bounds[3] - bounds[1]) / p);
                if need_w > w as f64 || need_h > h as f64 {
                    return Err(SliceError::InvalidOption(format!(
                        "the part ({need_w:.0} x {need_h:.0} px) does not fit {w} x {h} px at {p} mm/px"
                    )));
                }
                (w, h)
            }
            None => {
                let w = ((bounds[2] - bounds[0]) / p).ceil() + 2.0 * o.margin_px as f64;
                let h = ((bounds[3] - bounds[1]) / p).ceil() + 2.0 * o.margin_px as f64;
                if w * h > MAX_PNG_PIXELS {
                    return Err(SliceError::InvalidOption(format!(
                        "{w:.0} x {h:.0} pixels at {p} mm/px is too large"
                    )));
                }
                (w as u32, h as u32)
            }
        };
        Ok(PngFrame {
            width: w,
            height: h,
            x0_mm: cx - 0.5 * w as f64 * p,
            y_top_mm: cy + 0.5 * h as f64 * p,
            pixel_mm: p,
        })
    }
}

/// Rasterises a layer: `width × height` grey values, row 0 at the top.
pub fn rasterize(layer: &Layer, frame: &PngFrame, anti_alias: u32) -> Vec<u8> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let n = anti_alias.max(1) as usize;
    let p = frame.pixel_mm;
    // Crossings (sub-row, x in pixel units, winding) of every edge with every scan line.
    let mut xs: Vec<(u32, f64, i32)> = Vec::new();
    for l in &layer.loops {
        let pts = &l.points;
        for i in 0..pts.len() {
            let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
            // Scan-line coordinates: v grows downward, in sub-rows.
            let va = (frame.y_top_mm - a[1]) / p * n as f64 - 0.5;
            let vb = (frame.y_top_mm - b[1]) / p * n as f64 - 0.5;
            if va == vb {
                continue;
            }
            let (lo, hi, dir) = if va < vb { (va, vb, 1) } else { (vb, va, -1) };
            // Sub-rows j with lo <= j < hi (half-open, so shared vertices count once).
            let j0 = lo.ceil().max(0.0) as i64;
            let j1 = (hi.ceil() as i64).min((h * n) as i64);
            let (ua, ub) = ((a[0] - frame.x0_mm) / p, (b[0] - frame.x0_mm) / p);
            for j in j0..j1 {
                let t = (j as f64 - va) / (vb - va);
                xs.push((j as u32, ua + t * (ub - ua), dir));
            }
        }
    }
    xs.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .partial_cmp(&(b.0, b.1))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut img = vec![0u8; w * h];
    let mut cov = vec![0f32; w];
    let mut k = 0;
    for row in 0..h {
        cov.iter_mut().for_each(|c| *c = 0.0);
        let mut any = false;
        for j in row * n..(row + 1) * n {
            let mut wind = 0;
            let mut start = 0.0;
            while k < xs.len() && xs[k].0 as usize == j {
                let (_, x, d) = xs[k];
                let was = wind != 0;
                wind += d;
                if !was && wind != 0 {
                    start = x;
                } else if was && wind == 0 {
                    any = true;
                    if n == 1 {
                        // Centres inside: pixel i lit when i + ½ ∈ [start, x).
                        let i0 = (start - 0.5).ceil().max(0.0) as usize;
                        let i1 = ((x - 0.5).ceil().max(0.0) as usize).min(w);
                        for c in cov.iter_mut().take(i1).skip(i0) {
                            *c = 1.0;
                        }
                    } else {
                        add_span(&mut cov, start, x, 1.0 / n as f32);
                    }
                }
                k += 1;
            }
        }
        if any {
            for (o, c) in img[row * w..(row + 1) * w].iter_mut().zip(&cov) {
                *o = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    img
}

fn add_span(row: &mut [f32], xa: f64, xb: f64, wgt: f32) {
    let wd = row.len() as f64;
    let (xa, xb) = (xa.clamp(0.0, wd), xb.clamp(0.0, wd));
    if xb <= xa {
        return;
    }
    let (ia, ib) = (xa.floor() as usize, xb.floor() as usize);
    if ia == ib {
        row[ia.min(row.len() - 1)] += ((xb - xa) as f32) * wgt;
        return;
    }
    row[ia] += ((ia as f64 + 1.0 - xa) as f32) * wgt;
    for c in &mut row[ia + 1..ib] {
        *c += wgt;
    }
    if ib < row.len() {
        row[ib] += ((xb - ib as f64) as f32) * wgt;
    }
}

/// Lit area of a raster, mm²: Σ grey/255 × pixel².
pub fn lit_area_mm2(img: &[u8], frame: &PngFrame) -> f64 {
    img.iter().map(|&v| v as f64).sum::<f64>() / 255.0 * frame.pixel_mm * frame.pixel_mm
}

/// Encodes a raster as an 8-bit greyscale PNG.
pub fn encode(img: &[u8], frame: &PngFrame, w: &mut dyn Write) -> Result<(), SliceError> {
    use image::ImageEncoder;
    image::codecs::png::PngEncoder::new_with_quality(
        w,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(img, frame.width, frame.height, image::ExtendedColorType::L8)
    .map_err(|e| SliceError::Encode(e.to_string()))
}

/// Rasterises and encodes one layer.
pub fn write_layer(
    layer: &Layer,
    frame: &PngFrame,
    o: &PngOptions,
    w: &mut dyn Write,
) -> Result<(), SliceError> {
    encode(&rasterize(layer, frame, o.anti_alias), frame, w)
}

/// The name of layer `k`'s image in a stack: `layer_00000.png`.
pub fn layer_file_name(k: usize) -> String {
    format!("layer_{k:05}.png")
}

/// The header of a PNG stack: printing settings and the layer table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackHeader {
    /// Always `osteon-png-stack`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Layer height, mm.
    pub layer_height_mm: f64,
    /// Image placement and size.
    pub frame: PngFrame,
    /// Exposure and lift settings.
    pub options: PngOptions,
    /// Number of layers.
    pub layers: usize,
    /// Estimated print time: exposures plus lifts (up and down), s.
    pub estimated_time_s: f64,
    /// Resin volume (Σ lit area × h), ml.
    pub resin_ml: f64,
    /// Resin mass, g.
    pub resin_g: f64,
    /// Per layer: file name, plane z (mm), lit area (mm²).
    pub layer_table: Vec<(String, f64, f64)>,
}

impl StackHeader {
    /// Builds the header from the per-layer (z, lit area) list.
    pub fn new(
        frame: PngFrame,
        o: &PngOptions,
        layer_height_mm: f64,
        z_and_area: &[(f64, f64)],
    ) -> StackHeader {
        let lift_s = if o.lift_speed_mm_min > 0.0 {
            2.0 * o.lift_mm / o.lift_speed_mm_min * 60.0
        } else {
            0.0
        };
        let time: f64 = (0..z_and_area.len())
            .map(|k| if (k as u32) < o.bottom_layers { o.bottom_exposure_s } else { o.exposure_s } + lift_s)
            .sum();
        let vol_mm3: f64 = z_and_area.iter().map(|&(_, a)| a * layer_height_mm).sum();
        StackHeader {
            format: "osteon-png-stack".into(),
            version: 1,
            layer_height_mm,
            frame,
            options: o.clone(),
            layers: z_and_area.len(),
            estimated_time_s: time,
            resin_ml: vol_mm3 / 1000.0,
            resin_g: vol_mm3 / 1000.0 * o.resin_density_g_cm3,
            layer_table: z_and_area
                .iter()
                .enumerate()
                .map(|(k, &(z, a))| (layer_file_name(k), z, a))
                .collect(),
        }
    }
}

/// Writes a zip bundle: `header.json` then one PNG per layer (`pngs[k]` already encoded).
/// Entries carry a fixed timestamp so the archive is byte-identical for identical input.
pub fn write_zip<W: Write + Seek>(
    header: &StackHeader,
    pngs: &[Vec<u8>],
    w: W,
) -> Result<(), SliceError> {
    let enc = |e: zip::result::ZipError| SliceError::Encode(e.to_string());
    let mut z = zip::ZipWriter::new(w);
    let base =
        zip::write::SimpleFileOptions::default().last_modified_time(zip::DateTime::default());
    z.start_file(
        "header.json",
        base.compression_method(zip::CompressionMethod::Deflated),
    )
    .map_err(enc)?;
    let text =
        serde_json::to_string_pretty(header).map_err(|e| SliceError::Encode(e.to_string()))?;
    z.write_all(text.as_bytes())?;
    for (k, png) in pngs.iter().enumerate() {
        z.start_file(
            layer_file_name(k),
            base.compression_method(zip::CompressionMethod::Stored),
        )
        .map_err(enc)?;
        z.write_all(png)?;
    }
    z.finish().map_err(enc)?;
    Ok(())
}
