"""The small public API: ``from eiesim import simulate`` is the function, whatever was imported first."""

from eiesim import ArchConfig, simulate
import eiesim.simulation  # noqa: F401  (importing the module first must not shadow the function)


def test_simulate_is_the_function_after_the_module_was_imported():
    from compressor import compress_layer
    import numpy as np

    config = ArchConfig(n_pe=2)
    layer = compress_layer(np.array([[1.0, 0.0], [0.0, 2.0]]), config)
    assert callable(simulate)
    assert simulate(layer, np.array([1.0, 1.0]), config).cycles > 0
