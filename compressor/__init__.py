"""The Deep Compression front-end: prune, share weights, Huffman-code, encode for EIE.

It depends only on :mod:`eiecore` (errors and the :class:`~eiecore.encoding.Encoding` it
encodes for), never on the simulator; the model file that stores encoded layers with an
architecture config is :mod:`eiesim.modelfile`.
"""

from compressor.csc import EncodedLayer, compress_layer, interleave
from compressor.huffman import HuffmanCode
from compressor.prune import apply_mask_to_torch, magnitude_mask, mask_from_torch, prune, structured_mask
from compressor.quantize import SharedWeights, share_weights
from compressor.report import StorageReport, storage_report

__all__ = [
    "EncodedLayer", "HuffmanCode", "SharedWeights", "StorageReport",
    "apply_mask_to_torch", "compress_layer", "interleave", "magnitude_mask",
    "mask_from_torch", "prune", "share_weights", "storage_report", "structured_mask",
]
