//! Integration tests of osteon-mesh: topology and reports on analytic meshes.

mod report;
