"""vitcore: the engine behind ViT Classroom.

Datasets, a Vision Transformer with three interchangeable attention
implementations, CNN baselines, a training engine, evaluation and attention
explanations. Nothing in this package imports Streamlit.
"""

__version__ = "0.1.0"
