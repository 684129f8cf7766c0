//! Helpers of the download tests.
pub mod http;
