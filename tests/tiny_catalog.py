"""TFDS's own catalog builders (`mnist`, `cifar10`) fed tiny local arrays: a real prepared
catalog data set for the loader to find, without TensorFlow or network."""

import io

import numpy as np
from PIL import Image
from tensorflow_datasets.image_classification import cifar as tfds_cifar
from tensorflow_datasets.image_classification import mnist as tfds_mnist


def _png(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG')
  return buffer.getvalue()


class _TinyCatalog:
  """Mixin for TFDS's own builders (same name, features, PNG encoding), fed
  tiny local arrays: prepares a real catalog data set without TensorFlow or
  network. Pixel (0, 0, 0) of example i holds i, so a test can tell which
  example it got."""

  code_path = None  # See builders._ArrayBuilder.
  NUM = {'train': 120, 'test': 20}
  SHAPE = (28, 28, 1)

  @classmethod
  def arrays(cls, split):
    rng = np.random.default_rng(0 if split == 'train' else 1)
    images = rng.integers(0, 256, (cls.NUM[split], *cls.SHAPE), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(cls.NUM[split])
    return images, (np.arange(cls.NUM[split]) * 7) % 10

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(split) for split in self.NUM}

  def _generate_examples(self, split):
    images, labels = self.arrays(split)
    for i, (image, label) in enumerate(zip(images, labels)):
      example = {
        'image': _png(image.squeeze(-1) if image.shape[-1] == 1 else image),
        'label': int(label),
      }
      if 'id' in self.info.features:
        example['id'] = f'{split}_{i:05d}'
      yield i, example


class TinyMnist(_TinyCatalog, tfds_mnist.MNIST, skip_registration=True):
  name = 'mnist'


class TinyCifar10(_TinyCatalog, tfds_cifar.Cifar10, skip_registration=True):
  name = 'cifar10'
  NUM = {'train': 15, 'test': 4}
  SHAPE = (32, 32, 3)
