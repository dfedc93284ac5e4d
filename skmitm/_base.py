"""What every image-taking transformer of skmitm shares."""

from sklearn.base import TransformerMixin

__all__ = ["ImageTransformerMixin"]


class ImageTransformerMixin(TransformerMixin):
    """Transformer mixin for steps whose input is images or hypothesis sets, not a feature matrix.

    Its tags tell scikit-learn the truth about the input (a list of images,
    file paths or :class:`~skmitm.HypothesisSet`), so its common checks do
    not feed these steps numeric matrices.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags
