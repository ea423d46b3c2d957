"""AttentionCenterHead: backbone feature pyramid -> weighting map."""

from __future__ import annotations

import keras
from keras import layers, ops

UPSAMPLING_MODES = ("bilinear", "transpose")
AGGREGATIONS = ("add", "concat")


@keras.saving.register_keras_serializable(package="attention_center")
class AttentionCenterHead(keras.layers.Layer):
    """Fuses feature maps at several strides into one weighting map in [0, 1].

    For each tapped feature map: a 1x1 convolution to ``width`` channels
    (+ batch norm + ReLU), then brought to the resolution of the finest tap by
    ``Conv2DTranspose`` (``upsampling="transpose"``, learned, cropped to size)
    or bilinear resizing (``"bilinear"``). A transposed convolution upsamples tap ``k``
    by ``strides[k] / strides[0]`` (kernel ``2 x factor``): the factors, hence the weights'
    shapes, come from the pyramid levels, not from the input size, so one set of weights
    serves every input size. Its output (``factor x`` the tap's size, at least the finest
    tap's size for a pyramid whose maps are ``ceil(size / stride)``) is cropped to the finest
    tap's size, keeping the top-left cells, which cover the same frame pixels. The taps are
    aggregated (sum or concatenation), passed through ``num_convs`` 3x3 convolutions (+ BN +
    ReLU), and a 1x1 convolution and a sigmoid give the weighting map.

    With ``priors=K > 0`` the head also has a view of the whole image and a learned prior of
    where people start (the saliency literature's learned Gaussian priors, as in SAM, Cornia et
    al. 2018, made image-dependent): ``K`` Gaussian maps over the frame whose centres and
    widths are trained (:meth:`prior_maps`), and a global descriptor of the image (the mean of
    the coarsest tap, ``float [B, c]``) that a dense layer turns into one weight per prior and
    image. Their weighted sum is added to the logits before the sigmoid, so the model can learn
    "a web page: top left; a photo: the object". The dense layer starts at zero: a head with
    priors starts as the same function as one without (a warm start keeps its behaviour).

    ``temperature`` multiplies the logits before the sigmoid (temperature scaling, as for
    classifiers' confidences, Guo et al. 2017): above 1 the map is sharper, and its gravity
    centre is pulled less towards the middle of the frame by the map's low background. It is
    not trained: :func:`attention_center.evaluation.temperature.fit_temperature` chooses it on
    a validation split after training (``attention-center calibrate``). At 1 (the default)
    the graph has no extra op.

    All ops lower to TFLite builtins (CONV_2D, TRANSPOSE_CONV, RESIZE_BILINEAR,
    ADD, CONCATENATION, STRIDED_SLICE, LOGISTIC; with priors MEAN, FULLY_CONNECTED, MUL, SUM
    and a constant-folded prior tensor at a fixed input size) and quantize to int8.

    Args:
      width: channels of each tap's projection and of the fused map.
      num_convs: 3x3 convolutions after aggregation.
      upsampling: ``"bilinear"`` or ``"transpose"``.
      aggregation: ``"add"`` or ``"concat"``.
      dropout: spatial dropout rate after aggregation (training only).
      priors: number of learned Gaussian priors weighted per image (0: none).
      temperature: factor on the logits before the sigmoid (> 0; 1: none).
      strides: the stride of each tap relative to the input, finest first (e.g. ``(4, 8, 16)``
        for P2-P4; :class:`~attention_center.AttentionCenterModel` passes its levels'); each
        must be a whole multiple of the first. Only their ratios are used, by
        ``upsampling="transpose"``. ``None``: consecutive levels, ``(1, 2, 4, ...)``.

    Input: a list of ``[B, h_k, w_k, c_k]`` maps, finest first, of the layer's compute dtype
      (float32, or float16 / bfloat16 under a mixed policy): tap ``k`` at stride
      ``strides[k]``, about ``strides[0] / strides[k]`` of the first's size.
    Output: ``float32 [B, h_0, w_0, 1]`` under every dtype policy (the logits, priors,
      temperature and sigmoid run in float32), the weighting map at the finest tap's
      resolution, values in (0, 1).
    """

    def __init__(
        self,
        width=64,
        num_convs=1,
        upsampling="bilinear",
        aggregation="add",
        dropout=0.0,
        priors=0,
        temperature=1.0,
        strides=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if upsampling not in UPSAMPLING_MODES:
            raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, got {upsampling!r}")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        self.width = int(width)
        self.num_convs = int(num_convs)
        if self.num_convs < 0:
            raise ValueError(f"num_convs (a model's head_convs) must be >= 0, got {num_convs}")
        self.upsampling = upsampling
        self.aggregation = aggregation
        self.dropout = float(dropout)
        self.priors = int(priors)
        if self.priors < 0:
            raise ValueError(f"priors must be >= 0, got {priors}")
        self.temperature = float(temperature)
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.strides = tuple(int(v) for v in strides) if strides is not None else None
        if self.strides is not None and (
            not self.strides
            or self.strides[0] < 1
            or any(v < self.strides[0] or v % self.strides[0] for v in self.strides)
        ):
            raise ValueError(
                "strides must be whole multiples of the first (finest) tap's, finest first, "
                f"got {strides}"
            )

    def upsampling_factors(self, count: int) -> list[int]:
        """Each of ``count`` taps' size factor to the finest tap: ``strides[k] / strides[0]``
        (``2**k`` when ``strides`` is ``None``)."""
        if self.strides is None:
            return [2**index for index in range(count)]
        if len(self.strides) != count:
            raise ValueError(
                f"AttentionCenterHead has {len(self.strides)} strides {self.strides} "
                f"for {count} feature maps"
            )
        return [stride // self.strides[0] for stride in self.strides]

    def build(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or not input_shape
            or not isinstance(input_shape[0], (list, tuple))
        ):
            raise ValueError("AttentionCenterHead expects a list of feature maps, finest first")
        base_h, base_w = input_shape[0][1], input_shape[0][2]
        factors = self.upsampling_factors(len(input_shape))
        self.projections, self.upsamplers = [], []
        for index, (shape, factor) in enumerate(zip(input_shape, factors)):
            projection = [
                layers.Conv2D(self.width, 1, use_bias=False, name=f"tap{index}_conv"),
                layers.BatchNormalization(name=f"tap{index}_bn"),
                layers.ReLU(name=f"tap{index}_relu"),
            ]
            x_shape = tuple(shape[:-1]) + (shape[-1],)
            for layer in projection:
                layer.build(x_shape)
                x_shape = layer.compute_output_shape(x_shape)
            self.projections.append(projection)
            upsampler = None
            if self.upsampling == "transpose" and factor > 1:
                upsampler = layers.Conv2DTranspose(
                    self.width,
                    kernel_size=2 * factor,
                    strides=factor,
                    padding="same",
                    use_bias=False,
                    name=f"tap{index}_deconv",
                )
                upsampler.build(x_shape)
            self.upsamplers.append(upsampler)
        fused_channels = self.width * (len(input_shape) if self.aggregation == "concat" else 1)
        self.fusion = []
        shape = (None, base_h, base_w, fused_channels)
        for index in range(self.num_convs):
            for layer in (
                layers.Conv2D(
                    self.width, 3, padding="same", use_bias=False, name=f"fuse{index}_conv"
                ),
                layers.BatchNormalization(name=f"fuse{index}_bn"),
                layers.ReLU(name=f"fuse{index}_relu"),
            ):
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
                self.fusion.append(layer)
        self.spatial_dropout = layers.SpatialDropout2D(self.dropout) if self.dropout else None
        self.logits = layers.Conv2D(1, 1, name="logits")
        self.logits.build(shape)
        if self.priors:
            means, log_sigmas = initial_priors(self.priors)
            # (u, v): fractions of the finest tap's width and height (the frame), x first.
            self.prior_means = self.add_weight(
                shape=(self.priors, 2),
                initializer=keras.initializers.Constant(means),
                name="prior_means",
                autocast=False,  # kept float32 under a mixed policy (the maps are float32)
            )
            self.prior_log_sigmas = self.add_weight(
                shape=(self.priors, 2),
                initializer=keras.initializers.Constant(log_sigmas),
                name="prior_log_sigmas",
                autocast=False,
            )
            self.prior_weights = layers.Dense(
                self.priors, kernel_initializer="zeros", name="prior_weights"
            )
            self.prior_weights.build((None, input_shape[-1][-1]))
        super().build(input_shape)

    def _match_size(self, x, target_h, target_w, factor, upsampled):
        """Crops (after a transpose conv) or bilinearly resizes x to the target size."""
        shape = ops.shape(x)
        static = all(isinstance(v, int) for v in (shape[1], shape[2], target_h, target_w))
        if (static and shape[1] == target_h and shape[2] == target_w) or factor == 1:
            return x  # a tap at the finest stride: the target size
        if upsampled and (not static or (shape[1] >= target_h and shape[2] >= target_w)):
            # Sizes known only when it runs (a TF graph of None dims): the same crop, the
            # upsampled map is at least the target's (each level has ceil(size / stride) cells).
            return x[:, :target_h, :target_w, :]
        return ops.image.resize(x, (target_h, target_w), interpolation="bilinear")

    def call(self, features, training=None):
        target_h, target_w = ops.shape(features[0])[1], ops.shape(features[0])[2]
        branches = []
        factors = self.upsampling_factors(len(features))
        for feature, projection, upsampler, factor in zip(
            features, self.projections, self.upsamplers, factors
        ):
            x = feature
            for layer in projection:
                x = (
                    layer(x, training=training)
                    if isinstance(layer, layers.BatchNormalization)
                    else layer(x)
                )
            if upsampler is not None:
                x = upsampler(x)
            branches.append(self._match_size(x, target_h, target_w, factor, upsampler is not None))
        if self.aggregation == "add":
            x = branches[0]
            for branch in branches[1:]:
                x = x + branch
        else:
            x = ops.concatenate(branches, axis=-1)
        if self.spatial_dropout is not None:
            x = self.spatial_dropout(x, training=training)
        for layer in self.fusion:
            x = (
                layer(x, training=training)
                if isinstance(layer, layers.BatchNormalization)
                else layer(x)
            )
        x = self.logits(x)
        if self.priors:
            context = ops.mean(features[-1], axis=(1, 2))  # [B, c]: the whole image
            # The prior is summed in float32 whatever the policy: the dense layer gives its
            # compute dtype (float16 / bfloat16 under a mixed policy), the maps are float32.
            weights = ops.cast(self.prior_weights(context), "float32")  # [B, K]
            maps = self.prior_maps(target_h, target_w)  # float32 [h, w, K]
            prior = ops.sum(maps[None] * weights[:, None, None, :], axis=-1, keepdims=True)
            x = ops.cast(x, "float32") + prior
        x = ops.cast(x, "float32")
        if self.temperature != 1.0:
            x = x * self.temperature
        return ops.sigmoid(x)

    def prior_maps(self, height, width):
        """``float32 [height, width, K]``: the learned Gaussian priors on a ``height x width``
        grid of pixel centres (``u = (x + 0.5) / width``, ``v = (y + 0.5) / height``), each
        ``exp(-((u - mu_u)^2 / s_u^2 + (v - mu_v)^2 / s_v^2) / 2)`` (peak 1)."""
        u = (ops.cast(ops.arange(width), "float32") + 0.5) / ops.cast(width, "float32")
        v = (ops.cast(ops.arange(height), "float32") + 0.5) / ops.cast(height, "float32")
        means = ops.cast(self.prior_means, "float32")
        sigmas = ops.exp(ops.cast(self.prior_log_sigmas, "float32"))
        du = (u[:, None] - means[None, :, 0]) / sigmas[None, :, 0]  # [w, K]
        dv = (v[:, None] - means[None, :, 1]) / sigmas[None, :, 1]  # [h, K]
        return ops.exp(-0.5 * (dv[:, None, :] ** 2 + du[None, :, :] ** 2))

    def compute_output_shape(self, input_shape):
        first = input_shape[0]
        return (first[0], first[1], first[2], 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            width=self.width,
            num_convs=self.num_convs,
            upsampling=self.upsampling,
            aggregation=self.aggregation,
            dropout=self.dropout,
            priors=self.priors,
            temperature=self.temperature,
            strides=list(self.strides) if self.strides is not None else None,
        )
        return config


def initial_priors(count: int):
    """``(means [K, 2], log_sigmas [K, 2])``: ``K`` priors spread over the frame to start
    from, ``(u, v)`` fractions of its width and height (x first): the middle, then the
    corners and edge midpoints of the inner 3x3 grid at 1/6, 1/2, 5/6, then further points on a
    finer grid; widths a quarter of the frame."""
    grid = [(0.5, 0.5)] + [
        (u, v) for v in (1 / 6, 0.5, 5 / 6) for u in (1 / 6, 0.5, 5 / 6) if (u, v) != (0.5, 0.5)
    ]
    fine = [(u, v) for v in (0.1, 0.3, 0.7, 0.9) for u in (0.1, 0.3, 0.7, 0.9)]
    points = (grid + fine) * (count // (len(grid) + len(fine)) + 1)
    means = [list(p) for p in points[:count]]
    log_sigmas = [[-1.386, -1.386]] * count  # log(0.25)
    return means, log_sigmas
