//! Mesh file formats.
