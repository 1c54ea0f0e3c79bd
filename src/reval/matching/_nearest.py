"""Greedy nearest-neighbour matching on a one-dimensional distance, in O(N log N).

Same answers as MatchIt's greedy matcher (``method = "nearest"``): treated units
are taken in the matching order and each takes the closest available control; a
caliper refuses controls further away than its width. Tie rule (documented and
deterministic): among equally close controls the one that comes first in the data
wins - what MatchIt's distance-matrix matcher does without replacement (``which_min``).
With replacement MatchIt takes a unit's ``ratio`` closest controls at once through
C++'s ``std::partial_sort``, which is not stable: among equally close controls it keeps
whichever its heap leaves (so it depends on the C++ library MatchIt was built with).
reval keeps the earliest row there too; tests/test_matching_reference_r.py shows a
constructed tie and that this is the only difference on lalonde.

Every unit is sorted by (distance, row), so the closest available control is the
nearest free position to the left or to the right; equal distances form runs in
row order, so the first free position of a run is the earliest row. Instead of walking past used controls one by one, used positions are skipped
with "next free to the left/right" pointers (union-find with path halving), so
each treated unit costs near-constant time after one sort.
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np


class _FreeList:
    """Nearest available control position to the left or right of a sorted position.

    Each position points towards a free control: itself when it is one, else the
    next candidate in its direction. Taking a control re-points it at its
    neighbour; lookups halve the paths they walk, so they stay near constant.
    """

    def __init__(self, is_control: np.ndarray) -> None:
        n = is_control.shape[0]
        controls = np.flatnonzero(is_control)
        here = np.arange(n)
        after = np.searchsorted(controls, here, side="left")
        right = (
            np.where(
                after < controls.shape[0], controls[np.minimum(after, max(len(controls) - 1, 0))], n
            )
            if len(controls)
            else np.full(n, n)
        )
        before = np.searchsorted(controls, here, side="right") - 1
        left = (
            np.where(before >= 0, controls[np.maximum(before, 0)], -1)
            if len(controls)
            else np.full(n, -1)
        )
        self._right = [*right.tolist(), n]
        self._left = left.tolist()

    def right_of(self, i: int) -> int:
        """Smallest free control position >= i, or n."""
        parent = self._right
        while parent[i] != i:
            nxt = parent[i]
            parent[i] = parent[nxt]
            i = nxt
        return i

    def left_of(self, i: int) -> int:
        """Largest free control position <= i, or -1."""
        parent = self._left
        while i >= 0 and parent[i] != i:
            nxt = parent[i]
            if nxt >= 0:
                parent[i] = parent[nxt]
            i = nxt
        return i

    def take(self, i: int) -> None:
        self._right[i] = i + 1
        self._left[i] = i - 1


def greedy_match(
    distance: np.ndarray,
    treated: np.ndarray,
    order: np.ndarray,
    *,
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    eligible: np.ndarray | None = None,
) -> np.ndarray:
    """Matched control rows for each treated unit.

    ``distance`` and ``treated`` are per row; ``order`` lists treated rows in the order
    they choose; ``eligible`` marks rows not discarded. Returns an array (n_treated_in_order,
    ratio) of row numbers, -1 where no control was found.
    """
    n = distance.shape[0]
    eligible = np.ones(n, dtype=bool) if eligible is None else eligible
    if not replace:
        return _without_replacement(distance, treated, order, ratio, caliper, eligible)
    sort = np.argsort(distance, kind="stable")
    position = np.empty(n, dtype=np.int64)
    position[sort] = np.arange(n)
    sorted_values = distance[sort]
    sorted_distance = sorted_values.tolist()
    run_start = np.searchsorted(sorted_values, sorted_values, side="left").tolist()
    is_control = (~treated[sort]) & eligible[sort]
    free = _FreeList(is_control)
    out = np.full((order.shape[0], ratio), -1, dtype=np.int64)
    limit = np.inf if caliper is None else caliper
    for round_ in range(ratio):
        for slot, row in enumerate(order.tolist()):
            if not eligible[row]:
                continue
            here = int(position[row])
            d = sorted_distance[here]
            # with replacement a control may serve many treated units, but not one twice
            taken = set(out[slot, :round_].tolist()) - {-1} if replace else set()
            left = _nearest_left(free, here - 1, taken, sort, replace, is_control)
            right = _nearest_right(free, here + 1, n, taken, sort, replace, is_control)
            if left >= 0 and not replace:
                # earliest row among the free controls sharing the left candidate's distance
                left = free.right_of(run_start[left])
            elif left >= 0:
                left = _earliest_in_run(free, run_start[left], left, taken, sort, n)
            gap_left = d - sorted_distance[left] if left >= 0 else np.inf
            gap_right = sorted_distance[right] - d if right < n else np.inf
            if gap_left > limit:
                gap_left = np.inf
            if gap_right > limit:
                gap_right = np.inf
            if gap_left == np.inf and gap_right == np.inf:
                continue
            if gap_left < gap_right:
                chosen = left
            elif gap_right < gap_left:
                chosen = right
            else:  # equally close on both sides: the earlier row
                chosen = left if sort[left] < sort[right] else right
            out[slot, round_] = sort[chosen]
            if not replace:
                free.take(chosen)
    return out


def _earliest_in_run(free: _FreeList, start: int, found: int, taken: set[int],
                     sort: np.ndarray, n: int) -> int:  # fmt: skip
    """First position from ``start`` that is free and not already this unit's match."""
    k = free.right_of(start)
    while k < found and int(sort[k]) in taken:
        k = free.right_of(k + 1)
    return k


