//! Integration tests of osteon-mesh: topology and reports on analytic meshes.

mod cdt;
mod common;
mod decimate;
mod repair;
mod report;
mod self_intersect;
mod smooth;
mod union;
