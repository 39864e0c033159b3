"""The paper's data sets as whole uint8 numpy splits, prepared with TFDS.

from gan_jax import data
train = data.load_split('mnist', 'train')  # train.images: uint8 [50000, 28, 28, 1]
"""

from gan_jax.data.loader import (
  DATASETS,
  SPLITS,
  Split,
  class_mix,
  image_shape,
  load_split,
  num_classes,
  pixel_means,
)
