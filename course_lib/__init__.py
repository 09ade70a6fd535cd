"""course_lib: the tested helper library of the Multimodal Fusion Deep Learning course."""

__version__ = "0.1.0"