def _nearest_left(free: _FreeList, start: int, taken: set[int], sort: np.ndarray,
                  replace: bool, is_control: np.ndarray) -> int:  # fmt: skip
    k = free.left_of(start) if start >= 0 else -1
    while replace and k >= 0 and int(sort[k]) in taken:
        k = free.left_of(k - 1) if k - 1 >= 0 else -1
    return k


def _nearest_right(free: _FreeList, start: int, n: int, taken: set[int], sort: np.ndarray,
                   replace: bool, is_control: np.ndarray) -> int:  # fmt: skip
    k = free.right_of(start) if start <= n else n
    while replace and k < n and int(sort[k]) in taken:
        k = free.right_of(k + 1)
    return k


def _without_replacement(distance: np.ndarray, treated: np.ndarray, order: np.ndarray,
                         ratio: int, caliper: float | None, eligible: np.ndarray) -> np.ndarray:  # fmt: skip
    """The greedy matcher without replacement, built for millions of rows.

    Only the controls are sorted (by distance, then row); a treated unit's place among
    them comes from one vectorised binary search, and the "next free" pointers live in
    dicts holding only the controls already taken, so nothing of the size of the data is
    turned into Python objects. Same choices as the general path: the closest free
    control, the earliest row among equally close ones.
    """
    controls = np.flatnonzero(~treated & eligible)
    controls = controls[np.argsort(distance[controls], kind="stable")]
    sorted_distance = distance[controls]
    m = controls.shape[0]
    values = memoryview(sorted_distance)  # items are Python floats, without copying
    rows = memoryview(controls)
    chooses = eligible[order]
    own = distance[order]
    first_at_or_above = np.searchsorted(sorted_distance, own, side="left")
    limit = np.inf if caliper is None else caliper
    right: dict[int, int] = {}  # taken position -> a position further right to look at
    left: dict[int, int] = {}  # taken position -> a position further left to look at
    out = np.full((order.shape[0], ratio), -1, dtype=np.int64)
    for round_ in range(ratio):
        found = out[:, round_].tolist()
        for slot, (d, start, active) in enumerate(
            zip(own.tolist(), first_at_or_above.tolist(), chooses.tolist(), strict=True)
        ):
            if not active:
                continue
            # nearest free position at or right of start (union-find with path halving)
            r = start
            while r in right:
                nxt = right[r]
                if nxt in right:
                    nxt = right[r] = right[nxt]
                r = nxt
            lo = start - 1
            while lo in left:
                nxt = left[lo]
                if nxt in left:
                    nxt = left[lo] = left[nxt]
                lo = nxt
            gap_right = values[r] - d if r < m else np.inf
            if lo >= 0:
                v = values[lo]
                if lo > 0 and values[lo - 1] == v:
                    # a run of equal distances: its earliest free row (first free position)
                    lo = bisect_left(values, v, 0, lo)
                    while lo in right:
                        nxt = right[lo]
                        if nxt in right:
                            nxt = right[lo] = right[nxt]
                        lo = nxt
                gap_left = d - v
            else:
                gap_left = np.inf
            if gap_left > limit:
                gap_left = np.inf
            if gap_right > limit:
                gap_right = np.inf
            if gap_left < gap_right:
                chosen = lo
            elif gap_right < gap_left:
                chosen = r
            elif gap_left == np.inf:
                continue
            else:  # equally close on both sides: the earlier row
                chosen = lo if rows[lo] < rows[r] else r
            found[slot] = rows[chosen]
            right[chosen] = chosen + 1
            left[chosen] = chosen - 1
        out[:, round_] = found
    return out
