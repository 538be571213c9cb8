//! Values read on every packet and replaced rarely (a dispatch table, a
//! resolver hook), read without a lock or a reference count.
//!
//! A reader loads a pointer; a writer builds the new value, swaps it in and
//! keeps the old one until the cell itself goes, so a reader that loaded it
//! never sees it freed (FreeBSD reaches the same with epochs; here the
//! writes are few enough — module attach and detach — that keeping every
//! replaced value costs nothing worth reclaiming).

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// A read-mostly value (see the module).
pub struct RcuCell<T> {
    cur: AtomicPtr<T>,
    /// Values replaced, and the lock writers take.
    #[allow(clippy::vec_box)]
    retired: Mutex<Vec<Box<T>>>,
}

// SAFETY: the cell hands out `&T` to any thread and moves `T`s between
// threads (the writer's into the cell, dropped by whoever drops the cell).
unsafe impl<T: Send + Sync> Sync for RcuCell<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for RcuCell<T> {}

impl<T> Default for RcuCell<T> {
    fn default() -> Self {
        RcuCell {
            cur: AtomicPtr::new(std::ptr::null_mut()),
            retired: Mutex::new(Vec::new()),
        }
    }
}

impl<T> RcuCell<T> {
    /// An empty cell.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current value: a load.
    pub fn get(&self) -> Option<&T> {
        let p = self.cur.load(Ordering::Acquire);
        // SAFETY: `cur` is null or a Box leaked by `replace`, freed only when
        // the cell drops (a replaced one moves to `retired`).
        unsafe { p.as_ref() }
    }

    /// Make `v` (or nothing) the value; the old one is kept until the cell goes.
    pub fn replace(&self, v: Option<T>) {
        let Ok(mut retired) = self.retired.lock() else {
            return;
        };
        self.swap_locked(&mut retired, v);
    }

    /// Build the new value from the current one (writers serialized).
    pub fn update(&self, f: impl FnOnce(Option<&T>) -> Option<T>) {
        let Ok(mut retired) = self.retired.lock() else {
            return;
        };
        let next = f(self.get());
        self.swap_locked(&mut retired, next);
    }

    fn swap_locked(&self, retired: &mut Vec<Box<T>>, v: Option<T>) {
        let new = v.map_or(std::ptr::null_mut(), |v| Box::into_raw(Box::new(v)));
        let old = self.cur.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: from Box::into_raw here, now out of `cur`.
            retired.push(unsafe { Box::from_raw(old) });
        }
    }
}

impl<T> Drop for RcuCell<T> {
    fn drop(&mut self) {
        let p = self.cur.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: from Box::into_raw in `swap_locked`; `&mut self` means
            // no reader holds it.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_read_before_a_replace_stays_valid() {
        let c: RcuCell<Vec<u32>> = RcuCell::new();
        assert!(c.get().is_none());
        c.replace(Some(vec![1]));
        let old = c.get().unwrap();
        c.update(|v| {
            let mut v = v.cloned().unwrap_or_default();
            v.push(2);
            Some(v)
        });
        assert_eq!(old, &vec![1]);
        assert_eq!(c.get(), Some(&vec![1, 2]));
        c.replace(None);
        assert!(c.get().is_none());
    }
}
