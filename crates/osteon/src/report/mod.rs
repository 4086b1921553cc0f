//! Self-contained HTML reports: rendered views of the meshes (PNG data URIs from the
//! software rasteriser in [`render`]), tables of every step's report and check, and for a
//! batch a sortable summary table. No network access, no external file: one `.html` opens
//! anywhere. Deterministic: no time stamps or timings in a run's report.

pub mod render;

use serde_json::Value;

use crate::pipeline::{reports_json, RunOutput, GIT_REVISION};
use render::{Colouring, View, BONE, IMPLANT};

/// Escapes `&`, `<`, `>` and quotes for HTML text and attributes.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#1d232a;background:#fff}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccd}h3{font-size:15px}\
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ccd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#eef1f6}.pass{color:#11772e;font-weight:600}.fail{color:#b3141c;font-weight:600}\
.views{display:flex;flex-wrap:wrap;gap:10px}.views figure{margin:0}.views figcaption{font-size:12px;color:#555;text-align:center}\
img.view{border:1px solid #ccd;display:block}th.sort{cursor:pointer}code{font-size:12px}";

/// `<img>` tags of the standard views of a mesh.
pub fn views_html(
    mesh: &osteon_mesh::Mesh,
    frame: osteon_geom::Frame,
    size: u32,
    colouring: &Colouring<'_>,
    alt: &str,
) -> String {
    let mut s = String::from("<div class=\"views\">");
    for v in View::ALL {
        let rgb = render::render(mesh, v, frame, size, colouring);
        let png = render::png(&rgb, size);
        s.push_str(&format!(
            "<figure><img class=\"view\" alt=\"{} {}\" width=\"{size}\" height=\"{size}\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>",
            escape(alt),
            escape(v.caption(frame)),
            render::base64(&png),
            escape(v.caption(frame))
        ));
    }
    s.push_str("</div>");
    s
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                if f != 0.0 && (f.abs() >= 1e6 || f.abs() < 1e-3) {
                    format!("{f:.4e}")
                } else {
                    format!("{f:.4}")
                }
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A two-column table of a JSON report (nested objects become dotted keys; arrays of
/// scalars are joined).
pub fn report_table(v: &Value) -> String {
    let mut rows = Vec::new();
    flatten(v, "", &mut rows);
    let mut s = String::from("<table>");
    for (k, val) in rows {
        s.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(&k),
            escape(&val)
        ));
    }
    s.push_str("</table>");
    s
}

fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(x, &key, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let parts: Vec<String> = a.iter().map(scalar).collect();
            out.push((prefix.into(), format!("[{}]", parts.join(", "))));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(x, &format!("{prefix}[{i}]"), out);
            }
        }
        x => out.push((prefix.into(), scalar(x))),
    }
}

fn checks_table(out: &RunOutput) -> String {
    if out.checks.is_empty() {
        return "<p>No checks in the recipe.</p>".into();
    }
    let mut s =
        String::from("<table><tr><th>check</th><th>limit</th><th>value</th><th>result</th></tr>");
    for c in &out.checks {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(&c.check),
            escape(&c.limit),
            escape(&c.value),
            if c.pass { "pass" } else { "fail" },
            if c.pass { "pass" } else { "FAIL" }
        ));
    }
    s.push_str("</table>");
    s
}

/// The body of one scan's report (pictures, checks, tables), without `<html>`.
pub fn run_section(out: &RunOutput, mesh_files: &[String]) -> String {
    let size = out.recipe.output.image_px;
    let mut s = String::new();
    s.push_str(&format!(
        "<p>Input <code>{}</code> · recipe <b>{}</b> · frame {} · units mm · result <span class=\"{}\">{}</span></p>",
        escape(&out.input_name),
        escape(&out.recipe.name),
        out.frame.name(),
        if out.passed() { "pass" } else { "fail" },
        if out.passed() { "PASS" } else { "FAIL" }
    ));
    s.push_str("<h2>Checks</h2>");
    s.push_str(&checks_table(out));
    for (i, m) in out.meshes.iter().enumerate() {
        let file = mesh_files.get(i).cloned().unwrap_or_else(|| m.name.clone());
        s.push_str(&format!("<h2>Mesh <code>{}</code></h2>", escape(&file)));
        if let Some(d) = &m.signed_distance_mm {
            s.push_str(&distance_map_html(out, &m.mesh, d, size));
            s.push_str(
                &serde_json::to_value(&m.report)
                    .map(|v| report_table(&v))
                    .unwrap_or_default(),
            );
            continue;
        }
        let colour = if i == 0 { BONE } else { IMPLANT };
        s.push_str(&views_html(
            &m.mesh,
            out.frame,
            size,
            &Colouring::Solid(colour),
            &m.name,
        ));
        s.push_str(
            &serde_json::to_value(&m.report)
                .map(|v| report_table(&v))
                .unwrap_or_default(),
        );
    }
    s.push_str("<h2>Step reports</h2>");
    if let Ok(Value::Object(reports)) = reports_json(out) {
        for (name, v) in &reports {
            if name == "meshes" || v.is_null() {
                continue;
            }
            s.push_str(&format!("<h3>{}</h3>", escape(name)));
            if name == "slice" {
                // The per-layer lists are in report.json; the table keeps the totals.
                let mut v = v.clone();
                if let Some(r) = v.get_mut("report").and_then(Value::as_object_mut) {
                    r.remove("per_layer");
                }
                if let Some(p) = v.get_mut("png").and_then(Value::as_object_mut) {
                    p.remove("layer_table");
                }
                s.push_str(&report_table(&v));
                continue;
            }
            s.push_str(&report_table(v));
        }
    }
    s.push_str("<h2>Effective options</h2>");
    if let Ok(v) = serde_json::to_value(&out.recipe) {
        s.push_str(&report_table(&v));
    }
    s
}

