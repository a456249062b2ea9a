//! oocr-report: figures (plotters, bundled font) and Markdown/HTML reports for oocr runs, and
//! `reproduce`, which reruns the paper's Sections 3–4 and checks its claims.

pub mod claims;
pub mod error;
pub mod plots;
pub mod report;
pub mod reproduce;

pub use error::{ReportError, Result};
