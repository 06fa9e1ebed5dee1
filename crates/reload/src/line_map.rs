//! Where a line of the old source is in the new one.
//!
//! A breakpoint sits on a statement. When lines are inserted or removed
//! above it, the statement moves and the breakpoint must follow it; when the
//! statement itself is deleted, the breakpoint has nowhere to go. The map is
//! a line diff (Myers, from the `similar` crate) of the two versions:
//! unchanged lines map to their new position; a block of lines replaced by a
//! block of the same length maps line for line (a statement edited in place);
//! anything else is gone.

use similar::{DiffOp, TextDiff};

/// What became of one old line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFate {
    /// Still there, possibly at another line (1-based).
    At(u32),
    /// Deleted, or rewritten beyond recognition.
    Gone,
}

#[derive(Debug, Clone)]
pub struct LineMap {
    /// `old_to_new[i]` is the fate of old line `i + 1`.
    old_to_new: Vec<LineFate>,
}

impl LineMap {
    pub fn new(old: &str, new: &str) -> LineMap {
        let diff = TextDiff::from_lines(old, new);
        let old_lines = old.lines().count().max(count_lines(old));
        let mut old_to_new = vec![LineFate::Gone; old_lines];
        for op in diff.ops() {
            match *op {
                DiffOp::Equal {
                    old_index,
                    new_index,
                    len,
                } => {
                    for i in 0..len {
                        set(&mut old_to_new, old_index + i, new_index + i);
                    }
                }
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } if old_len == new_len => {
                    for i in 0..old_len {
                        set(&mut old_to_new, old_index + i, new_index + i);
                    }
                }
                _ => {}
            }
        }
        LineMap { old_to_new }
    }

    /// The fate of old line `line` (1-based). Lines past the end are gone.
    pub fn map(&self, line: u32) -> LineFate {
        match line.checked_sub(1) {
            Some(index) => self.old_to_new.get(index as usize).copied().unwrap_or(LineFate::Gone),
            None => LineFate::Gone,
        }
    }
}

fn set(map: &mut [LineFate], old_index: usize, new_index: usize) {
    if let Some(slot) = map.get_mut(old_index) {
        *slot = LineFate::At(u32::try_from(new_index + 1).unwrap_or(u32::MAX));
    }
}

/// Lines as the diff counts them: a last line without a newline counts.
fn count_lines(text: &str) -> usize {
    text.split_inclusive('\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "defmodule A do\n  def f(x) do\n    y = x + 1\n    y * 2\n  end\nend\n";

    #[test]
    fn unchanged_source_maps_every_line_to_itself() {
        let map = LineMap::new(OLD, OLD);
        for line in 1..=6 {
            assert_eq!(map.map(line), LineFate::At(line));
        }
    }

    #[test]
    fn lines_inserted_above_move_a_statement_down() {
        let new = "defmodule A do\n  @moduledoc false\n\n  def f(x) do\n    y = x + 1\n    y * 2\n  end\nend\n";
        let map = LineMap::new(OLD, new);
        assert_eq!(map.map(3), LineFate::At(5));
        assert_eq!(map.map(4), LineFate::At(6));
        assert_eq!(map.map(1), LineFate::At(1));
    }

    #[test]
    fn lines_removed_above_move_a_statement_up() {
        let old = "defmodule A do\n  # one\n  # two\n  def f(x) do\n    x\n  end\nend\n";
        let new = "defmodule A do\n  def f(x) do\n    x\n  end\nend\n";
        let map = LineMap::new(old, new);
        assert_eq!(map.map(5), LineFate::At(3));
        assert_eq!(map.map(2), LineFate::Gone);
    }

    #[test]
    fn a_deleted_statement_is_gone() {
        let new = "defmodule A do\n  def f(x) do\n    x * 2\n  end\nend\n";
        let map = LineMap::new(OLD, new);
        // `y = x + 1` and `y * 2` were replaced by one line: no safe target.
        assert_eq!(map.map(3), LineFate::Gone);
        assert_eq!(map.map(5), LineFate::At(4));
    }

    #[test]
    fn a_statement_edited_in_place_keeps_its_line() {
        let new = OLD.replace("x + 1", "x + 100");
        let map = LineMap::new(OLD, &new);
        assert_eq!(map.map(3), LineFate::At(3));
    }

    #[test]
    fn lines_out_of_range_are_gone() {
        let map = LineMap::new(OLD, OLD);
        assert_eq!(map.map(0), LineFate::Gone);
        assert_eq!(map.map(99), LineFate::Gone);
    }

    #[test]
    fn a_last_line_without_newline_is_mapped() {
        let map = LineMap::new("a\nb", "x\na\nb");
        assert_eq!(map.map(2), LineFate::At(3));
    }
}
