"""Per-run maxima taken by numpy are those of Python's max over each run's items."""

import numpy as np

from results.per_run import first_largest, most, owners


def test_most_and_first_largest_match_python_per_run():
    runs = [[3, None, 7, 7], [], [None, None], [-2**62, 5], [9]]
    owner = owners([len(r) for r in runs])
    values = [v for r in runs for v in r]
    expected = [max((v for v in r if v is not None), default=None) for r in runs]
    assert most(owner, values, len(runs)).to_pylist() == expected
    first = first_largest(owner, values, len(runs))
    starts = np.cumsum([0, *map(len, runs)])[:-1]
    assert [i - s if i >= 0 else None for i, s in zip(first.tolist(), starts, strict=True)] \
        == [2, None, None, 1, 0]  # the first of two equal largest
    keep = np.array([True, True, False, False, True, True, True, True, False])
    assert most(owner, values, len(runs), keep).to_pylist() == [3, None, None, 5, None]
