import numpy as np
import pytest
import torch

from course_lib.viz import plot_confusion_matrix, plot_history, show_images


def test_plot_history_puts_losses_and_scores_in_two_panels():
    history = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "val_score": [0.4, 0.8]}
    fig = plot_history(history)
    loss_ax, score_ax = fig.axes
    assert len(loss_ax.lines) == 2 and len(score_ax.lines) == 1
    np.testing.assert_allclose(score_ax.lines[0].get_ydata(), [0.4, 0.8])
    with pytest.raises(KeyError, match="val_acc"):
        plot_history(history, keys=["val_acc"])


def test_plot_confusion_matrix_normalizes_rows():
    ax = plot_confusion_matrix(torch.tensor([[3, 1], [0, 4]]), class_names=["a", "b"])
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.75, 0.25], [0.0, 1.0]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class_names"):
        plot_confusion_matrix(np.eye(2), class_names=["only one"])


@pytest.mark.parametrize("shape", [(5, 28, 28), (5, 1, 28, 28), (5, 3, 16, 16), (5, 16, 16, 3)])
def test_show_images_accepts_common_layouts(shape):
    fig = show_images(torch.rand(shape), titles=[str(i) for i in range(5)], ncols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5
    assert shown[0].get_title() == "0"


def test_show_images_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        show_images(np.zeros((2, 5, 8, 8)))
