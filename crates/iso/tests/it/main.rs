//! Integration tests of osteon-iso: watertightness, manifoldness, orientation, analytic
//! shapes, determinism, fields and the real skull mask.

mod analytic;
mod check;
mod determinism;
mod field;
mod props;
mod skull;
