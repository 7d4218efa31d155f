"""The demo's plots: learning curves with the text-only line (unit layer)."""

from __future__ import annotations

from jarvl.cli.plots import plot_curves


def test_curves_draw_the_text_only_line_when_given(tmp_path):
    curves = {
        "jar": [{"elapsed_s": 60.0, "accuracy": 0.5}, {"elapsed_s": 120.0, "accuracy": 0.7}],
        "concat": [{"elapsed_s": 90.0, "accuracy": 0.45}],
    }
    plain = plot_curves(curves, tmp_path / "plain.png")
    lined = plot_curves(curves, tmp_path / "lined.png", baseline=("text-only", 0.4))
    assert plain.stat().st_size > 0 and lined.stat().st_size > 0
    assert plain.read_bytes() != lined.read_bytes()  # the line and its legend entry are drawn
