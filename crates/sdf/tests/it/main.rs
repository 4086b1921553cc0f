//! Integration tests of osteon-sdf.
mod analytic;
mod check;
mod crease;
mod ops;
mod real;
