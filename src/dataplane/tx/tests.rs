//! Transmit-path tests.
