//! The Heartbeat wire format (spec §1–§4): codec, authentication, builders, receive window.
//! No I/O here.
