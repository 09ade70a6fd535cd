"""The checks of notebook 07's exercises accept a correct answer and explain a wrong one or a missing one."""
from __future__ import annotations

import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT

from course_lib.exercises import nb07

from exercise_checks import case_tests


def mfcc_with_deltas() -> torch.Tensor:
    mfccs = torch.randn(4, 13, 20, generator=torch.Generator().manual_seed(0))
    deltas = AT.ComputeDeltas()(mfccs)
    return torch.cat([mfccs, deltas, AT.ComputeDeltas()(deltas)], dim=1)


CHANGE = {"gain": (10.5, 0.0), "microphone": (6.5, 0.4), "noise": (8.6, 6.8)}
CASES = {
    1: ((AF.melscale_fbanks(101, 0.0, 4000.0, 40, 8000),),
        (AF.melscale_fbanks(101, 0.0, 4000.0, 40, 8000).T,)),
    2: ((mfcc_with_deltas(), 0.7),
        (torch.cat([mfcc_with_deltas()[:, :13]] * 3, dim=1), 0.7)),
    3: ((22, 0.6, {8: 0.6, 64: 0.7}),
        (24, 0.6, {8: 0.6, 64: 0.7})),
    4: (({"log-mel": 0.7, "MFCC": 0.7}, CHANGE),
        ({"log-mel": 0.7, "MFCC": 0.7}, {**CHANGE, "noise": (8.6, 0.5)})),
}


(test_check_passes_a_correct_answer, test_check_explains_a_wrong_answer,
 test_check_says_no_answer_yet_to_none, test_strict_mode_raises_on_a_wrong_answer) = case_tests(nb07, CASES)


def test_exercise_3_reference_counts_the_empty_filters():
    assert nb07.max_empty_free_mels(64) == 22
    assert nb07.max_empty_free_mels(200) >= 40


def test_exercise_3_rejects_a_wrong_skipped_fraction(capsys):
    assert not nb07.exercise_3(22, 0.0, {8: 0.6, 64: 0.7})
    assert "skipped_fraction" in capsys.readouterr().out
