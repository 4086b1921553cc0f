//! Integration tests of osteon-slice: exact contours against analytic and brute-force
//! oracles, the writers against independent in-test readers, and real bone meshes.

mod common;
mod data;
mod slicing;
mod writers;
