"""Moved to :mod:`npae.kernels.fast` (its routes beside :mod:`npae.kernels.reference`)."""

from npae.kernels.fast.layout import (
    Workspace,
    channels_last,
    empty_image,
    from_pixel_rows,
    is_channels_last,
    pad_nhwc,
    pixel_rows,
    sum_rows,
    window_view,
)
from npae.kernels.fast.patches import SHALLOW, col2im, col2im_of_product, im2col
from npae.kernels.fast.routes import (
    conv2d_forward_gather,
    conv2d_forward_scatter,
    conv2d_input_grad,
    conv2d_weight_grad,
    conv2d_weight_grad_from_dy,
    dy_patches,
    forward_route,
    input_grad_from_dy,
    input_grad_route,
)
from npae.kernels.reference import conv_output_size, conv_transpose_output_size

#: The old name of :func:`npae.kernels.fast.routes.conv2d_forward_gather` (same signature).
conv2d_forward = conv2d_forward_gather

__all__ = ["Workspace", "conv_output_size", "conv_transpose_output_size", "window_view",
           "pad_nhwc", "pixel_rows", "sum_rows", "channels_last", "is_channels_last", "empty_image",
           "from_pixel_rows", "im2col", "col2im", "conv2d_forward", "conv2d_forward_gather",
           "conv2d_weight_grad", "conv2d_input_grad", "input_grad_route",
           "col2im_of_product", "forward_route", "conv2d_forward_scatter", "dy_patches",
           "conv2d_weight_grad_from_dy", "input_grad_from_dy", "SHALLOW"]
