//! Giving freed heap memory back to the system.

/// Returns the pages glibc's malloc holds free, in every arena, to the
/// system (`malloc_trim(0)`). Building the project index frees more than it
/// keeps (the facts cache read whole, the index built from it); without this
/// those pages stay resident for the session. Does nothing on other
/// allocators.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
