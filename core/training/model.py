"""The own emotion CNN: a compact VGG-style network with BatchNorm for 48x48 gray faces.

Four blocks of two 3x3 convolutions (conv -> BN -> ReLU), each followed by 2x2 max-pooling (optional spatial dropout)
is the design of Khaireddin & Chen (2021, 73.3% on FER-2013) scaled down for CPU training: the default widths
(32, 64, 128, 256) and a global-average-pooling head give about 1.2 M parameters instead of 9.9 M.

Input: float32 (B, 48, 48, 1) in [0, 1]. Output: 7 softmax probabilities in :data:`core.types.EMOTIONS` order
(float32 even under a mixed-precision policy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.training.data import IMAGE_SIZE, NUM_CLASSES


@dataclass(frozen=True)
class ModelConfig:
    filters: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_block: int = 2
    dense: int = 256
    dropout: float = 0.3          # before the classifier
    block_dropout: float = 0.0    # spatial dropout after each pooled block (0 = off: short CPU runs underfit)
    head: str = "gap"             # "gap" (global average pooling) or "flatten"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["filters"] = list(self.filters)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        d["filters"] = tuple(d.get("filters", cls.filters))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def build_model(config: ModelConfig = ModelConfig(), name: str = "emotion_own"):
    import keras
    from keras import layers

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = inputs
    for b, width in enumerate(config.filters):
        for c in range(config.convs_per_block):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                              name=f"b{b}_conv{c}")(x)
            x = layers.BatchNormalization(name=f"b{b}_bn{c}")(x)
            x = layers.ReLU(name=f"b{b}_relu{c}")(x)
        x = layers.MaxPooling2D(2, name=f"b{b}_pool")(x)
        if config.block_dropout:
            x = layers.SpatialDropout2D(config.block_dropout, name=f"b{b}_drop")(x)
    if config.head == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    if config.dense:
        x = layers.Dense(config.dense, use_bias=False, kernel_initializer="he_normal", name="fc")(x)
        x = layers.BatchNormalization(name="fc_bn")(x)
        x = layers.ReLU(name="fc_relu")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name="fc_drop")(x)
    x = layers.Dense(NUM_CLASSES, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)
