"""The shared helpers of fastdrive.pruning.base."""

import pytest
import torch

from fastdrive.pruning import Selection, keep_from_ratio, pad_rows, resolve_keep, topk_sorted


@pytest.mark.parametrize("n,p", [(3249, 0.25), (3249, 0.5), (3249, 0.75), (100, 0.25), (7, 0.5), (144, 0.75)])
def test_resolve_keep_presets_floor(n, p):
    expected = (n * int(round((1 - p) * 100))) // 100
    assert resolve_keep(keep_from_ratio(p), n) == expected


def test_resolve_keep_ints_and_errors():
    assert resolve_keep(10, 5) == 5
    assert resolve_keep(3, 5) == 3
    assert resolve_keep(1.0, 9) == 9
    for bad in (0, -1, 0.0, 1.5, True):
        with pytest.raises(ValueError):
            resolve_keep(bad, 10)


def test_topk_sorted_returns_top_in_ascending_order():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
    idx = topk_sorted(scores, 2)
    assert idx.tolist() == [[1, 3], [0, 1]]


def test_pad_rows_and_selection_counts():
    idx, counts = pad_rows([torch.tensor([1, 4, 6]), torch.tensor([2])])
    assert idx.tolist() == [[1, 4, 6], [2, -1, -1]]
    sel = Selection(indices=idx, counts=counts)
    assert sel.row(1).tolist() == [2]
    full = Selection(indices=torch.zeros(2, 5, dtype=torch.long))
    assert full.counts.tolist() == [5, 5]
