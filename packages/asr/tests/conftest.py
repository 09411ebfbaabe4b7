"""Test settings: one torch thread (toy-sized ops are slower with more on a shared 2-core machine)."""

import torch

torch.set_num_threads(1)
