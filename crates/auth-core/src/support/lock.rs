//! Taking a mutex that a panicking thread may have poisoned.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking it over if a thread panicked while holding it.
///
/// Every mutex in this server guards data that stays valid between any two
/// statements (a map, a counter table, an SQLite connection whose open
/// transaction SQLite rolls back), so a panic elsewhere is no reason to
/// fail every later request that needs the lock.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
