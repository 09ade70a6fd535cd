"""The checks of notebook 08's exercises accept a correct answer and explain a wrong one or a missing one."""
from __future__ import annotations

import torch

from course_lib.exercises import nb08
from course_lib.models import count_parameters
from course_lib.models.video import R2Plus1dClassifier

from exercise_checks import case_tests

LABELS = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 0, 1])
PROBS = torch.full((10, 8), 0.02).index_put_((torch.arange(10), torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 1, 1])),
                                               torch.tensor(0.86))
R3D_PARAMETERS = count_parameters(R2Plus1dClassifier(8, widths=(8, 16), conv="3d"))
ROW = {"input": "frames", "model": "R3D", "parameters": R3D_PARAMETERS, "accuracy": 0.9, "seconds": 100.0}
SHUFFLED = {"per-frame CNN + mean": (0.526, 0.526), "per-frame CNN + temporal conv": (0.996, 0.3),
            "R(2+1)D": (0.954, 0.4)}
ERRORS = {"defaults": 0.21, "winsize=5": 0.3, "winsize=25": 0.25, "levels=1": 0.22}
CASES = {
    1: ((0.53, {"forwards": 0.385, "backwards": 0.345, "same": 1.0}),
        (0.53, {"forwards": 0.9, "backwards": 0.9, "same": 0.1})),
    2: ((SHUFFLED,), ({**SHUFFLED, "per-frame CNN + mean": (0.526, 0.2)},)),
    3: ((ROW,), ({**ROW, "parameters": R3D_PARAMETERS - 1454},)),
    4: ((ERRORS,), ({name: 0.21 for name in ERRORS},)),
    5: ((PROBS, 0.9, LABELS), (PROBS * 3, 0.9, LABELS)),
}


(test_check_passes_a_correct_answer, test_check_explains_a_wrong_answer,
 test_check_says_no_answer_yet_to_none, test_strict_mode_raises_on_a_wrong_answer) = case_tests(nb08, CASES)


def test_exercise_5_recomputes_the_accuracy(capsys):
    assert not nb08.exercise_5(PROBS, 0.5, LABELS)
    assert "0.9000" in capsys.readouterr().out