/// Largest |value| of a map, at least 0.05 mm (so a perfect fit is not all saturated).
fn map_limit(d: &[f32]) -> f32 {
    d.iter()
        .filter(|v| v.is_finite())
        .fold(0.05f32, |a, v| a.max(v.abs()))
}

/// The implant's signed distance map: the implant alone (every side, coloured), the bone
/// with the implant in place, and the legend.
pub fn distance_map_html(
    out: &RunOutput,
    implant: &osteon_mesh::Mesh,
    d: &[f32],
    size: u32,
) -> String {
    let limit = map_limit(d);
    let mut s = String::from(
        "<h3>Signed distance of the implant to the bone (blue: inside the bone, white: touching, red: away)</h3>",
    );
    s.push_str(&views_html(
        implant,
        out.frame,
        size,
        &Colouring::Scalar { values: d, limit },
        "implant distance map",
    ));
    s.push_str(&legend_html(limit));
    // Bone and implant together, the implant coloured by its map.
    let bone = &out.bone().mesh;
    let off = bone.positions.len() as u32;
    let positions: Vec<_> = bone
        .positions
        .iter()
        .chain(&implant.positions)
        .copied()
        .collect();
    let triangles: Vec<[u32; 3]> = bone
        .triangles
        .iter()
        .copied()
        .chain(implant.triangles.iter().map(|t| t.map(|i| i + off)))
        .collect();
    let colours: Vec<[f32; 3]> = std::iter::repeat_n(BONE, bone.positions.len())
        .chain(d.iter().map(|v| render::diverging(v / limit)))
        .collect();
    if let Ok(both) = osteon_mesh::Mesh::new(positions, triangles) {
        s.push_str("<h3>Bone with the implant in place</h3>");
        s.push_str(&views_html(
            &both,
            out.frame,
            size,
            &Colouring::PerVertex(&colours),
            "bone and implant",
        ));
    }
    s
}

/// A horizontal colour bar from `-limit` to `+limit` mm.
pub fn legend_html(limit: f32) -> String {
    let stops: Vec<String> = (0..=8)
        .map(|k| {
            let t = -1.0 + 0.25 * k as f32;
            let c = render::diverging(t);
            format!(
                "rgb({},{},{}) {}%",
                c[0] as u8,
                c[1] as u8,
                c[2] as u8,
                k * 100 / 8
            )
        })
        .collect();
    format!(
        "<div class=\"legend\"><div style=\"width:360px;height:16px;border:1px solid #889;background:linear-gradient(to right,{})\"></div><div style=\"width:360px;display:flex;justify-content:space-between;font-size:12px\"><span>{:.2} mm</span><span>0</span><span>+{:.2} mm</span></div></div>",
        stops.join(","),
        -limit,
        limit
    )
}

/// A complete `report.html` for one run.
pub fn run_html(out: &RunOutput, mesh_files: &[String]) -> String {
    page(
        &format!("osteon report: {}", out.recipe.name),
        &run_section(out, mesh_files),
        "",
    )
}

/// A full page around `body`, with `script` inlined.
pub fn page(title: &str, body: &str, script: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\n<body><h1>{t}</h1>\n<p>osteon {v} (git {g})</p>\n{body}\n{script}</body></html>\n",
        t = escape(title),
        v = env!("CARGO_PKG_VERSION"),
        g = escape(GIT_REVISION),
    )
}

/// Inline script that sorts any `table.sortable` by a clicked header (numbers numerically).
pub const SORT_SCRIPT: &str = "<script>\
document.querySelectorAll('table.sortable').forEach(function(t){\
t.querySelectorAll('th').forEach(function(th,i){th.classList.add('sort');th.addEventListener('click',function(){\
var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';var rows=Array.from(t.tBodies[0].rows);\
rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;\
var nx=parseFloat(x),ny=parseFloat(y);var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});\
rows.forEach(function(r){t.tBodies[0].appendChild(r);});});});});</script>";
