//! Integration tests of osteon-volume's selection: threshold, labels, components, keep,
//! morphology, distance transform and `select`.

mod components;
mod distance;
mod morphology;
mod real_data;
mod select;
mod support;
mod threshold;
