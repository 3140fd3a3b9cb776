//! Outage notices for internet providers (seed 002). So far: phone numbers.

pub mod phone;
