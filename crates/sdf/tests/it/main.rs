//! Integration tests of osteon-sdf.
mod analytic;
mod check;
mod ops;
mod real;
