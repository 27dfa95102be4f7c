r"""PCA, truncated SVD, principal angles, and the linear autoencoder compared with both.

The maths is in :mod:`npae.linear.decompositions` (:class:`PCA`,
:func:`svd_reconstruction`, :func:`principal_angles`), the experiment that trains linear
autoencoders and sets them beside it in :mod:`npae.linear.comparison` (:func:`compare`,
the table the ``npae compare-pca`` command prints); both are importable from here.
"""

from npae.linear.comparison import Comparison, compare
from npae.linear.decompositions import PCA, principal_angles, svd_reconstruction

__all__ = ["PCA", "svd_reconstruction", "principal_angles", "compare", "Comparison"]
