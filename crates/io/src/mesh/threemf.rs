//! 3MF (3D Manufacturing Format, core specification 1.x): a zip package holding
//! `[Content_Types].xml`, `_rels/.rels` and `3D/3dmodel.model`, the model in millimetres
//! (`unit="millimeter"`), one object of type `model` and one build item.
//!
//! The writer produces the same bytes for the same mesh: entries in a fixed order, a fixed
//! 1980-01-01 timestamp, fixed permissions and host system, deflate at level 6, and numbers
//! in Rust's shortest round-trip formatting. The frame goes into the `Description` metadata.
//!
//! The reader is a small, tolerant scan of the model part (found through `_rels/.rels`, else
//! `3D/3dmodel.model`) for `<vertex x= y= z=>` and `<triangle v1= v2= v3=>`; each `<mesh>`
//! starts a new vertex numbering, so several objects are concatenated. Build transforms,
//! components and extensions are ignored: it reads osteon's own files and simple others.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use osteon_geom::Vec3;
use osteon_mesh::Mesh;
use zip::write::SimpleFileOptions;

use super::{finish, header_line, MeshWriteOptions};
use crate::IoError;

const MODEL_PATH: &str = "3D/3dmodel.model";
/// Refuse to inflate a model part past this (a zip bomb guard; 4 GiB of XML is ~40 M
/// triangles).
const MAX_MODEL_BYTES: u64 = 4 << 30;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
 <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
 <Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>
</Types>
"#;

const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
 <Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>
</Relationships>
"#;

fn zip_err(e: zip::result::ZipError) -> std::io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

/// The model XML of `mesh`.
fn model_xml(mesh: &Mesh, opts: &MeshWriteOptions) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(64 * mesh.positions.len() + 48 * mesh.triangles.len());
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(
        "<model unit=\"millimeter\" xml:lang=\"en-US\" \
         xmlns=\"http://schemas.microsoft.com/3dmanufacturing/core/2015/02\">\n",
    );
    let _ = writeln!(
        s,
        " <metadata name=\"Application\">osteon {}</metadata>",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        s,
        " <metadata name=\"Description\">{}</metadata>",
        header_line(opts)
    );
    s.push_str(" <resources>\n  <object id=\"1\" type=\"model\">\n   <mesh>\n    <vertices>\n");
    for p in &mesh.positions {
        let _ = writeln!(
            s,
            "     <vertex x=\"{}\" y=\"{}\" z=\"{}\"/>",
            p.x, p.y, p.z
        );
    }
    s.push_str("    </vertices>\n    <triangles>\n");
    for t in &mesh.triangles {
        let _ = writeln!(
            s,
            "     <triangle v1=\"{}\" v2=\"{}\" v3=\"{}\"/>",
            t[0], t[1], t[2]
        );
    }
    s.push_str("    </triangles>\n   </mesh>\n  </object>\n </resources>\n");
    s.push_str(" <build>\n  <item objectid=\"1\"/>\n </build>\n</model>\n");
    s.into_bytes()
}

/// Writes `mesh` as a 3MF package to `w` (assembled in memory first: zip needs to seek).
pub fn write_3mf<W: Write + ?Sized>(
    mesh: &Mesh,
    w: &mut W,
    opts: &MeshWriteOptions,
) -> std::io::Result<()> {
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
        .system(zip::System::Unix);
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let parts: [(&str, Vec<u8>); 3] = [
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes().to_vec()),
        ("_rels/.rels", RELS.as_bytes().to_vec()),
        (MODEL_PATH, model_xml(mesh, opts)),
    ];
    for (name, data) in parts {
        let options = if data.len() as u64 >= u32::MAX as u64 {
            options.large_file(true)
        } else {
            options
        };
        z.start_file(name, options).map_err(zip_err)?;
        z.write_all(&data)?;
    }
    let buf = z.finish().map_err(zip_err)?.into_inner();
    w.write_all(&buf)
}

/// The value of attribute `name` in the attribute text of a tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    loop {
        let i = rest.find(name)?;
        let before_ok = i == 0 || rest.as_bytes()[i - 1].is_ascii_whitespace();
        let after = rest[i + name.len()..].trim_start();
        if before_ok {
            if let Some(after) = after.strip_prefix('=') {
                let after = after.trim_start();
                let q = after.chars().next()?;
                if q == '"' || q == '\'' {
                    let end = after[1..].find(q)?;
                    return Some(&after[1..1 + end]);
                }
            }
        }
        rest = &rest[i + name.len()..];
    }
}

/// Reads a 3MF package (the caller saw the zip signature).
pub(super) fn read(bytes: &[u8], path: &Path) -> Result<Mesh, IoError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| IoError::malformed(path, format!("3MF is not a readable zip: {e}")))?;
    let mut read_part = |name: &str| -> Result<Option<String>, IoError> {
        let mut f = match archive.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(IoError::malformed(path, format!("3MF part {name}: {e}"))),
        };
        let mut data = Vec::new();
        (&mut f)
            .take(MAX_MODEL_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| IoError::malformed(path, format!("3MF part {name}: {e}")))?;
        if data.len() as u64 > MAX_MODEL_BYTES {
            return Err(IoError::TooLarge {
                path: path.to_path_buf(),
                reason: format!("3MF part {name} inflates past {MAX_MODEL_BYTES} bytes"),
            });
        }
        String::from_utf8(data)
            .map(Some)
            .map_err(|_| IoError::malformed(path, format!("3MF part {name} is not UTF-8")))
    };
    // The start part named by the package relationships, else the usual name.
    let mut model_name = MODEL_PATH.to_string();
    if let Some(rels) = read_part("_rels/.rels")? {
        for tag in rels.split('<').filter(|t| t.starts_with("Relationship ")) {
            if attr(tag, "Type").is_some_and(|t| t.ends_with("/3dmodel")) {
                if let Some(target) = attr(tag, "Target") {
                    model_name = target.trim_start_matches('/').to_string();
                }
            }
        }
    }
    let model = read_part(&model_name)?.ok_or_else(|| {
        IoError::malformed(path, format!("3MF package has no model part {model_name}"))
    })?;
    let mut positions: Vec<Vec3> = Vec::new();
    let mut triangles: Vec<[u32; 3]> = Vec::new();
    let mut base = 0usize;
    let mut has_model = false;
    for tag in model.split('<').skip(1) {
        let name_end = tag
            .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            .unwrap_or(tag.len());
        let full = &tag[..name_end];
        let local = full.rsplit(':').next().unwrap_or(full);
        match local {
            "model" => has_model = true,
            "mesh" => base = positions.len(),
            "vertex" => {
                let mut c = [0f32; 3];
                for (v, a) in c.iter_mut().zip(["x", "y", "z"]) {
                    let t = attr(&tag[name_end..], a).ok_or_else(|| {
                        IoError::malformed(path, format!("3MF vertex without '{a}'"))
                    })?;
                    *v = t.trim().parse().map_err(|_| {
                        IoError::malformed(path, format!("3MF vertex {a}='{t}' is not a number"))
                    })?;
                }
                positions.push(Vec3::from(c));
            }
            "triangle" => {
                let mut t = [0u32; 3];
                for (v, a) in t.iter_mut().zip(["v1", "v2", "v3"]) {
                    let s = attr(&tag[name_end..], a).ok_or_else(|| {
                        IoError::malformed(path, format!("3MF triangle without '{a}'"))
                    })?;
                    let i: u64 = s.trim().parse().map_err(|_| {
                        IoError::malformed(path, format!("3MF triangle {a}='{s}' is not an index"))
                    })?;
                    *v = u32::try_from(i + base as u64).unwrap_or(u32::MAX);
                }
                triangles.push(t);
            }
            _ => {}
        }
    }
    if !has_model {
        // Not XML of the 3MF core schema at all: say so rather than read an empty mesh.
        return Err(IoError::malformed(
            path,
            format!("3MF part {model_name} has no <model> element"),
        ));
    }
    finish(path, positions, triangles)
}
