//! Resource scripts: resolving a haresources entry to something runnable (spec §6.2).
