"""The Faithfulness page ranks only differences larger than their standard errors (issue 33.4)."""

from __future__ import annotations

import pytest
from app_support import run_app

from viz_app.faithfulness_data import NOISE_FLOOR, all_alike, clearly_better


def test_a_difference_counts_only_beyond_the_standard_errors():
    one = {"mean": 1.0, "sem": None}
    assert not clearly_better("insertion_auc", {"mean": 1.0 + NOISE_FLOOR / 2, "sem": None}, one)
    assert clearly_better("insertion_auc", {"mean": 1.0 + 2 * NOISE_FLOOR, "sem": None}, one)
    assert clearly_better("deletion_auc", {"mean": 0.5, "sem": None}, one)  # lower is better
    assert not clearly_better("deletion_auc", {"mean": 1.5, "sem": None}, one)
    a, b = {"mean": 0.60, "sem": 0.05}, {"mean": 0.55, "sem": 0.05}  # 0.05 apart, sqrt(2) * 0.05 = 0.071 noise
    assert not clearly_better("insertion_auc", a, b) and all_alike([a, b])
    assert clearly_better("insertion_auc", {"mean": 0.8, "sem": 0.05}, b)
    assert all_alike([one, {"mean": 1.0, "sem": None}, {"mean": 1.001, "sem": None}])


@pytest.mark.slow
def test_the_page_names_no_winner_where_the_table_shows_no_difference():
    """Every method's pixel deletion and insertion AUC on the sample scene (what the table shows) decides what the
    verdict may say: a method within NOISE_FLOOR of a baseline is not named for that measure."""
    at = run_app(page="faithfulness", sample="pair_ring_star.png", methods="gradcam,rollout,random,centre")
    table = at.table[0].value  # measures as rows, methods as columns
    assert list(table.columns) == ["Grad-CAM", "Attention rollout", "Random", "Centre prior"] or len(table.columns) == 4
    verdict = next(c.value for c in at.caption if "better than both baselines" in c.value)
    parts = dict(p.split(": ", 1) for p in verdict.split(" — ", 1)[1].rstrip(".").split(". ")[0].split("; "))
    for row in table.index:
        measure = row.rsplit(" ", 1)[0]
        values = table.loc[row]
        baselines = values.iloc[2:]
        for method in table.columns[:2]:
            close = any(abs(values[method] - b) <= NOISE_FLOOR for b in baselines)
            if close:
                assert method not in parts[measure], (measure, dict(values), parts[measure])
        if all(abs(values.iloc[i] - values.iloc[j]) <= NOISE_FLOOR for i in range(4) for j in range(4)):
            assert parts[measure] == "no difference", (measure, parts[measure])
