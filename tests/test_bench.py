"""core.bench checks a recurrent trace against a float64 step loop, not against the fused kernel it shares."""
import pytest
import torch
from torch import nn

import core
from core import bench, recurrent

pytestmark = pytest.mark.usefixtures("one_intra_op_thread")


@pytest.mark.parametrize("cls,kw", [(nn.LSTM, {}), (nn.GRU, {}), (nn.RNN, {"nonlinearity": "relu"}),
                                    (nn.LSTM, {"bias": False})], ids=["lstm", "gru", "rnn-relu", "lstm-nobias"])
def test_reference_equals_the_trace_in_float64(cls, kw):
    torch.manual_seed(0)
    module = cls(5, 6, 2, bidirectional=True, **kw).double()
    x = torch.randn(11, 5, dtype=torch.float64)
    reference = bench.reference_values(module, x)
    trace = core.instrument(module).trace(x)
    assert set(reference) == set(trace) - {"embedding"}  # every value the trace computes is checked
    error, _ = bench.trace_error(trace, reference)
    assert error < 1e-12


def test_a_wrong_cell_state_is_caught(monkeypatch):
    """The deliberately wrong variant: a cell state 0.1% off. The output still equals the module's (both come
    from the fused kernel), which is all the old check compared; the float64 reference sees the cell."""
    torch.manual_seed(1)
    module = nn.LSTM(5, 6, 2)
    x = torch.randn(20, 5)
    real = recurrent.lstm_cell_values

    def off_cell(*args, **kw):
        values = real(*args, **kw)
        return {**values, "cell": values["cell"] * 1.001}

    monkeypatch.setitem(recurrent._CELL, "LSTM", off_cell)
    with torch.no_grad():
        trace = core.instrument(module).trace(x)
        assert torch.equal(trace["output"], module(x)[0])
    error, worst = bench.trace_error(trace, bench.reference_values(module, x))
    assert error > 1e-4 and worst.endswith(".cell")
