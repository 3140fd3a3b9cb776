//! The HTTP side of a stand-alone simulator: WebSocket `/ws/chat` for clients
//! and the admin API for tests (see README.md).
